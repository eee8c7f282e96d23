"""The per-flow stream callable: bytes in, bytes out, one event at a time.

mitmproxy calls `flow.response.stream` with every chunk of the upstream body and once with
`b""` at the end. `StreamAdapter` decodes the chunk into SSE events and feeds them to the
flow's stream translator (`translators.hub.stream_translator`), so each upstream event
reaches the client as soon as it arrives. A translator that does not rewrite (same format
on both sides) only watches the events, and the provider's bytes go on unchanged. However a
stream ends (normally, cut short, or broken off by the upstream), its last bytes come from
the translator, which knows the client's format; this module has no format of its own.

Two rules from mitmproxy's side: never return `b""` before the end (HTTP/1 chunked framing
would end the body; an empty list holds nothing back instead), and never raise (an
exception in a stream callable kills the connection). Any unexpected error is logged once
with the flow id and the client's stream ends with an error event in its format.

Both sides are kept, bounded, for the inspection views (`capture.py`): what the provider
sent, as it came, and what the client got; `keep_in` puts them on the flow when it is over,
whether it ended normally, the provider broke off, or the client left.
"""

from __future__ import annotations

import logging
import re
import time

from mitmproxy import http

from ..translators.errors import ErrorInfo
from ..translators.sse import SSEDecoder, SSEEvent, encode
from ..translators.stream import StreamTranslator, malformed
from .capture import CUT_NOTE, Tape
from .secret_echo import scrub_bytes, scrub_text
from .state import KEEP_BYTES, record

logger = logging.getLogger(__name__)


class StreamAdapter:
    __slots__ = (
        "_decoder",
        "_ended",
        "_held",
        "_pending_error",
        "_secret_bytes",
        "_started",
        "client",
        "first_out",
        "flow_id",
        "provider",
        "secrets",
        "translator",
        "usage_chunks",
    )

    def __init__(self, translator: StreamTranslator, *, flow_id: str, keep: int = KEEP_BYTES,
                 started: float | None = None, secrets: tuple[str, ...] = ()):
        self.translator = translator
        self.flow_id = flow_id
        # The provider's own secrets, never passed on should it echo them (secret_echo.py).
        self.secrets = secrets
        self._secret_bytes = tuple(s.encode() for s in secrets)
        self._decoder = SSEDecoder()
        self._ended = False
        self._pending_error: ErrorInfo | None = None
        self._held = b""  # a passthrough's incomplete last event, sent once it is whole
        self._started = False  # a passthrough's body was seen to begin as SSE
        self.first_out: float | None = None  # time.time() of the client's first bytes
        # The last chunks sent that carry token usage, for the metrics (`usage.py`).
        self.usage_chunks: list[bytes] = []
        started = time.time() if started is None else started
        # What the client got, and (when it differs) what the provider sent.
        self.client = Tape(keep, started)
        self.provider = Tape(keep, started) if translator.REWRITES else None

    @classmethod
    def failed(cls, translator: StreamTranslator, error: ErrorInfo, *, flow_id: str,
               keep: int = KEEP_BYTES, started: float | None = None) -> StreamAdapter:
        """An adapter that answers the whole stream with `translator`'s error ending."""
        adapter = cls(translator, flow_id=flow_id, keep=keep, started=started)
        adapter._pending_error = error
        return adapter

    @property
    def reached_end(self) -> bool:
        """The client's stream got its terminator (or an error ending): a client leaving now
        leaves a finished answer."""
        return self.translator.closed

    def __call__(self, chunk: bytes) -> bytes | list[bytes]:
        if self._pending_error is not None:
            error, self._pending_error = self._pending_error, None
            return self._abort(error, final=not chunk)
        if self._ended:
            return b"" if not chunk else []
        if self._secret_bytes and chunk:
            chunk = scrub_bytes(chunk, self._secret_bytes)  # an echo of the provider's key
        if self.provider is not None:
            self.provider.add(chunk)
        try:
            if not self.translator.REWRITES:
                return self._pass(chunk)
            if not chunk:
                tail = self._translate(self._decoder.flush())
                tail += _render(self.translator.finish())
                self._ended = True
                return self._keep(tail)
            return self._keep(self._translate(self._decoder.decode(chunk))) or []
        except Exception:
            logger.exception("flow %s: the stream could not be translated; ending it", self.flow_id)
            return self._abort(ErrorInfo(502, "mitmllm could not translate the provider's "
                                         "stream (the proxy log has the details).",
                                         code="translation_failed"), final=not chunk)

    def _pass(self, chunk: bytes) -> bytes | list[bytes]:
        """Same format: the provider's bytes as they are, but whole events only. An event
        cut by a broken connection never reaches the client half-written (the error ending
        would be glued onto it and no SDK could read either), and a body that is not SSE at
        all, or an event that never ends, ends the stream as a translated one would."""
        if not chunk:
            return self._pass_end()
        if not self._held and chunk.endswith(b"\n\n"):
            whole = chunk  # the usual case: the provider flushes whole events
        else:
            data = self._held + chunk
            end = _last_event_end(data)
            whole, self._held = data[:end], data[end:]
        if not self._started:
            if not (whole or self._held).lstrip():
                return []
            if not _looks_like_sse(whole or self._held):
                self._held = b""
                return self._abort(_not_sse(whole or chunk), final=False)
            self._started = True
        junk = _NOT_JSON_DATA.search(whole) if whole else None
        if junk is not None:
            # What a translated stream does with it: the events before go on, then the
            # format's error ending (an SDK would fail on it with a JSON error instead).
            self._held = b""
            good = whole[:_last_event_end(whole[:junk.start()])]
            self._watch(good)
            return self._keep(good) + self.fail(malformed(
                "the provider sent an event whose data is not JSON"))
        self._watch(whole)
        if len(self._held) > MAX_EVENT_BYTES:
            self._held = b""
            sent = self._keep(whole)
            return sent + self.fail(malformed(
                f"the provider sent an event of more than {MAX_EVENT_BYTES} bytes with no end"))
        return self._keep(whole) if whole else []

    def _watch(self, events: bytes) -> None:
        """The passthrough translator sees whole events only, those the client gets."""
        if not events:
            return
        if self.translator.WATCHES_EVENTS:
            for event in self._decoder.decode(events):
                self.translator.feed(event)
        else:
            self.translator.watch_bytes(events)

    def _pass_end(self) -> bytes:
        """The provider's body ended: an incomplete last event is completed when only its
        blank line is missing, dropped when it was cut; then the format's ending."""
        held, self._held = self._held, b""
        tail = b""
        if held.strip():
            if held.endswith((b"\n", b"\r")) and self._started:
                tail = held + b"\n"
                self._watch(tail)
            elif not self.translator.closed:
                tail = _render(self.translator.fail(malformed(
                    "the provider's stream ended in the middle of an event")))
        tail += _render(self.translator.finish())
        self._ended = True
        return self._keep(tail)

    def _translate(self, events: list[SSEEvent]) -> bytes:
        out: list[SSEEvent] = []
        for event in events:
            out.extend(self.translator.feed(event))
        return _render(out)

    def fail(self, error: ErrorInfo) -> bytes:
        """The upstream broke off (called from the error hook): the stream's last bytes."""
        if self._ended:
            return b""
        self._ended = True
        try:
            events = self.translator.fail(error)
        except Exception:
            logger.exception("flow %s: cannot end the stream with an error", self.flow_id)
            events = self.translator.bare_ending(error)
        return self._keep(_render(events))

    def _abort(self, error: ErrorInfo, final: bool) -> bytes | list[bytes]:
        tail = self.fail(error)
        self._ended = True
        if tail:
            return tail
        return b"" if final else []

    def _keep(self, data: bytes) -> bytes:
        """Every byte the client gets passes here: kept for the views, timed, and watched
        for usage (a bytes search per chunk, no parsing on the way)."""
        if data:
            if self.first_out is None:
                self.first_out = time.time()
            if b'"usage"' in data:
                self.usage_chunks = [*self.usage_chunks[-2:], data]
            if self.client.limit:  # 0 under `mitmllm run`: nothing to keep
                self.client.add(data)
        return data

    def keep_in(self, flow: http.HTTPFlow, end: str) -> None:
        """Once the stream is over (`end` says how): what the client got becomes the flow's
        response body, and both sides' timing, with the provider's own stream when it
        differs, go into the flow's metadata for the inspection views."""
        if self.translator.failure and end == "complete":
            end = f"ended with an error event: {self.translator.failure}"
        end = scrub_text(end, self.secrets)
        if not self.client.limit:  # `mitmllm run`: no one looks at flows
            record(flow, answer_end=end)
            return
        if flow.response is not None:
            kept = self.client.body()
            if self.client.cut:
                kept += CUT_NOTE.format(self.client.cut).encode()
            flow.response.set_content(None)
            flow.response.raw_content = kept
        record(flow, client_answer=self.client.summary(with_body=False),
               provider_answer=(self.provider.summary(with_body=True)
                                if self.provider is not None else {"same_as_client": True}),
               answer_end=end)


def _render(events: list[SSEEvent]) -> bytes:
    return b"".join(encode(event) for event in events)


MAX_EVENT_BYTES = 4 * 1024 * 1024  # one event; a real one is a few KiB (a big tool call: MiBs)
_SSE_FIELDS = (b"data", b"event", b"id", b"retry", b":")
# A data line that is neither a JSON object (or array, or `[DONE]`) nor empty: every
# format's events are JSON. One C-speed search per chunk, no parsing.
_NOT_JSON_DATA = re.compile(rb"^data:(?! ?[{\[]| ?\r?$)", re.MULTILINE)


def _last_event_end(data: bytes) -> int:
    """Where the last complete event of `data` ends (after its blank line), 0 if none."""
    ends = [found + len(sep) for sep in (b"\n\n", b"\r\n\r\n", b"\r\r")
            if (found := data.rfind(sep)) >= 0]
    return max(ends, default=0)


def _looks_like_sse(data: bytes) -> bool:
    """The first line of a body is an SSE field or comment (an HTML page, JSON or junk
    labelled text/event-stream is not)."""
    return data.lstrip().startswith(_SSE_FIELDS)


def _not_sse(data: bytes) -> ErrorInfo:
    start = data.lstrip()[:40].decode("utf-8", "replace")
    return malformed(f"the provider's stream is not server-sent events (it starts {start!r})")
