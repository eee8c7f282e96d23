"""A Responses stream passed through to a Responses client (docs/formats.md#how-a-stream-ends).

An error ending continues the provider's own stream: `response.failed` repeats the response
the provider announced (with any key the Open Responses spec requires and the provider left
out filled in), and the sequence numbers go on from the provider's last one. A stream that
breaks off before the provider's first event opens with `response.created` and
`response.in_progress` first, as a translated one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ErrorInfo
from ..json_values import parse_object
from ..sse import SSEEvent, json_event
from ..stream import PassthroughStream
from .objects import failed_events, with_required_keys

# The events that carry the whole response object; every other event is only counted, so
# a delta costs no JSON parsing.
_RESPONSE_EVENTS = frozenset({"response.created", "response.in_progress", None})
_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed",
                              "error"})


@dataclass(kw_only=True, slots=True)
class ResponsesPassthrough(PassthroughStream):
    WATCHES_EVENTS = True

    response: dict[str, Any] = field(default_factory=dict, init=False)  # the provider's
    sequence: int = field(default=-1, init=False)  # the provider's last sequence number

    def watch(self, event: SSEEvent) -> None:
        if event.event in _TERMINAL_EVENTS or event.is_done:
            self.closed = True  # the answer is whole; nothing after it needs an ending
            return
        # Sequence numbers go up by one per event.
        if event.event not in _RESPONSE_EVENTS:
            self.sequence += 1
            return
        payload = parse_object(event.data)
        number = payload.get("sequence_number") if payload is not None else None
        # A provider that numbers nothing still had this event: count it, so the ending's
        # numbers follow the events the client got.
        self.sequence = number if isinstance(number, int) else self.sequence + 1
        if payload is None:
            return
        if isinstance(payload.get("response"), dict):
            self.response = payload["response"]

    def ending(self, error: ErrorInfo) -> list[SSEEvent]:
        response = with_required_keys(self.response)
        if self.sequence >= 0:
            return failed_events(response, error, self.sequence + 1)
        # Broken off before its first event: the stream opens as every Responses stream
        # does before it fails (docs/formats.md#how-a-stream-ends).
        opening = [json_event({"type": kind, "sequence_number": number, "response": response},
                              kind)
                   for number, kind in enumerate(("response.created", "response.in_progress"))]
        return opening + failed_events(response, error, len(opening))

    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        return failed_events(with_required_keys({}), error, 0)
