"""Why an answer ended, in each format (docs/formats.md#stop-reasons): the tables and their
readers.

Whole answers and streams of one direction look up the same table, so both report the same
reason. An unknown (newer) reason never fails a translation: it reads as a normal end.
"""

from __future__ import annotations

from typing import Any

from .chat.types import FinishReason
from .json_values import as_dict

# Anthropic stop_reason -> OpenAI finish_reason. Truncation wins over a half-written tool
# call: `max_tokens` is `length` even when the turn ended inside a tool_use block
# (vllm#58228-class bug).
FINISH_BY_ANTHROPIC_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# OpenAI finish_reason -> Anthropic stop_reason. `function_call` is the legacy name of
# `tool_calls`.
ANTHROPIC_STOP_BY_FINISH: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
DEFAULT_ANTHROPIC_STOP = "end_turn"

# Responses status -> OpenAI finish_reason. A `completed` answer with a function_call item
# becomes `tool_calls`; `failed` is an error, never a finish reason.
_FINISH_BY_RESPONSES_STATUS: dict[str, FinishReason] = {
    "completed": "stop",
    "cancelled": "stop",
    "incomplete": "length",
}
# The OpenAPI example says `max_tokens` although the enum says `max_output_tokens`, so
# every incomplete reason but content_filter counts as a truncation.
_FINISH_BY_INCOMPLETE_REASON: dict[str, FinishReason] = {
    "content_filter": "content_filter",
}

# OpenAI finish_reason -> Responses incomplete_details.reason. Anything not listed (stop,
# tool_calls, function_call, provider words) completes.
_INCOMPLETE_BY_FINISH: dict[str, str] = {
    "length": "max_output_tokens",
    "content_filter": "content_filter",
}


def finish_reason_from_anthropic(stop_reason: object) -> FinishReason:
    """An unknown stop reason, or one that is not a string, is a normal stop."""
    return FINISH_BY_ANTHROPIC_STOP.get(stop_reason, "stop") if isinstance(
        stop_reason, str) else "stop"


def anthropic_stop_reason(finish_reason: object) -> str:
    return ANTHROPIC_STOP_BY_FINISH.get(finish_reason, DEFAULT_ANTHROPIC_STOP) if isinstance(
        finish_reason, str) else DEFAULT_ANTHROPIC_STOP


def finish_reason_from_responses(status: str, incomplete_details: Any,
                                 has_function_call: bool) -> FinishReason:
    """The OpenAI finish_reason of a Responses answer that ended with `status`."""
    if status == "incomplete":
        reason = as_dict(incomplete_details).get("reason")
        return _FINISH_BY_INCOMPLETE_REASON.get(str(reason), "length")
    if status == "completed" and has_function_call:
        return "tool_calls"
    return _FINISH_BY_RESPONSES_STATUS.get(status, "stop")


def responses_status(finish_reason: object) -> tuple[str, str | None]:
    """`(status, incomplete reason)` of a Response for a Chat finish_reason (one that is not
    a string completes)."""
    reason = _INCOMPLETE_BY_FINISH.get(finish_reason) if isinstance(finish_reason, str) else None
    return ("incomplete", reason) if reason else ("completed", None)
