"""Same-format streams are watched as bytes: the terminator and an error event are noticed
wherever the chunks split them, and text that merely mentions them is not mistaken."""

from __future__ import annotations

import pytest

from mitmllm.translators import hub
from mitmllm.translators.errors import ErrorInfo
from mitmllm.translators.formats import Format
from mitmllm.translators.sse import SSEEvent

ENDINGS: dict[str, tuple[bytes, bytes]] = {
    # format: (a stream that ends normally, one that ends with the provider's error event)
    "openai": (b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n',
               b'data: {"choices":[]}\n\ndata: {"error":{"message":"overloaded"}}\n\n'),
    "anthropic": (b'event: message_start\ndata: {}\n\nevent: message_stop\ndata: {}\n\n',
                  b'event: message_start\ndata: {}\n\nevent: error\n'
                  b'data: {"type":"error","error":{"type":"overloaded_error"}}\n\n'),
}


def watched(fmt: str, data: bytes, size: int) -> tuple[bool, str | None]:
    stream = hub.stream_translator(fmt, fmt, {}, model="m")  # type: ignore[arg-type]
    for i in range(0, len(data), size):
        stream.watch_bytes(data[i:i + size])
    return stream.closed, stream.failure


@pytest.mark.parametrize("fmt", sorted(ENDINGS))
@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_the_end_is_seen_however_the_chunks_fall(fmt: Format, size: int) -> None:
    normal, error = ENDINGS[fmt]
    assert watched(fmt, normal, size) == (True, None)
    assert watched(fmt, error, size) == (True, "the provider sent an error event")
    cut = normal[:normal.rindex(b"\n\n", 0, -2) + 2]  # cut before its terminator
    assert watched(fmt, cut, size) == (False, None)


def test_text_that_quotes_the_markers_is_no_ending() -> None:
    # A JSON string escapes its quotes and newlines: text cannot forge an ending.
    text = b'data: {"choices":[{"delta":{"content":"data: {\\"error\\" event: error"}}]}\n\n'
    assert watched("openai", text, 5) == (False, None)


def test_a_responses_event_nested_deeper_than_json_reads_is_only_counted() -> None:
    # Found by test_properties_streams.py: parse_object let json.loads' RecursionError out of
    # the passthrough's `feed`.
    stream = hub.stream_translator("responses", "responses", {}, model="m")
    deep = "[" * 100_000 + "]" * 100_000
    assert stream.feed(SSEEvent(deep, "response.created")) == []
    assert stream.fail(ErrorInfo(502, "cut"))[-2].json()["type"] == "response.failed"
