"""Token usage between the three formats (docs/formats.md#usage), whole and streamed alike.

The formats disagree on one point that matters for cost dashboards: OpenAI `prompt_tokens`
and Responses `input_tokens` include cached tokens, Anthropic `input_tokens` excludes cache
reads and writes (a known pitfall, docs/formats.md#known-pitfalls). Each function takes the
usage object of one format and returns the other's; a count that is missing or of the wrong
type counts as 0.
"""

from __future__ import annotations

from typing import Any

from .chat.types import Usage
from .json_values import as_dict


def anthropic_usage_to_chat(usage: dict[str, Any]) -> Usage:
    """Anthropic usage -> OpenAI usage: cache reads and writes are added to the input."""
    cache_read = _tokens(usage.get("cache_read_input_tokens"))
    prompt = _tokens(usage.get("input_tokens")) + cache_read + _tokens(
        usage.get("cache_creation_input_tokens"))
    completion = _tokens(usage.get("output_tokens"))
    result: Usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }
    details = usage.get("output_tokens_details")
    if isinstance(details, dict) and details.get("thinking_tokens") is not None:
        # output_tokens already includes thinking, as completion_tokens does
        # (docs/formats.md#usage).
        result["completion_tokens_details"] = {
            "reasoning_tokens": _tokens(details["thinking_tokens"])}
    return result


def chat_usage_to_anthropic(usage: dict[str, Any]) -> dict[str, int]:
    """OpenAI usage -> Anthropic usage: cached tokens leave the input count.
    `cache_read_input_tokens` is omitted when 0 (nonstream_16 notes)."""
    details = usage.get("prompt_tokens_details")
    cached = _tokens(details.get("cached_tokens")) if isinstance(details, dict) else 0
    result = {
        "input_tokens": max(_tokens(usage.get("prompt_tokens")) - cached, 0),
        "output_tokens": _tokens(usage.get("completion_tokens")),
    }
    if cached:
        result["cache_read_input_tokens"] = cached
    return result


def responses_usage_to_chat(usage: Any) -> Usage | None:
    """Responses usage -> OpenAI usage: both count cached tokens inside the input."""
    if not isinstance(usage, dict):
        return None
    prompt = _tokens(usage.get("input_tokens"))
    completion = _tokens(usage.get("output_tokens"))
    total = usage.get("total_tokens")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _tokens(total) if isinstance(total, int) else prompt + completion,
        # A missing cached_tokens counts as 0 (nonstream_14's docs example omits it).
        "prompt_tokens_details": {
            "cached_tokens": _tokens(as_dict(usage.get("input_tokens_details")).get(
                "cached_tokens")),
        },
        "completion_tokens_details": {
            "reasoning_tokens": _tokens(as_dict(usage.get("output_tokens_details")).get(
                "reasoning_tokens")),
        },
    }


def chat_usage_to_responses(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI usage -> Responses usage: only the names change. Missing details count as 0."""
    if not isinstance(usage, dict):
        return None
    prompt = _tokens(usage.get("prompt_tokens"))
    completion = _tokens(usage.get("completion_tokens"))
    total = _tokens(usage.get("total_tokens"))
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": _tokens(as_dict(
            usage.get("prompt_tokens_details")).get("cached_tokens"))},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": _tokens(as_dict(
            usage.get("completion_tokens_details")).get("reasoning_tokens"))},
        "total_tokens": total or prompt + completion,
    }


def _tokens(value: Any) -> int:
    """A count: an int, anything else (a bool included) is 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
