"""Property tests of the streams, with `hypothesis` (why hypothesis, and the settings: see
test_properties_bodies.py and conftest.py):

- a stream translator of every (client, provider) pair, fed any events (recorded streams
  with some events edited, dropped, repeated or cut, and random ones), then ended by
  `finish()` or `fail()`, never raises, writes only JSON or `[DONE]`, ends the client's
  stream the way its format ends, and writes nothing once it has ended (the contract of
  translators/stream.py);
- a recorded stream split anywhere (and with other line endings) gives the client the same
  bytes as the stream in one piece;
- the SSE codec alone: what `encode` writes, the decoder reads back, split anywhere.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.wire_strategies import (
    REQUESTS,
    STREAMS,
    event_lists,
    random_events,
)

from mitmllm.translators import hub
from mitmllm.translators.errors import ErrorInfo
from mitmllm.translators.formats import FORMATS, Format
from mitmllm.translators.sse import DONE, SSEDecoder, SSEEvent, encode, json_event
from mitmllm.translators.stream import StreamTranslator

PAIRS = list(itertools.product(FORMATS, FORMATS))
PAIR_IDS = [f"{client}->{provider}" for client, provider in PAIRS]

errors = st.builds(ErrorInfo, status=st.sampled_from([400, 429, 500, 502, 504, 529]),
                   message=st.text(max_size=20),
                   type=st.none() | st.sampled_from(["overloaded_error", "server_error", "x"]),
                   code=st.none() | st.text(max_size=5),
                   origin=st.none() | st.sampled_from(FORMATS))


def translator_for(client: Format, provider: Format, request: dict[str, Any]
                   ) -> StreamTranslator:
    return hub.stream_translator(client, provider, request, model="client-model")


def kind(event: SSEEvent) -> str:
    """What an event is for the checks below: `[DONE]`, an error frame, or its type."""
    if event.is_done:
        return DONE
    payload = json.loads(event.data)
    if isinstance(payload, dict) and "error" in payload and "type" not in payload:
        return "error frame"
    return str(payload.get("type")) if isinstance(payload, dict) else "other"


# How each format's stream ends (docs/formats.md#how-a-stream-ends): the events from the
# first terminal one to the end.
ENDINGS: dict[Format, list[list[str]]] = {
    "openai": [[DONE], ["error frame"]],
    "anthropic": [["message_stop"], ["error"]],
    "responses": [["response.completed", DONE], ["response.incomplete", DONE],
                  ["response.failed", DONE], ["error", "response.failed", DONE]],
}
TERMINAL = {name: {ending[0] for ending in endings} for name, endings in ENDINGS.items()}


def check_ending(client: Format, out: list[SSEEvent], closed: bool) -> None:
    kinds = [kind(event) for event in out]
    first = next((i for i, k in enumerate(kinds) if k in TERMINAL[client]), None)
    if first is not None:
        assert kinds[first:] in ENDINGS[client], f"events after the end: {kinds[first:]}"
    if closed:
        assert first is not None, f"closed without the end of a {client} stream: {kinds}"


def watched(translator: StreamTranslator, event: SSEEvent) -> list[SSEEvent]:
    """One upstream event as the addon hands it over (addons/streaming.py): a passthrough
    watches the bytes it forwards, a translator gets the decoded event."""
    if not translator.REWRITES:
        translator.watch_bytes(encode(event))
    return translator.feed(event)


@pytest.mark.parametrize(("client", "provider"), PAIRS, ids=PAIR_IDS)
@given(data=st.data())
def test_a_stream_never_raises_and_ends_as_its_format_ends(
        client: Format, provider: Format, data: st.DataObject) -> None:
    request = data.draw(st.sampled_from(REQUESTS[client]), label="request")
    events = data.draw(event_lists(provider), label="events")
    error = data.draw(st.none() | errors, label="fail with")
    late = data.draw(random_events(provider), label="late event")
    check_stream(client, provider, request, events, error, late)


def check_stream(client: Format, provider: Format, request: dict[str, Any],
                 events: list[SSEEvent], error: ErrorInfo | None, late: SSEEvent) -> None:
    translator = translator_for(client, provider, request)
    out: list[SSEEvent] = []
    for event in events:
        was_closed = translator.closed
        got = watched(translator, event)
        assert not (was_closed and got), "events after the stream was closed"
        out += got
    was_closed = translator.closed
    end = translator.finish() if error is None else translator.fail(error)
    assert not (was_closed and end), "events after the stream was closed"
    out += end
    for event in out:
        assert event.is_done or isinstance(json.loads(event.data), dict), event
        encode(event)
    if error is not None:
        assert translator.closed
    elif not translator.closed:
        # Only an OpenAI passthrough may stay open at the end: a complete answer (a
        # finish_reason went by) without `[DONE]`, as some servers end (chat/passthrough.py).
        assert client == provider == "openai" and getattr(translator, "finished", False)
    if translator.REWRITES:
        check_ending(client, out, translator.closed)
    elif not was_closed:
        # A passthrough forwards the provider's bytes; what it writes itself is the error
        # ending of a stream that stopped short.
        assert translator.closed == bool(end) or getattr(translator, "finished", False)
        check_ending(client, end, translator.closed)
    # Closed for good: nothing more comes out, whatever arrives.
    if translator.closed:
        assert watched(translator, late) == []
        assert translator.finish() == []
        assert translator.fail(ErrorInfo(502, "late")) == []


# -- a recorded stream split anywhere --------------------------------------------------------

# Wall-clock seconds in the client's events: the same stream read twice may straddle one.
_CLOCK = re.compile(rb'"(created|created_at|completed_at)":\d+')


@contextmanager
def fixed_ids() -> Iterator[None]:
    """Made-up ids from a counter rather than uuid4, so two runs can be compared byte for
    byte."""
    counter = itertools.count()
    with mock.patch.object(uuid, "uuid4", lambda: uuid.UUID(int=next(counter))):
        yield


def replay(client: Format, provider: Format, chunks: list[bytes]) -> bytes:
    with fixed_ids():
        translator = translator_for(client, provider, REQUESTS[client][0])
        decoder = SSEDecoder()
        out: list[SSEEvent] = []
        for chunk in chunks:
            translator.watch_bytes(chunk)
            for event in decoder.decode(chunk):
                out += translator.feed(event)
        for event in decoder.flush():
            out += translator.feed(event)
        out += translator.finish()
    written = b"".join(encode(event) for event in out)
    state = f"closed={translator.closed} failure={translator.failure}".encode()
    return _CLOCK.sub(rb'"\1":0', written) + b"\n" + state


def cut(raw: bytes, positions: list[int]) -> list[bytes]:
    points = sorted({p % (len(raw) + 1) for p in positions})
    return [raw[a:b] for a, b in itertools.pairwise([0, *points, len(raw)])]


def line_endings(raw: bytes) -> list[bytes]:
    """The stream with `\\n`, and, where its own bytes have no `\\r`, `\\r\\n` and `\\r`."""
    if b"\r" in raw:
        return [raw]
    return [raw, raw.replace(b"\n", b"\r\n"), raw.replace(b"\n", b"\r")]


SPLIT_CASES = [pytest.param(name, fmt, raw, client, id=f"{name}->{client}")
               for name, fmt, raw in STREAMS for client in FORMATS]


@pytest.mark.parametrize(("name", "provider", "raw", "client"), SPLIT_CASES)
def test_a_recorded_stream_byte_by_byte_gives_the_same_bytes(
        name: str, provider: Format, raw: bytes, client: Format) -> None:
    whole = replay(client, provider, [raw])
    for variant in line_endings(raw):
        assert replay(client, provider, [variant[i:i + 1] for i in range(len(variant))]) == whole


@pytest.mark.parametrize(("name", "provider", "raw", "client"), SPLIT_CASES)
# A case per recorded stream and client format (about a hundred): a quarter of the
# profile's examples each.
@settings(max_examples=max(10, settings.default.max_examples // 4))
@given(data=st.data())
def test_a_recorded_stream_split_anywhere_gives_the_same_bytes(
        name: str, provider: Format, raw: bytes, client: Format, data: st.DataObject) -> None:
    variant = data.draw(st.sampled_from(line_endings(raw)), label="line endings")
    positions = data.draw(st.lists(st.integers(0, len(variant)), max_size=12), label="cuts")
    assert replay(client, provider, cut(variant, positions)) == replay(client, provider, [raw])


# -- the SSE codec ---------------------------------------------------------------------------

# Any text but lone surrogates, which no UTF-8 frame can carry (see the JSON events below).
texts = st.text(st.characters(codec="utf-8"), max_size=30)
names = st.none() | st.text(st.characters(codec="utf-8", exclude_characters="\r\n"),
                             min_size=1, max_size=10)
json_payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(st.characters(codec=None), max_size=10),  # lone surrogates included
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10)


def decode_in(chunks: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += decoder.decode(chunk)
    return events + decoder.flush()


def as_read(event: SSEEvent) -> SSEEvent:
    """The event a reader gets: lines in the data end in `\\n` whatever they ended in."""
    return SSEEvent(event.data.replace("\r\n", "\n").replace("\r", "\n"), event.event or None)


@given(events=st.lists(st.builds(SSEEvent, texts, names), max_size=5),
       positions=st.lists(st.integers(min_value=0), max_size=10))
def test_encoded_events_decode_back_split_anywhere(events: list[SSEEvent],
                                                   positions: list[int]) -> None:
    raw = b"".join(encode(event) for event in events)
    expected = [as_read(event) for event in events]
    assert decode_in([raw]) == expected
    assert decode_in(cut(raw, positions)) == expected


@given(payloads=st.lists(json_payloads, min_size=1, max_size=3), name=names,
       positions=st.lists(st.integers(min_value=0), max_size=10))
def test_json_events_round_trip_with_lone_surrogates(payloads: list[Any], name: str | None,
                                                     positions: list[int]) -> None:
    raw = b"".join(encode(json_event(payload, name)) for payload in payloads)
    raw.decode("utf-8")  # strict: a lone surrogate went out as its JSON escape
    # What a JSON reader makes of the payloads: a high surrogate right before a low one is
    # one character once written as escapes.
    expected = json.loads(json.dumps(payloads))
    for events in (decode_in([raw]), decode_in(cut(raw, positions))):
        assert [json.loads(event.data) for event in events] == expected
        assert {event.event for event in events} == {name}
