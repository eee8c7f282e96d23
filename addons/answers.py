"""Answers the gateway gives itself: JSON bodies and errors in the client's own format."""

from __future__ import annotations

from typing import Any

from mitmproxy import http

from ..translators.errors import ErrorInfo, Format, render_error
from ..translators.json_values import json_bytes
from .state import as_format, info, record

JSON_HEADERS = {"content-type": "application/json"}


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None
                  ) -> http.Response:
    body = json_bytes(payload)
    return http.Response.make(status, body, {**JSON_HEADERS, **(headers or {})})


def client_format(flow: http.HTTPFlow) -> Format:
    """The format the client's errors are rendered in, as ingress classified it."""
    return as_format(info(flow).get("client_format"))


def error_response(flow: http.HTTPFlow, error: ErrorInfo,
                   headers: dict[str, str] | None = None) -> http.Response:
    """The error in the client's format; the flow notes that the answer is mitmllm's, so
    that it is not read as the provider's (`translate_answer`)."""
    status, body = render_error(client_format(flow), error)
    record(flow, gateway_answer=True)
    return json_response(status, body, headers)


def answer_error(flow: http.HTTPFlow, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, error_type: str | None = None) -> None:
    """Answer the flow now, with the gateway's own error in the client's format."""
    flow.response = error_response(flow, ErrorInfo(status, message, error_type, param, code))


def is_answered(flow: http.HTTPFlow) -> bool:
    """The guard every hook starts with, so no addon overrides another's answer."""
    return bool(flow.response or flow.error or not flow.live)
