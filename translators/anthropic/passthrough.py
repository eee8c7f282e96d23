"""Anthropic on both sides: the stream passed through to an Anthropic client
(docs/formats.md#how-a-stream-ends), and the one request repair a passthrough needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ErrorInfo, InvalidRequestError, anthropic_error_event
from ..sse import SSEEvent
from ..stream import PassthroughStream
from .provider_request import MIN_THINKING_BUDGET, valid_budget


@dataclass(kw_only=True, slots=True)
class AnthropicPassthrough(PassthroughStream):
    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        return [anthropic_error_event(error)]


def repaired_request(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]] | None:
    """An Anthropic client's request that the Anthropic API would refuse for a value only a
    gateway in between can see is meant differently, made acceptable; None when the request
    goes on byte for byte. Today: a thinking budget below Anthropic's minimum (OpenCode sends
    -1 for "as much as the model likes"), with `max_tokens` kept above the budget."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        return None
    given = thinking.get("budget_tokens")
    try:
        budget = valid_budget(given)
    except InvalidRequestError:
        return None  # the provider's own error says it better
    if budget is None or budget == given:
        return None
    out = {**body, "thinking": {**thinking, "budget_tokens": budget}}
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens <= budget:
        out["max_tokens"] = max_tokens + budget
    return out, [f"thinking.budget_tokens {given} (sent as {budget}: Anthropic's range "
                 f"starts at {MIN_THINKING_BUDGET})"]
