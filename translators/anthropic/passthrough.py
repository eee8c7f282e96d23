"""Anthropic on both sides: the stream passed through to an Anthropic client
(docs/formats.md#how-a-stream-ends), and the one request repair a passthrough needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ErrorInfo, InvalidRequestError, anthropic_error_event
from ..reasoning import SEAL_PREFIX
from ..sse import SSEEvent
from ..stream import PassthroughStream
from .provider_request import (
    MIN_THINKING_BUDGET,
    continuation_keeps_thinking,
    valid_budget,
)


@dataclass(kw_only=True, slots=True)
class AnthropicPassthrough(PassthroughStream):
    TERMINATOR = b"event: message_stop"
    ERROR_MARK = b"event: error"

    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        return [anthropic_error_event(error)]


def repaired_request(body: dict[str, Any], raw: bytes) -> tuple[dict[str, Any],
                                                               list[str]] | None:
    """An Anthropic client's request that the Anthropic API would refuse for something only
    a gateway in between knows, made acceptable; None when the request goes on byte for
    byte. Two cases:

    - a thinking budget below Anthropic's minimum (OpenCode sends -1 for "as much as the
      model likes"), with `max_tokens` kept above the budget;
    - thinking blocks mitmllm sealed for another provider's reasoning (a conversation that
      moved to an Anthropic model): Anthropic would refuse their signature, so they go, and
      if the continued tool turn is left without one, so does thinking for this request.
    """
    changes: list[str] = []
    # The walk over the conversation only when a seal is in the bytes at all.
    out = _without_sealed_thinking(body, changes) if _SEAL in raw else body
    thinking = out.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        given = thinking.get("budget_tokens")
        try:
            budget = valid_budget(given)
        except InvalidRequestError:
            budget = None  # the provider's own error says it better
        if budget is not None and budget != given:
            out = {**out, "thinking": {**thinking, "budget_tokens": budget}}
            max_tokens = out.get("max_tokens")
            if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) \
                    and max_tokens <= budget:
                out["max_tokens"] = max_tokens + budget
            changes.append(f"thinking.budget_tokens {given} (sent as {budget}: Anthropic's "
                           f"range starts at {MIN_THINKING_BUDGET})")
    return (out, changes) if changes else None


def _without_sealed_thinking(body: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return body
    kept: list[Any] = []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and message.get("role") == "assistant":
            blocks = [b for b in content if not _sealed(b)]
            if len(blocks) < len(content):
                changes.append(f"messages[{i}] thinking (another provider's, sealed by "
                               "mitmllm: not Anthropic's to check)")
                message = {**message, "content": blocks}
        kept.append(message)
    if not changes:
        return body
    out = {**body, "messages": kept}
    thinking = out.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled") \
            and not continuation_keeps_thinking(kept):
        del out["thinking"]
        changes.append("thinking (the continued tool turn has no signed thinking block)")
    return out


_SEAL = SEAL_PREFIX.encode()


def _sealed(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") == "thinking" and isinstance(
        block.get("signature"), str) and block["signature"].startswith(SEAL_PREFIX)
