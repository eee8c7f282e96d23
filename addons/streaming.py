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

A bounded copy of what the client received is kept so mitmweb can show streamed answers.
"""

from __future__ import annotations

import logging

from mitmproxy import http

from ..translators.errors import ErrorInfo
from ..translators.sse import SSEDecoder, SSEEvent, encode
from ..translators.stream import StreamTranslator

logger = logging.getLogger(__name__)

KEEP_BYTES = 256 * 1024  # per flow, for inspection


class StreamAdapter:
    __slots__ = ("_decoder", "_ended", "_kept", "_overflow", "_pending_error", "flow_id",
                 "translator")

    def __init__(self, translator: StreamTranslator, *, flow_id: str):
        self.translator = translator
        self.flow_id = flow_id
        self._decoder = SSEDecoder()
        self._ended = False
        self._kept = bytearray()
        self._overflow = 0
        self._pending_error: ErrorInfo | None = None

    @classmethod
    def failed(cls, translator: StreamTranslator, error: ErrorInfo, *,
               flow_id: str) -> StreamAdapter:
        """An adapter that answers the whole stream with `translator`'s error ending."""
        adapter = cls(translator, flow_id=flow_id)
        adapter._pending_error = error
        return adapter

    def __call__(self, chunk: bytes) -> bytes | list[bytes]:
        if self._pending_error is not None:
            error, self._pending_error = self._pending_error, None
            return self._abort(error, final=not chunk)
        if self._ended:
            return b"" if not chunk else []
        try:
            if not chunk:
                # A passthrough's feed gives nothing, so its tail is only what `finish` adds.
                tail = self._translate(self._decoder.flush())
                tail += _render(self.translator.finish())
                self._ended = True
                return self._keep(tail)
            if not self.translator.REWRITES:
                if self.translator.WATCHES_EVENTS:
                    for event in self._decoder.decode(chunk):
                        self.translator.feed(event)
                return self._keep(chunk)
            return self._keep(self._translate(self._decoder.decode(chunk))) or []
        except Exception:
            logger.exception("flow %s: the stream could not be translated; ending it", self.flow_id)
            return self._abort(ErrorInfo(502, "mitmllm could not translate the provider's "
                                         "stream (the proxy log has the details).",
                                         code="translation_failed"), final=not chunk)

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
        room = KEEP_BYTES - len(self._kept)
        if room > 0:
            self._kept += data[:room]
        self._overflow += max(0, len(data) - max(room, 0))
        return data

    def keep_in(self, response: http.Response) -> None:
        """Store the copy as the flow's body once the stream is over (for mitmweb)."""
        kept = bytes(self._kept)
        if self._overflow:
            kept += f"\n: [mitmllm: {self._overflow} more bytes not kept]\n".encode()
        response.set_content(None)
        response.raw_content = kept


def _render(events: list[SSEEvent]) -> bytes:
    return b"".join(encode(event) for event in events)
