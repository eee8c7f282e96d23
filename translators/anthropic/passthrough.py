"""An Anthropic stream passed through to an Anthropic client
(docs/formats.md#how-a-stream-ends)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ErrorInfo, anthropic_error_event
from ..sse import SSEEvent
from ..stream import PassthroughStream


@dataclass(kw_only=True, slots=True)
class AnthropicPassthrough(PassthroughStream):
    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        return [anthropic_error_event(error)]
