"""The per-flow stream callable: bytes in, bytes out, one event at a time.

mitmproxy calls `flow.response.stream` with every chunk of the upstream body and once with
`b""` at the end. `StreamAdapter` decodes the chunk into SSE events, feeds them to the flow's
stream translator, and encodes what comes back, so each upstream event reaches the client
as soon as it arrives. With no translator (same format on both sides) chunks pass through
unchanged.

Two rules from mitmproxy's side: never return `b""` before the end (HTTP/1 chunked framing
would end the body; an empty list holds nothing back instead), and never raise (an
exception in a stream callable kills the connection). Any unexpected error is logged once
with the flow id and the client's stream ends with an error event in its format.

A bounded copy of what the client received is kept so mitmweb can show streamed answers.
"""

from __future__ import annotations

import json
import logging

from mitmproxy import http

from ..translators.errors import ErrorInfo, Format, stream_error_events
from ..translators.sse import SSEDecoder, SSEEvent, encode
from ..translators.stream import StreamTranslator

logger = logging.getLogger(__name__)

KEEP_BYTES = 256 * 1024  # per flow, for inspection


def error_events(client: Format, error: ErrorInfo) -> list[SSEEvent]:
    """The end of a client stream that has no translator (same format on both sides)."""
    if client == "responses":
        payload = {"type": "error", "code": error.code or error.type or "server_error",
                   "message": error.message, "param": error.param}
        return [SSEEvent(json.dumps(payload, separators=(",", ":")), "error")]
    return stream_error_events(client, error)


class StreamAdapter:
    __slots__ = ("_decoder", "_ended", "_kept", "_overflow", "_pending_error", "client",
                 "flow_id", "translator")

    def __init__(self, client: Format, translator: StreamTranslator | None, *, flow_id: str):
        self.client = client
        self.translator = translator
        self.flow_id = flow_id
        self._decoder = SSEDecoder() if translator is not None else None
        self._ended = False
        self._kept = bytearray()
        self._overflow = 0
        self._pending_error: ErrorInfo | None = None

    @classmethod
    def failed(cls, client: Format, error: ErrorInfo, *, flow_id: str) -> StreamAdapter:
        """An adapter that answers the whole stream with one error event."""
        adapter = cls(client, None, flow_id=flow_id)
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
                tail = self._finish()
                self._ended = True
                return self._keep(tail)
            if self.translator is None:
                return self._keep(chunk) or []
            out = self._translate(chunk)
            return self._keep(out) or []
        except Exception:
            logger.exception("flow %s: the stream could not be translated; ending it", self.flow_id)
            return self._abort(ErrorInfo(502, "mitmllm could not translate the provider's "
                                         "stream (the proxy log has the details).",
                                         code="translation_failed"), final=not chunk)

    def _translate(self, chunk: bytes) -> bytes:
        assert self._decoder is not None and self.translator is not None
        events = []
        for event in self._decoder.decode(chunk):
            events.extend(self.translator.feed(event))
        return b"".join(encode(e) for e in events)

    def _finish(self) -> bytes:
        if self.translator is None or self._decoder is None:
            return b""
        events = []
        for event in self._decoder.flush():
            events.extend(self.translator.feed(event))
        events.extend(self.translator.finish())
        return b"".join(encode(e) for e in events)

    def fail(self, error: ErrorInfo) -> bytes:
        """The upstream broke off (called from the error hook): the stream's last bytes."""
        if self._ended:
            return b""
        self._ended = True
        try:
            events = (self.translator.fail(error) if self.translator is not None
                      else error_events(self.client, error))
        except Exception:
            logger.exception("flow %s: cannot end the stream with an error", self.flow_id)
            events = error_events(self.client, error)
        return self._keep(b"".join(encode(e) for e in events))

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
