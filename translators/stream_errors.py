"""Errors that arrive inside a stream, where no HTTP status comes with them.

Clients pick their exception class from the status, so the status is taken back from the
error type (CONFORMANCE.md section 11): one table for the documented Anthropic types, read
both for Anthropic `error` events and for OpenAI error frames that carry an Anthropic type
(stream_32: `"type":"overloaded_error"` from a hub stream fed by an Anthropic upstream).
The two readers of an OpenAI error frame differ on purpose, as each documents.
"""

from __future__ import annotations

from typing import Any

from .errors import ErrorInfo, error_info_from_payload

STATUS_BY_ANTHROPIC_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_STATUS_BY_OPENAI_TYPE: dict[str, int] = {"insufficient_quota": 402, "server_error": 500}
_UNKNOWN_ERROR_STATUS = 500


def anthropic_event_error(payload: dict[str, Any]) -> ErrorInfo:
    """An Anthropic stream's `error` event; an unknown type is a 500."""
    error_type = _error_type(payload)
    status = STATUS_BY_ANTHROPIC_TYPE.get(error_type, _UNKNOWN_ERROR_STATUS) if isinstance(
        error_type, str) else _UNKNOWN_ERROR_STATUS
    return error_info_from_payload("anthropic", status, payload)


def is_error_frame(payload: dict[str, Any]) -> bool:
    """An OpenAI stream reports an error as a frame `{"error": {...}}` in place of a chunk,
    and ends there (section 9)."""
    return bool(payload.get("error"))


def chat_frame_error(payload: dict[str, Any]) -> ErrorInfo:
    """An OpenAI error frame, for an Anthropic client. An Anthropic type is kept as
    Anthropic's (origin "anthropic"), with its status; any other type is read as OpenAI's."""
    error_type = _error_type(payload)
    if isinstance(error_type, str) and error_type in STATUS_BY_ANTHROPIC_TYPE:
        status = STATUS_BY_ANTHROPIC_TYPE[error_type]
        default = ErrorInfo(status, "upstream error", origin="anthropic")
        return error_info_from_payload("anthropic", status, payload, default)
    status = _STATUS_BY_OPENAI_TYPE.get(str(error_type), _UNKNOWN_ERROR_STATUS)
    default = ErrorInfo(status, "upstream error", origin="openai")
    return error_info_from_payload("openai", status, payload, default)


def chat_frame_error_as_openai(payload: dict[str, Any]) -> ErrorInfo:
    """An OpenAI error frame, for a Responses client: always read as OpenAI's, status 500
    (the HTTP status is already 200; 500 only picks the default type). Unlike
    `chat_frame_error`, an Anthropic type gets no status and no Anthropic origin."""
    return error_info_from_payload("openai", 500, payload)


def _error_type(payload: dict[str, Any]) -> Any:
    error = payload.get("error")
    return error.get("type") if isinstance(error, dict) else None
