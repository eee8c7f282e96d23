"""An OpenAI Chat stream passed through to an OpenAI Chat client
(docs/formats.md#how-a-stream-ends)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ErrorInfo, chat_error_frame
from ..sse import SSEEvent
from ..stream import PassthroughStream

# A chunk that ends the answer, in either spacing; `"finish_reason":null` is every other chunk.
_FINISHED = (b'"finish_reason":"', b'"finish_reason": "')


@dataclass(kw_only=True, slots=True)
class ChatPassthrough(PassthroughStream):
    TERMINATOR = b"data: [DONE]"
    ERROR_MARK = b'data: {"error"'

    finished: bool = field(default=False, init=False)  # a finish_reason went by

    def watch_bytes(self, chunk: bytes) -> None:
        if not self.finished:
            # Split across chunks it is only missed, and then only matters without [DONE].
            self.finished = _FINISHED[0] in chunk or _FINISHED[1] in chunk
        PassthroughStream.watch_bytes(self, chunk)

    def on_eof(self) -> list[SSEEvent]:
        # Some OpenAI-compatible servers end a complete answer without `[DONE]`, as the
        # translated streams accept (anthropic/client_answer.py).
        return [] if self.finished else PassthroughStream.on_eof(self)

    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        return [chat_error_frame(error)]
