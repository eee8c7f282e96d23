"""Errors: the translation error tree, and error bodies in each API format.

Every failure the gateway reports, its own or a provider's, is first an `ErrorInfo`
(status, message, type, param, code) and is then rendered in the *client's* format:

- OpenAI Chat and Open Responses: `{"error": {"message", "type", "param", "code"}}`
- Anthropic Messages: `{"type": "error", "error": {"type", "message"}}`

Status and type mappings follow docs/formats.md#errors and vector errors_42.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from .formats import Format
from .sse import SSEEvent, json_event


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A format-neutral error. `type` and `code` are in the vocabulary of `origin`."""

    status: int
    message: str
    type: str | None = None
    param: str | None = None
    code: str | None = None
    origin: Format | None = None  # the format whose vocabulary `type` uses; None: ours
    request_id: str | None = None


class TranslationError(Exception):
    """A body could not be translated. Subclasses say whose fault it was."""

    status = 400
    error_type = "invalid_request_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code

    def info(self) -> ErrorInfo:
        return ErrorInfo(self.status, self.message, self.error_type, self.param, self.code)


class InvalidRequestError(TranslationError):
    """The client's request is malformed for its own format."""


class UnsupportedFieldError(TranslationError):
    """A client field has no equivalent in the provider's format; `param` names it.

    Translation to the hub does not know the provider's format: its reasons say `{target}`,
    which the hub fills in with that format's name (`naming`)."""

    def __init__(self, param: str, reason: str):
        super().__init__(f"'{param}' is not supported by this provider: {reason}", param=param,
                         code="unsupported_parameter")
        self.reason = reason

    def naming(self, target: str) -> UnsupportedFieldError:
        return UnsupportedFieldError(self.param or "", self.reason.replace(TARGET, target))


TARGET = "{target}"  # the provider's format, in the reasons of UnsupportedFieldError


class UpstreamFormatError(TranslationError):
    """The provider answered something that is not valid in its declared format."""

    status = 502
    error_type = "server_error"

    def __init__(self, message: str):
        super().__init__(message, code="bad_upstream_response")


# OpenAI error type and code for a status, used for the gateway's own errors and for
# errors of other formats shown to OpenAI-format clients.
_OPENAI_BY_STATUS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    402: ("insufficient_quota", "insufficient_quota"),
    403: ("permission_error", None),
    404: ("invalid_request_error", None),
    408: ("server_error", "timeout"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("server_error", None),
    501: ("invalid_request_error", "not_implemented"),
    502: ("server_error", None),
    503: ("server_error", "overloaded"),
    504: ("server_error", "timeout"),
    529: ("server_error", "overloaded"),  # Anthropic's overload, shown to OpenAI clients as 503
}

_ANTHROPIC_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# Anthropic statuses that OpenAI clients understand better under another number.
_OPENAI_STATUS_FOR_ANTHROPIC = {529: 503, 402: 429}


def _openai_type(status: int) -> tuple[str, str | None]:
    if status in _OPENAI_BY_STATUS:
        return _OPENAI_BY_STATUS[status]
    return ("server_error", None) if status >= 500 else ("invalid_request_error", None)


def _anthropic_type(status: int) -> str:
    if status in _ANTHROPIC_BY_STATUS:
        return _ANTHROPIC_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def openai_error_body(info: ErrorInfo) -> dict[str, Any]:
    """The OpenAI / Open Responses error object, with its status for OpenAI clients."""
    default_type, default_code = _openai_type(info.status)
    if info.origin == "anthropic":
        # An Anthropic type names the cause precisely; OpenAI clients read it as the code.
        code = default_code or info.type
        error_type = default_type
    elif info.origin in ("openai", "responses"):
        error_type = info.type or default_type
        code = info.code
    else:
        error_type = info.type or default_type
        code = info.code or default_code
    return {"error": {"message": info.message, "type": error_type, "param": info.param,
                      "code": code}}


def anthropic_error_body(info: ErrorInfo) -> dict[str, Any]:
    error_type = info.type if info.origin == "anthropic" and info.type else _anthropic_type(
        info.status)
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type,
                                                       "message": info.message}}
    if info.request_id:
        body["request_id"] = info.request_id
    return body


def render_error(client: Format, info: ErrorInfo) -> tuple[int, dict[str, Any]]:
    """Status and body of an HTTP error answer in the client's format."""
    if client == "anthropic":
        return info.status, anthropic_error_body(info)
    status = info.status
    if info.origin == "anthropic":
        status = _OPENAI_STATUS_FOR_ANTHROPIC.get(status, status)
    return status, openai_error_body(info)


# -- errors inside a stream -----------------------------------------------------------------
# Once a stream has started its HTTP status is sent; the error travels as an event, and the
# client's SDK picks its exception class from the error type.


def chat_error_frame(info: ErrorInfo) -> SSEEvent:
    """How an OpenAI Chat stream ends with an error: one `data: {"error": ...}` frame (the
    openai SDK raises on it) and no `[DONE]`. The type keeps the provider's word
    (`overloaded_error`), as in vector stream_32 (docs/formats.md#how-a-stream-ends)."""
    error_type = info.type or _openai_type(info.status)[0]
    code = info.code or (info.type if info.origin == "anthropic" else None)
    return json_event({"error": {"message": info.message, "type": error_type,
                                 "param": info.param, "code": code}})


def anthropic_error_event(info: ErrorInfo) -> SSEEvent:
    """How an Anthropic stream ends with an error: one `event: error`."""
    return json_event(anthropic_error_body(info), "error")


# Anthropic's documented error types and their statuses: a stream error carries a type but
# no status, and clients pick their exception class from the status.
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
    and ends there (docs/formats.md#how-a-stream-ends)."""
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


# -- reading a provider's error --------------------------------------------------------------


def parse_error_body(provider: Format, status: int, body: bytes,
                     request_id: str | None = None) -> ErrorInfo:
    """Read a provider's error answer, whatever shape it has (JSON of its format, other
    JSON such as `{"detail": ...}`, or plain text), keeping its status and message."""
    info = ErrorInfo(status, f"upstream answered HTTP {status}", origin=provider,
                     request_id=request_id)
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", errors="replace").strip()
        return replace(info, message=text[:1000]) if text else info
    return error_info_from_payload(provider, status, parsed, info)


def error_info_from_payload(provider: Format, status: int, payload: Any,
                            default: ErrorInfo | None = None) -> ErrorInfo:
    """An `ErrorInfo` from a parsed error payload (an HTTP body or a stream's error event)."""
    info = default or ErrorInfo(status, f"upstream error (HTTP {status})", origin=provider)
    if not isinstance(payload, dict):
        return info
    request_id = payload.get("request_id") if isinstance(payload.get("request_id"), str) else None
    error = payload.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        return replace(
            info,
            message=str(message) if message else info.message,
            type=_str_or_none(error.get("type")),
            param=_str_or_none(error.get("param")),
            code=_str_or_none(error.get("code")),
            request_id=info.request_id or request_id,
        )
    if isinstance(error, str):
        return replace(info, message=error)
    # Open Responses' flat error event: {"type": "error", "code", "message", "param"}
    for key in ("message", "detail", "msg"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return replace(info, message=value, code=_str_or_none(payload.get("code")),
                           param=_str_or_none(payload.get("param")))
    return info


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
