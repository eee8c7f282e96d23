"""StreamAdapter: the per-flow stream callable. Chunks in, chunks out, `b""` only at the end,
never an exception, an error event in the client's format when anything breaks."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.test import tflow, tutils

from mitmllm.addons.state import KEEP_BYTES
from mitmllm.addons.streaming import MAX_EVENT_BYTES, StreamAdapter
from mitmllm.translators import hub
from mitmllm.translators.errors import ErrorInfo
from mitmllm.translators.formats import Format
from mitmllm.translators.sse import SSEEvent

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
ANTHROPIC_SSE: bytes = json.loads(
    (VECTORS / "stream_20_anthropic_text_docs.json").read_text(encoding="utf-8")
)["anthropic_sse"].encode()
EXPECTED: dict[str, Any] = json.loads(
    (VECTORS / "stream_20_anthropic_text_docs.json").read_text(encoding="utf-8")
)["expected_accumulated"]


def frames(data: bytes) -> list[tuple[str | None, str]]:
    """(event, data) of every frame the client receives."""
    out = []
    for block in data.decode("utf-8").split("\n\n"):
        if not block.strip():
            continue
        event = None
        lines = []
        for line in block.split("\n"):
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: "):
                lines.append(line[len("data: "):])
        out.append((event, "\n".join(lines)))
    return out


def as_bytes(result: bytes | list[bytes]) -> bytes:
    return result if isinstance(result, bytes) else b"".join(result)


def feed_bytewise(adapter: StreamAdapter, data: bytes) -> tuple[bytes, list[Any]]:
    results: list[Any] = []
    for i in range(len(data)):
        results.append(adapter(data[i:i + 1]))
    results.append(adapter(b""))
    return b"".join(as_bytes(r) for r in results), results


def anthropic_to_openai(request: dict[str, Any] | None = None) -> StreamAdapter:
    translator = hub.stream_translator("openai", "anthropic", request or {}, model="claude")
    return StreamAdapter(translator, flow_id="flow-123")


def passthrough(client: Format) -> StreamAdapter:
    return StreamAdapter(hub.stream_translator(client, client, {}, model=""), flow_id="f")


def test_passthrough_returns_whole_events_unchanged() -> None:
    adapter = passthrough("openai")
    chunks = [b"data: {\"a\":1}\n\n", b": keep-alive\n\n", b"data: [DONE]\n\n"]
    for chunk in chunks:
        assert adapter(chunk) is chunk  # not even copied
    assert adapter(b"") == b""


def test_passthrough_sends_an_event_once_it_is_whole() -> None:
    adapter = passthrough("openai")
    assert adapter(b"data: {\"a\":") == []  # held: half an event helps no client
    assert adapter(b"1}\n") == []
    assert adapter(b"\ndata: {\"b\"") == b"data: {\"a\":1}\n\n"
    assert adapter(b":2}\r\n\r\ndata: [DONE]\n\n") == b"data: {\"b\":2}\r\n\r\ndata: [DONE]\n\n"
    assert adapter(b"") == b""


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "responses"])
def test_a_passthrough_cut_mid_event_ends_with_a_clean_error_event(fmt: Format) -> None:
    first = {"openai": b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n',
             "anthropic": b'event: message_start\ndata: {"type":"message_start"}\n\n',
             "responses": b'event: response.created\ndata: {"type":"response.created",'
                          b'"sequence_number":0,"response":{"id":"r1"}}\n\n'}[fmt]
    adapter = passthrough(fmt)
    assert adapter(first + b'data: {"partial') == first
    tail = adapter.fail(ErrorInfo(502, "connection reset"))  # the provider broke off
    received = frames(first + tail)
    assert len(received) >= 2
    for _, data in received:
        if data != "[DONE]":
            json.loads(data)  # every frame the client gets parses
    assert "connection reset" in tail.decode()


@pytest.mark.parametrize(("body", "ending"), [
    (b'data: {"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}\n\n',
     "ended before the answer was complete"),  # clean end, no finish, no [DONE]
    (b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: {"cho', "middle of an event"),
])
def test_a_chat_passthrough_ending_early_gets_the_error_a_translated_one_gets(
        body: bytes, ending: str) -> None:
    adapter = passthrough("openai")
    out = as_bytes(adapter(body)) + as_bytes(adapter(b""))
    last = json.loads(frames(out)[-1][1])
    assert ending in last["error"]["message"]
    assert last["error"]["type"] == "bad_upstream_response" or last["error"]["code"] == \
        "bad_upstream_response"
    assert "[DONE]" not in out.decode()


def test_a_chat_passthrough_with_a_finish_but_no_done_is_complete() -> None:
    adapter = passthrough("openai")
    body = b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'
    assert as_bytes(adapter(body)) + as_bytes(adapter(b"")) == body


def test_an_anthropic_passthrough_without_message_stop_ends_with_an_error_event() -> None:
    adapter = passthrough("anthropic")
    body = b'event: message_start\ndata: {"type":"message_start"}\n\n'
    out = as_bytes(adapter(body)) + as_bytes(adapter(b""))
    assert frames(out)[-1][0] == "error"


def test_a_last_event_missing_only_its_blank_line_is_completed() -> None:
    adapter = passthrough("openai")
    body = b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n'
    out = as_bytes(adapter(body)) + as_bytes(adapter(b""))
    assert out == body + b"\n"


@pytest.mark.parametrize("junk", [b"<!doctype html><title>502</title>", b'{"error": "no"}',
                                  b"hello world\n\n"])
def test_a_body_that_is_not_sse_is_an_error_not_passed_on(junk: bytes) -> None:
    adapter = passthrough("openai")
    out = as_bytes(adapter(junk)) + as_bytes(adapter(b""))
    assert len(frames(out)) == 1  # only the error: the junk is not passed on
    error = json.loads(frames(out)[0][1])["error"]
    assert "not server-sent events" in error["message"]


def test_an_event_that_never_ends_is_bounded() -> None:
    adapter = passthrough("openai")
    out = as_bytes(adapter(b"data: " + b"x" * (MAX_EVENT_BYTES + 10)))
    assert b"xxxx" not in out and "no end" in out.decode()
    assert adapter(b"more") == []


def test_translating_adapter_bytewise_holds_back_and_ends_with_done() -> None:
    adapter = anthropic_to_openai()
    out, results = feed_bytewise(adapter, ANTHROPIC_SSE)
    for result in results[:-1]:
        assert result != b"", "b'' before the end would end the client's body"
        assert result == [] or (isinstance(result, bytes) and result)
    assert [] in results  # it holds back partial events rather than sending b""
    assert results[-1] != [] and isinstance(results[-1], bytes)

    received = frames(out)
    assert all(event is None for event, _ in received)  # OpenAI frames: data only
    assert received[-1][1] == "[DONE]"
    chunks = [json.loads(data) for _, data in received[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == EXPECTED["message"]["content"]
    finish = [c["choices"][0]["finish_reason"] for c in chunks
              if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finish == [EXPECTED["finish_reason"]]


def test_bytewise_equals_whole_and_usage_when_asked() -> None:
    whole_adapter = anthropic_to_openai({"stream_options": {"include_usage": True}})
    whole = as_bytes(whole_adapter(ANTHROPIC_SSE)) + as_bytes(whole_adapter(b""))
    bytewise, _ = feed_bytewise(anthropic_to_openai({"stream_options":
                                                     {"include_usage": True}}), ANTHROPIC_SSE)

    def without_ids(data: bytes) -> list[Any]:
        out = []
        for _, payload in frames(data):
            if payload == "[DONE]":
                out.append(payload)
                continue
            chunk = json.loads(payload)
            chunk.pop("id", None)
            chunk.pop("created", None)
            out.append(chunk)
        return out

    assert without_ids(bytewise) == without_ids(whole)
    usage = [c["usage"] for c in without_ids(whole)[:-1] if c.get("usage")]
    assert usage[-1] == EXPECTED["usage"]


class BreaksAfter:
    """A real translator that raises on the n-th upstream event (a translator bug)."""

    REWRITES = True

    def __init__(self, n: int, fail_raises: bool = False):
        translator = hub.stream_translator("openai", "anthropic", {}, model="claude")
        self.inner = translator
        self.bare_ending = translator.bare_ending
        self.n = n
        self.fed = 0
        self.fail_raises = fail_raises

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        self.fed += 1
        if self.fed > self.n:
            raise RuntimeError("kaboom in feed")
        return self.inner.feed(event)

    def finish(self) -> list[SSEEvent]:
        return self.inner.finish()

    def fail(self, error: ErrorInfo) -> list[SSEEvent]:
        if self.fail_raises:
            raise RuntimeError("kaboom in fail")
        return self.inner.fail(error)


@pytest.mark.parametrize("fail_raises", [False, True])
def test_translator_that_raises_ends_the_stream_with_an_error_frame(
        fail_raises: bool, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="mitmllm.addons.streaming")
    adapter = StreamAdapter(BreaksAfter(3, fail_raises), flow_id="flow-77")
    out, results = feed_bytewise(adapter, ANTHROPIC_SSE)  # must not raise
    received = frames(out)
    assert "[DONE]" not in [data for _, data in received]
    last = json.loads(received[-1][1])
    assert set(last) == {"error"}
    assert "translate" in last["error"]["message"]
    assert any(json.loads(d).get("choices") for _, d in received[:-1])  # what came before
    assert results[-1] == b""  # the end of the body
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged and "flow-77" in logged[0].getMessage()
    assert logged[0].exc_info is not None


def test_after_a_failure_nothing_more_is_sent() -> None:
    adapter = StreamAdapter(BreaksAfter(0), flow_id="f")
    first = adapter(ANTHROPIC_SSE[:400])
    assert isinstance(first, bytes) and b'"error"' in first
    assert adapter(ANTHROPIC_SSE[400:]) == []
    assert adapter(b"") == b""


class FinishRaises:
    REWRITES = True

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        return []

    def finish(self) -> list[SSEEvent]:
        raise RuntimeError("kaboom in finish")

    def fail(self, error: ErrorInfo) -> list[SSEEvent]:
        return [SSEEvent(json.dumps({"error": {"message": error.message}}))]


def test_translator_whose_finish_raises_still_ends_with_an_error_frame() -> None:
    adapter = StreamAdapter(FinishRaises(), flow_id="f")
    assert adapter(b"data: {}\n\n") == []
    tail = adapter(b"")
    assert isinstance(tail, bytes)
    assert b'"error"' in tail


def test_fail_gives_the_client_formats_error_event() -> None:
    error = ErrorInfo(502, "Provider 'corp' broke off the answer: connection reset",
                      code="provider_error")

    anthropic = frames(passthrough("anthropic").fail(error))
    assert len(anthropic) == 1
    event, data = anthropic[0]
    assert event == "error"
    payload = json.loads(data)
    assert payload["type"] == "error"
    assert payload["error"]["message"] == error.message
    assert payload["error"]["type"] == "api_error"

    openai = frames(passthrough("openai").fail(error))
    assert len(openai) == 1
    assert openai[0][0] is None
    assert json.loads(openai[0][1])["error"]["message"] == error.message
    assert json.loads(openai[0][1])["error"]["code"] == "provider_error"

    # Nothing came before: the stream opens first (docs/formats.md#how-a-stream-ends).
    responses = frames(passthrough("responses").fail(error))
    assert [event for event, _ in responses] == ["response.created", "response.in_progress",
                                                 "error", "response.failed", None]
    payload = json.loads(responses[2][1])
    assert payload["type"] == "error"
    assert payload["message"] == error.message
    assert payload["code"] == "provider_error"


def test_fail_of_a_translating_adapter_uses_the_translator_and_happens_once() -> None:
    adapter = anthropic_to_openai()
    head = as_bytes(adapter(ANTHROPIC_SSE[:400]))
    tail = adapter.fail(ErrorInfo(504, "Provider 'anthropic' did not answer within 60 s",
                                  code="provider_timeout"))
    received = frames(tail)
    assert json.loads(received[-1][1])["error"]["message"].startswith("Provider 'anthropic'")
    assert "[DONE]" not in tail.decode()
    assert head  # the events before the failure were sent
    assert adapter.fail(ErrorInfo(502, "again")) == b""
    assert adapter(ANTHROPIC_SSE[400:]) == []
    assert adapter(b"") == b""


def answered_flow() -> http.HTTPFlow:
    flow = tflow.tflow(resp=tutils.tresp(content=b""))
    flow.response.raw_content = None  # a streamed answer's body is not buffered
    return flow


def test_keep_in_stores_a_small_stream_whole() -> None:
    adapter = passthrough("openai")
    for chunk in (b"data: {}\n\n", b"data: [DONE]\n\n"):
        adapter(chunk)
    adapter(b"")
    flow = answered_flow()
    adapter.keep_in(flow, "complete")
    assert flow.response is not None
    assert flow.response.raw_content == b"data: {}\n\ndata: [DONE]\n\n"
    meta = flow.metadata["mitmllm"]
    # Same format: the provider's stream is the client's, kept once.
    assert meta["provider_answer"] == {"same_as_client": True}
    assert meta["answer_end"] == "complete"
    assert [offset for _, offset in meta["client_answer"]["marks"]] == [10, 24]


def test_keep_in_stores_a_bounded_copy() -> None:
    adapter = passthrough("openai")
    chunk = b'data: {"x":"' + b"x" * (30 * 1024 - 16) + b'"}\n\n'
    sent = 0
    for _ in range(100):
        assert adapter(chunk) == chunk  # the client still gets everything
        sent += len(chunk)
    sent += len(adapter(b"data: [DONE]\n\n"))  # type: ignore[arg-type]
    adapter(b"")
    flow = answered_flow()
    adapter.keep_in(flow, "complete")
    assert flow.response is not None
    kept = flow.response.raw_content or b""
    assert kept.startswith(chunk * (KEEP_BYTES // len(chunk)))
    assert len(kept) < KEEP_BYTES + 200
    assert kept.endswith(f": [mitmllm: {sent - KEEP_BYTES} more bytes not kept]\n".encode())
    assert flow.metadata["mitmllm"]["client_answer"]["cut"] == sent - KEEP_BYTES


def test_keep_in_keeps_both_sides_of_a_translated_stream() -> None:
    adapter = anthropic_to_openai()
    out = as_bytes(adapter(ANTHROPIC_SSE[:500])) + as_bytes(adapter(ANTHROPIC_SSE[500:]))
    out += as_bytes(adapter(b""))
    flow = answered_flow()
    adapter.keep_in(flow, "complete")
    assert flow.response is not None
    assert flow.response.raw_content == out  # what the client got
    provider = flow.metadata["mitmllm"]["provider_answer"]
    assert provider["body"] == ANTHROPIC_SSE.decode()  # the provider's own events
    assert [offset for _, offset in provider["marks"]] == [500, len(ANTHROPIC_SSE)]
    assert all(ms >= 0 for ms, _ in provider["marks"])
    assert flow.metadata["mitmllm"]["answer_end"] == "complete"


def test_keep_in_says_when_the_stream_ended_with_an_error_event() -> None:
    adapter = passthrough("openai")
    adapter(b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n')
    adapter(b"")
    flow = answered_flow()
    adapter.keep_in(flow, "complete")
    assert flow.metadata["mitmllm"]["answer_end"].startswith("ended with an error event")


def test_nothing_is_kept_when_the_limit_is_zero() -> None:
    translator = hub.stream_translator("openai", "anthropic", {}, model="claude")
    adapter = StreamAdapter(translator, flow_id="f", keep=0)
    out = as_bytes(adapter(ANTHROPIC_SSE)) + as_bytes(adapter(b""))
    assert frames(out)[-1] == (None, "[DONE]")  # the client's stream is whole
    flow = answered_flow()
    adapter.keep_in(flow, "complete")
    assert flow.response is not None and flow.response.raw_content is None
    assert flow.metadata["mitmllm"] == {"answer_end": "complete"}


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
def test_a_passthrough_event_whose_data_is_not_json_ends_the_stream(fmt: Format) -> None:
    good = {"openai": b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n',
            "anthropic": b'event: ping\ndata: {"type":"ping"}\n\n'}[fmt]
    adapter = passthrough(fmt)
    out = as_bytes(adapter(good + b"data: this is not JSON\n\n" + good))
    out += as_bytes(adapter(b""))
    assert out.startswith(good) and out.count(good) == 1  # nothing after the junk
    assert b"not JSON" not in out.split(b"\n\n", 1)[1].split(b"message")[0]
    last = frames(out)[-1]
    assert "not JSON" in json.loads(last[1])["error"]["message"]
