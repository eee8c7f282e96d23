"""The SSE codec on its own, in the style of httpx's decoder tests: bytes in (split anywhere),
events out, and events back to bytes. The rules are the WHATWG event-stream grammar as the
three LLM APIs use it (docs/formats.md#server-sent-events)."""

from __future__ import annotations

import pytest

from mitmllm.translators.sse import DONE, SSEDecoder, SSEEvent, encode, encode_event, json_event


def decode_all(*chunks: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.decode(chunk))
    return events + decoder.flush()


def every_split(data: bytes) -> list[list[bytes]]:
    """The data as two chunks split at every offset, and as single bytes."""
    return [[data[:i], data[i:]] for i in range(len(data) + 1)] + [
        [data[i:i + 1] for i in range(len(data))]]


def test_one_event_with_a_name() -> None:
    assert decode_all(b"event: message_start\ndata: {\"a\":1}\n\n") == [
        SSEEvent('{"a":1}', "message_start")]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_reads_the_same(newline: bytes) -> None:
    raw = newline.join([b"event: a", b"data: 1", b"", b"data: 2", b"", b""])
    assert decode_all(raw) == [SSEEvent("1", "a"), SSEEvent("2")]


def test_crlf_split_between_its_two_bytes_is_one_line_end() -> None:
    # A \r at the end of one chunk and its \n at the start of the next must not make an
    # empty line (which would dispatch an event early, or twice).
    events = decode_all(b"data: 1\r", b"\ndata: 2\r", b"\n\r", b"\n")
    assert events == [SSEEvent("1\n2")]


@pytest.mark.parametrize("chunks", every_split(
    b"event: x\r\ndata: caf\xc3\xa9 \xe2\x82\xac\r\n\r\ndata: [DONE]\r\n\r\n"))
def test_any_split_gives_the_same_events(chunks: list[bytes]) -> None:
    assert decode_all(*chunks) == [SSEEvent("café €", "x"), SSEEvent(DONE)]


def test_a_utf8_character_split_across_chunks_survives() -> None:
    euro = "€".encode()
    assert decode_all(b"data: " + euro[:1], euro[1:2], euro[2:] + b"\n\n") == [SSEEvent("€")]


def test_a_leading_bom_is_dropped_once() -> None:
    bom = "\ufeff".encode()
    assert decode_all(bom + b"data: 1\n\n") == [SSEEvent("1")]
    assert decode_all(bom[:2], bom[2:] + b"data: 1\n\n") == [SSEEvent("1")]
    # Only at the very start of the stream: later it is part of the field name, so
    # "\ufeffdata" is an unknown field and the line is ignored.
    assert decode_all(b"data: 1\n\n" + bom + b"data: 2\n\n") == [SSEEvent("1")]


def test_multi_line_data_joins_with_newlines() -> None:
    assert decode_all(b"data: {\ndata:   \"a\": 1\ndata: }\n\n") == [
        SSEEvent('{\n  "a": 1\n}')]


def test_exactly_one_space_after_the_colon_is_stripped() -> None:
    assert decode_all(b"data:x\n\ndata:  y\n\ndata:\n\n") == [
        SSEEvent("x"), SSEEvent(" y"), SSEEvent("")]


def test_comments_are_ignored_even_between_data_lines() -> None:
    raw = b": OPENROUTER PROCESSING\n\ndata: a\n: keep-alive\ndata: b\n\n"
    assert decode_all(raw) == [SSEEvent("a\nb")]


def test_a_blank_line_without_data_dispatches_nothing_and_forgets_the_name() -> None:
    assert decode_all(b"event: ping\n\ndata: 1\n\n") == [SSEEvent("1")]


def test_id_is_kept_and_an_id_with_nul_is_ignored() -> None:
    assert decode_all(b"id: 7\ndata: a\n\n")[0].id == "7"
    assert decode_all(b"id: 1\0\ndata: a\n\n")[0].id is None


def test_unknown_fields_and_retry_are_ignored() -> None:
    assert decode_all(b"retry: 10\nfoo: bar\nfoo\ndata: x\n\n") == [SSEEvent("x")]


def test_a_line_without_colon_is_a_field_with_an_empty_value() -> None:
    # WHATWG: the whole line is the field name; `data` alone adds an empty data line.
    assert decode_all(b"data\ndata: x\n\n") == [SSEEvent("\nx")]


def test_flush_dispatches_a_pending_event_without_a_blank_line() -> None:
    # Recorded streams (anthropic-sdk-python's basic_response.txt) end like this.
    assert decode_all(b"event: message_stop\ndata: {}") == [SSEEvent("{}", "message_stop")]
    assert decode_all(b"data: {}\n") == [SSEEvent("{}")]


def test_decode_of_an_empty_chunk_is_nothing() -> None:
    decoder = SSEDecoder()
    assert decoder.decode(b"") == []
    assert decoder.decode(b"data: 1") == []
    assert decoder.decode(b"") == []
    assert decoder.decode(b"\n\n") == [SSEEvent("1")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode_all(b"data: \xff\n\n") == [SSEEvent("\ufffd")]


def test_encode_frames_name_and_data() -> None:
    assert encode(SSEEvent('{"a":1}', "x")) == b'event: x\ndata: {"a":1}\n\n'
    assert encode(SSEEvent(DONE)) == b"data: [DONE]\n\n"


def test_encode_splits_multi_line_data_into_data_lines() -> None:
    assert encode_event("a\r\nb\rc\nd") == b"data: a\ndata: b\ndata: c\ndata: d\n\n"


def test_json_event_is_compact_and_keeps_non_ascii() -> None:
    assert json_event({"t": "é", "n": [1, 2]}, "x") == SSEEvent('{"t":"é","n":[1,2]}', "x")


@pytest.mark.parametrize("event", [
    SSEEvent("plain"), SSEEvent("two\nlines", "named"), SSEEvent('{"x": " y "}', "e"),
    SSEEvent(DONE), SSEEvent(""),
])
def test_what_encode_writes_decode_reads_back(event: SSEEvent) -> None:
    assert decode_all(encode(event)) == [event]


def test_event_json_parses_and_done_is_not_json() -> None:
    assert SSEEvent('{"a": [1]}').json() == {"a": [1]}
    assert SSEEvent(DONE).is_done
    with pytest.raises(ValueError):
        SSEEvent(DONE).json()


def test_a_lone_surrogate_is_framed_as_its_json_escape() -> None:
    from mitmllm.translators.sse import encode_event, json_event

    framed = encode_event(json_event({"text": "\ud800!"}).data)
    assert framed == b'data: {"text":"\\ud800!"}\n\n'
