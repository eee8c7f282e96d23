"""An OpenAI Chat stream passed through to an OpenAI Chat client
(docs/formats.md#how-a-stream-ends)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ErrorInfo, chat_error_frame
from ..sse import SSEEvent
from ..stream import PassthroughStream


@dataclass(kw_only=True, slots=True)
class ChatPassthrough(PassthroughStream):
    TERMINATOR = b"data: [DONE]"
    ERROR_MARK = b'data: {"error"'

    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        return [chat_error_frame(error)]
