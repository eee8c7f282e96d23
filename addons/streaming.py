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

import logging
from typing import Any

from mitmproxy import http

from ..translators.errors import ErrorInfo, Format, openai_error_body, stream_error_events
from ..translators.sse import SSEDecoder, SSEEvent, encode, json_event
from ..translators.stream import StreamTranslator

logger = logging.getLogger(__name__)

KEEP_BYTES = 256 * 1024  # per flow, for inspection
_RESPONSE_EVENTS = frozenset({"response.created", "response.in_progress", None})


def error_events(client: Format, error: ErrorInfo, *, response: dict[str, Any] | None = None,
                 sequence: int = -1) -> list[SSEEvent]:
    """The end of a client stream that has no translator (same format on both sides).

    Responses clients get what CONFORMANCE section 11 asks: an `error` event (flat, and
    nested under `error` so the openai SDK raises), then `response.failed` for the response
    the provider had started, then [DONE]."""
    if client != "responses":
        return stream_error_events(client, error)
    body = openai_error_body(error)["error"]
    code = body["code"] or body["type"] or "server_error"
    failed = {**(response or {"id": "resp_failed", "object": "response", "output": []}),
              "status": "failed", "error": {"code": code, "message": body["message"]}}
    return [json_event({"type": "error", "sequence_number": sequence + 1, "code": code,
                        "message": body["message"], "param": body["param"], "error": body},
                       "error"),
            json_event({"type": "response.failed", "sequence_number": sequence + 2,
                        "response": failed}, "response.failed"),
            SSEEvent("[DONE]")]


class StreamAdapter:
    __slots__ = ("_decoder", "_ended", "_kept", "_overflow", "_pending_error", "_response",
                 "_sequence", "client", "flow_id", "translator")

    def __init__(self, client: Format, translator: StreamTranslator | None, *, flow_id: str):
        self.client = client
        self.translator = translator
        self.flow_id = flow_id
        # A same-format Responses stream is watched (not changed) for the response object and
        # the sequence number an error ending would continue.
        self._decoder = SSEDecoder() if translator is not None or client == "responses" \
            else None
        self._response: dict[str, Any] | None = None
        self._sequence = -1
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
                if self._decoder is not None:
                    self._watch(chunk)
                return self._keep(chunk) or []
            out = self._translate(chunk)
            return self._keep(out) or []
        except Exception:
            logger.exception("flow %s: the stream could not be translated; ending it", self.flow_id)
            return self._abort(ErrorInfo(502, "mitmllm could not translate the provider's "
                                         "stream (the proxy log has the details).",
                                         code="translation_failed"), final=not chunk)

    def _watch(self, chunk: bytes) -> None:
        assert self._decoder is not None
        for event in self._decoder.decode(chunk):
            # Sequence numbers go up by one per event: only the events that carry the
            # response object are parsed, the rest are counted (a delta costs no JSON).
            if event.event not in _RESPONSE_EVENTS:
                self._sequence += 1
                continue
            try:
                payload = event.json()
            except ValueError:
                continue
            if isinstance(payload, dict):
                if isinstance(payload.get("sequence_number"), int):
                    self._sequence = payload["sequence_number"]
                if isinstance(payload.get("response"), dict):
                    self._response = payload["response"]

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
                      else error_events(self.client, error, response=self._response,
                                        sequence=self._sequence))
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
