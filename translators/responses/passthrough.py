"""A Responses stream passed through to a Responses client (docs/formats.md#how-a-stream-ends).

An error ending continues the provider's own stream: `response.failed` repeats the response
the provider announced, and the sequence numbers go on from the provider's last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ErrorInfo
from ..json_values import parse_object
from ..sse import SSEEvent
from ..stream import PassthroughStream
from .objects import failed_events

# The events that carry the whole response object; every other event is only counted, so
# a delta costs no JSON parsing.
_RESPONSE_EVENTS = frozenset({"response.created", "response.in_progress", None})
_NO_RESPONSE: dict[str, Any] = {"id": "resp_failed", "object": "response", "output": []}


@dataclass(kw_only=True, slots=True)
class ResponsesPassthrough(PassthroughStream):
    response: dict[str, Any] = field(default_factory=lambda: dict(_NO_RESPONSE), init=False)
    sequence: int = field(default=-1, init=False)  # the provider's last sequence number

    def watch(self, event: SSEEvent) -> None:
        # Sequence numbers go up by one per event.
        if event.event not in _RESPONSE_EVENTS:
            self.sequence += 1
            return
        payload = parse_object(event.data)
        if payload is None:
            return
        if isinstance(payload.get("sequence_number"), int):
            self.sequence = payload["sequence_number"]
        if isinstance(payload.get("response"), dict):
            self.response = payload["response"]

    def ending(self, error: ErrorInfo) -> list[SSEEvent]:
        return failed_events(self.response, error, self.sequence + 1)

    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        return failed_events(dict(_NO_RESPONSE), error, 0)
