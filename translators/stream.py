"""The one shape every stream translator has: one object per streamed answer, holding its state.

The addon that drives a translator decodes bytes with `sse.SSEDecoder`, calls `feed` for
every upstream event, `finish` when the upstream body ends, or `fail` when the upstream
connection breaks or times out, and encodes whatever comes back for the client. This base
class answers the questions every translator shares, the same way for all of them:

- **closed**: once the client's stream has ended (its terminator or an error ending was
  produced), nothing more comes out; `feed`, `finish` and `fail` all return `[]`.
- **fail** is idempotent: the first call produces the client format's error ending
  (`ending`), later calls nothing.
- **dispatch** by table: an event's type (its JSON `type`, else its SSE `event:` name) picks
  a method from the subclass's `HANDLERS`; unknown types are ignored
  (docs/formats.md#server-sent-events).
- **malformed data**, one error for all: data that is not a JSON object (or is nested
  deeper than the parser goes), or a handler tripping over a missing or mistyped field,
  or a handler raising `UpstreamFormatError`,
  ends the client's stream with a 502 `bad_upstream_response` error ending, never an
  exception inside the proxy's stream callable.

Subclasses set `HANDLERS` and implement `ending` (the error ending in the client's format)
and `on_eof` (what the end of the upstream body means: the tail of a complete answer, or an
error because the terminal event never came).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .errors import ErrorInfo, UpstreamFormatError
from .sse import SSEEvent

Handler = Callable[[Any, dict[str, Any]], list[SSEEvent]]

# What a handler raises when it trips over data of the wrong shape.
_MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)


def malformed(message: str) -> ErrorInfo:
    """The one error for upstream stream data that cannot be read."""
    return UpstreamFormatError(message).info()


@dataclass(kw_only=True, slots=True)
class StreamTranslator:
    """Base of every stream translator. See the module docstring."""

    HANDLERS: ClassVar[Mapping[str, Handler]] = {}
    # Events name their kind in `type` (Anthropic, Responses); False: `kind_of` says (Chat
    # chunks have no type).
    TYPED_EVENTS: ClassVar[bool] = True
    # False for same-format streams: the addon forwards the provider's bytes untouched and
    # only feeds the events here so the translator knows how the stream ended.
    REWRITES: ClassVar[bool] = True
    # Whether the events must be decoded for it (a passthrough may only need the bytes).
    WATCHES_EVENTS: ClassVar[bool] = True

    closed: bool = field(default=False, init=False)
    failure: str | None = field(default=None, init=False)  # why the stream ended in error

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        """Events for the client caused by one upstream event (often none or one)."""
        if self.closed:
            return []
        if event.is_done:
            return self.on_done()
        data = event.data
        if not data or data.isspace():  # isspace stops at the first other character
            return []
        # Inlined rather than calls: this runs for every event of every stream.
        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
        except RecursionError:  # valid JSON nested deeper than the parser goes
            return self.fail(malformed(f"the provider sent a {event.event or 'stream'} event "
                                       "nested too deeply to be read"))
        if type(payload) is not dict:
            return self.fail(malformed(f"the provider sent a {event.event or 'stream'} event "
                                       "whose data is not a JSON object"))
        if self.TYPED_EVENTS:
            kind = payload.get("type")
            if type(kind) is not str:
                kind = event.event
        else:
            kind = self.kind_of(payload, event)
        handler = self.HANDLERS.get(kind) if kind is not None else None
        if handler is None:
            return []
        try:
            return handler(self, payload)
        except UpstreamFormatError as exc:
            return self.fail(exc.info())
        except _MALFORMED as exc:
            return self.fail(malformed(f"the provider sent a malformed {kind} event ({exc!r})"))

    def finish(self) -> list[SSEEvent]:
        """The upstream body ended: the tail of the client's stream, or an error ending if
        the upstream stream stopped before its terminal event."""
        return [] if self.closed else self.on_eof()

    def fail(self, error: ErrorInfo) -> list[SSEEvent]:
        """End the client's stream with `error` in its own format; once only."""
        if self.closed:
            return []
        self.closed = True
        self.failure = error.message
        return self.ending(error)

    # -- for subclasses --------------------------------------------------------------------

    def kind_of(self, payload: dict[str, Any], event: SSEEvent) -> str | None:
        """The key into `HANDLERS`: the payload's `type`, else the SSE event name."""
        kind = payload.get("type")
        return kind if isinstance(kind, str) else event.event

    def on_done(self) -> list[SSEEvent]:
        """A literal `[DONE]`: ignored unless the upstream format ends with it."""
        return []

    def watch_bytes(self, chunk: bytes) -> None:
        """For a translator that does not watch events (a passthrough): each chunk as it
        goes by. Nothing for translators, which see every event."""

    def on_eof(self) -> list[SSEEvent]:
        raise NotImplementedError

    def ending(self, error: ErrorInfo) -> list[SSEEvent]:
        """The client's stream ended with `error`, in the client's format."""
        return self.bare_ending(error)

    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        """The same without any stream state: what the addon sends if `ending` itself fails
        (a bug), so the client still gets an error in its format rather than a cut."""
        raise NotImplementedError


@dataclass(kw_only=True, slots=True)
class ChainedStream(StreamTranslator):
    """Provider format -> hub -> client format, event by event."""

    first: StreamTranslator  # provider's events in, hub events out
    second: StreamTranslator  # hub events in, client's events out

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        return self._through(self.first.feed(event))

    def finish(self) -> list[SSEEvent]:
        return self._through(self.first.finish()) + self.second.finish()

    def fail(self, error: ErrorInfo) -> list[SSEEvent]:
        self.first.fail(error)
        self.closed = True
        self.failure = self.failure or error.message
        return self.second.fail(error)

    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        return self.second.bare_ending(error)

    def _through(self, hub_events: list[SSEEvent]) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        for event in hub_events:
            out.extend(self.second.feed(event))
        self.closed = self.second.closed
        self.failure = self.second.failure
        return out


@dataclass(kw_only=True, slots=True)
class PassthroughStream(StreamTranslator):
    """Same format on both sides: the provider's bytes reach the client untouched (the addon
    forwards them as they are), and the decoded events are only watched here, so that a
    stream that breaks off can still be ended properly in that format."""

    REWRITES: ClassVar[bool] = False
    # Unless `watch` needs the decoded events, the addon skips decoding, and a passthrough
    # costs no more than forwarding the bytes.
    WATCHES_EVENTS: ClassVar[bool] = False

    # The bytes that end this format's stream; seen, the stream is over (`closed`), and a
    # connection lost afterwards needs no error ending.
    TERMINATOR: ClassVar[bytes] = b""
    # The bytes that start an error event in this format: the provider ended the stream
    # with an error (it sends nothing after it), said so in `failure`.
    ERROR_MARK: ClassVar[bytes] = b""

    _tail: bytes = field(default=b"", init=False)  # the end of the previous chunk

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        if not self.closed:
            self.watch(event)
        return []

    def watch_bytes(self, chunk: bytes) -> None:
        """Every chunk, as forwarded: notices the terminator or an error event, even split
        across chunks (a JSON string escapes its quotes, so text never looks like one)."""
        term = self.TERMINATOR
        if not term or self.closed:
            return
        mark = self.ERROR_MARK
        reach = max(len(term), len(mark)) - 1
        if term in chunk:
            self.closed = True
        elif mark and mark in chunk:
            self.closed = True
            self.failure = "the provider sent an error event"
        elif self._tail:  # only then can a boundary split a marker
            edge = self._tail + chunk[:reach]
            if term in edge:
                self.closed = True
            elif mark and mark in edge:
                self.closed = True
                self.failure = "the provider sent an error event"
        self._tail = chunk[-reach:] if len(chunk) >= reach else (self._tail + chunk)[-reach:]

    def watch(self, event: SSEEvent) -> None:
        """Note what the stream's end will need; nothing by default."""

    def on_eof(self) -> list[SSEEvent]:
        """The body ended before the terminator (closed ones never get here): what a
        translated stream gets, an error ending (docs/formats.md#how-a-stream-ends)."""
        return self.fail(malformed("the provider's stream ended before the answer was "
                                   "complete"))
