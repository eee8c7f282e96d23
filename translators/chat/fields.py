"""Fields of OpenAI Chat bodies that several translators read: the output limit and the
tool_choice modes of a request, the text and the reasoning of an answer message or delta.

Where two translators have read a field in slightly different ways, both readings are here
side by side, each documented, so that neither answer changes without notice.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidRequestError

# The tool_choice strings of Chat; Responses takes the same three, with the same meaning.
TOOL_CHOICE_MODES = frozenset({"auto", "none", "required"})
# `reasoning_content` (DeepSeek, LiteLLM) or `reasoning` (vLLM >= 0.10, OpenRouter).
_REASONING_FIELDS = ("reasoning_content", "reasoning")


def requested_max_tokens(body: dict[str, Any]) -> int | None:
    """The output limit a Chat request asks for; the newer name `max_completion_tokens`
    wins over `max_tokens` (docs/formats.md#sampling-and-limits). A null is a field not
    sent."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is not None:
            return output_limit(value, name)
    return None


def output_limit(value: Any, name: str) -> int:
    """An output limit, or a 400 naming the field as the client sent it (an Anthropic
    client's `max_tokens` is the hub's `max_completion_tokens`)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequestError(f"'{name}' must be a positive integer", param=name)
    return value


# An Anthropic thinking budget as an OpenAI reasoning effort (LiteLLM's buckets): the first
# floor the budget reaches wins; a negative budget (OpenCode's -1) means as much as the model
# likes.
_EFFORT_BY_BUDGET: tuple[tuple[int, str], ...] = ((10000, "high"), (5000, "medium"),
                                                  (2000, "low"))


def effort_for_budget(budget: int) -> str:
    if budget < 0:
        return "high"
    return next((effort for floor, effort in _EFFORT_BY_BUDGET if budget >= floor), "minimal")


def reasoning_text(message: dict[str, Any]) -> str | None:
    """The first reasoning field (`reasoning_content`, then `reasoning`) that holds a
    non-empty string; OpenRouter's `reasoning_details` are read by `reasoning.text_of`."""
    for key in _REASONING_FIELDS:
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def message_text(content: Any) -> str:
    """String content, or its text parts joined; a null or empty `text` adds nothing."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text") or "") for part in content
                       if isinstance(part, dict) and part.get("type") == "text")
    return ""


def usage_asked_for(chat: dict[str, Any]) -> tuple[str, ...]:
    """The `defaulted` note of a hub request that asks its provider for stream usage (the
    client's format ends its stream with usage; docs/formats.md#usage)."""
    if chat.get("stream_options") == {"include_usage": True}:
        return ("stream_options.include_usage = true (the usage that ends the client's "
                "stream)",)
    return ()
