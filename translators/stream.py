"""The interface of a stream translator: one object per streamed answer, holding its state.

The addon that drives it decodes bytes with `sse.SSEDecoder`, calls `feed` for every
upstream event, `finish` when the upstream body ends, or `fail` when the upstream
connection breaks or times out, and encodes whatever comes back for the client.
"""

from __future__ import annotations

from typing import Protocol

from .errors import ErrorInfo
from .sse import SSEEvent


class StreamTranslator(Protocol):
    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        """Events for the client caused by one upstream event (often none or one)."""
        ...

    def finish(self) -> list[SSEEvent]:
        """The upstream body ended. Emit the tail; if the upstream stream ended before its
        terminal event, that is an error and the client gets an error frame."""
        ...

    def fail(self, error: ErrorInfo) -> list[SSEEvent]:
        """The upstream broke off (connection lost, timeout): end the client's stream with
        an error in its own format. Nothing is fed afterwards."""
        ...
