"""Ingress: classify each inbound request, check it, and parse its JSON body once.

Hooks: `requestheaders` classifies the path (also accepted without `/v1`) into a `Kind` and
the client's API format, checks the listen token and the declared body size; `request`
parses the JSON body into the flow's `Exchange`. Anything malformed is answered here, in
the client's own error format: 400 bad JSON, 401 missing token, 404 unknown endpoint,
405 wrong method, 413 too large. The first addon of a flow: it writes the flow's metadata
(kind, client format, model, stream) that the others read.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from mitmproxy import ctx, http

from ..translators.errors import ErrorInfo
from ..translators.formats import Format
from .answers import answer_error, error_response, is_answered
from .fail_closed import fails_closed
from .state import REDACTED, Gateway, Kind, info, is_routed_replay, record

# (path without /v1, method) -> kind, client format
_ENDPOINTS: dict[str, tuple[str, Kind, Format]] = {
    "/chat/completions": ("POST", "chat", "openai"),
    "/messages": ("POST", "messages", "anthropic"),
    "/messages/count_tokens": ("POST", "count_tokens", "anthropic"),
    "/responses": ("POST", "responses", "responses"),
    "/models": ("GET", "models", "openai"),
    "/health": ("GET", "health", "openai"),
    "/ready": ("GET", "ready", "openai"),
    "/metrics": ("GET", "metrics", "openai"),
    "/admin/providers": ("GET", "admin", "openai"),
    "/": ("GET", "root", "openai"),
}
MODEL_KINDS: frozenset[Kind] = frozenset({"chat", "messages", "responses", "count_tokens"})
# Answered without the listen token: liveness and readiness (what a load balancer or
# Kubernetes probes), and the Providers page's shell and assets (no data in them; the page
# asks for the token before it calls the API).
PUBLIC_KINDS: frozenset[Kind] = frozenset({"health", "ready", "admin_page"})
CLIENT_SECRET_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key",
                         "cookie")
_ALLOW = {"GET": "GET, HEAD", "POST": "POST"}
TOO_DEEP = "The request body is nested too deeply to be read."  # the Allow header of a 405


def normalize_path(path: str) -> str:
    """`/v1/chat/completions?x=1` and `/chat/completions/` both read `/chat/completions`."""
    path = path.split("?", 1)[0].split("#", 1)[0].rstrip("/") or "/"
    if path == "/v1" or path.startswith("/v1/"):
        path = path[3:] or "/"
    return path


def classify(method: str, path: str) -> tuple[Kind, Format, str | None]:
    """Kind, client format, and the allowed methods when `method` is not one of them. HEAD
    is GET without the body (`addons/head.py` drops it), so it goes wherever GET goes."""
    if method == "HEAD":
        method = "GET"
    normalized = normalize_path(path)
    if normalized.startswith("/admin/api/"):
        return ("admin_api", "openai", None)  # each endpoint checks its own method
    if normalized == "/admin" or normalized.startswith("/admin/assets/"):
        return ("admin_page", "openai", None if method == "GET" else "GET, HEAD")
    if normalized.startswith("/models/") and len(normalized) > len("/models/"):
        return ("model", "openai", None if method == "GET" else "GET, HEAD")
    endpoint = _ENDPOINTS.get(normalized)
    if endpoint is None:
        fmt: Format = "anthropic" if normalized.startswith("/messages") else "openai"
        return ("unknown", fmt, None)
    allowed, kind, fmt = endpoint
    return (kind, fmt, None if method == allowed else _ALLOW[allowed])


class Ingress:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self._running = False
        gateway.on_config(lambda old, new: self._limit_bodies())

    def running(self) -> None:
        self._running = True
        self._limit_bodies()

    def _limit_bodies(self) -> None:
        """Bodies are bounded while they arrive, by mitmproxy itself (`body_size_limit`);
        the answer is still mitmllm's, in the client's format (`upstream.body_too_large`)."""
        if self._running:
            limit = body_size_limit(self.gateway)
            if ctx.options.body_size_limit != limit:
                ctx.options.body_size_limit = limit

    @fails_closed("read the request")
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if is_answered(flow) or is_routed_replay(flow):
            return
        request = flow.request
        kind, fmt, allowed = classify(request.method, request.path)
        if kind in ("models", "model") and "anthropic-version" in request.headers:
            fmt = "anthropic"  # the Anthropic SDK's models.list() wants its own shape
        record(flow, kind=kind, client_format=fmt)
        authorized = kind in PUBLIC_KINDS or self._authorized(request)
        # The client's own credentials (a team gateway's listen token, or whatever key an
        # SDK insists on) are checked, then never shown: mitmweb, dumps and saved flows see
        # a marker, whatever happens to the flow next.
        for name in CLIENT_SECRET_HEADERS:
            if name in request.headers:
                request.headers[name] = REDACTED
        if kind == "unknown":
            answer_error(flow, 404, f"Unknown endpoint {request.method} {request.path}. "
                         "mitmllm serves /v1/chat/completions, /v1/messages, /v1/responses, "
                         "/v1/models, /health, /admin and /admin/providers (GET / lists them).",
                         code="unknown_url")
            return
        if allowed is not None:
            answer_error(flow, 405, f"{request.path} accepts {allowed}, not {request.method}",
                         code="method_not_allowed")
            flow.response.headers["allow"] = allowed  # type: ignore[union-attr]
            return
        if not authorized:
            answer_error(flow, 401, "This mitmllm requires its listen token: send it as "
                         "`Authorization: Bearer TOKEN` or `x-api-key: TOKEN`.",
                         code="invalid_api_key", error_type="authentication_error")
            return
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body():
            self._too_large(flow)

    @fails_closed("read the request")
    def request(self, flow: http.HTTPFlow) -> None:
        if is_answered(flow) or is_routed_replay(flow):
            return
        if info(flow).get("kind") not in MODEL_KINDS:
            return
        content = flow.request.raw_content or b""
        if len(content) > self._max_body():
            self._too_large(flow)
            return
        body = self._parse(flow, content)
        if body is not None:
            self.gateway.exchange(flow).body = body
            record(flow, model=body["model"], stream=body.get("stream") is True)

    def _parse(self, flow: http.HTTPFlow, content: bytes) -> dict[str, Any] | None:
        if flow.request.headers.get("content-encoding", "identity") not in ("identity", ""):
            try:
                content = flow.request.get_content(strict=True) or b""
            except ValueError:
                answer_error(flow, 400, "The request body's content-encoding cannot be decoded.")
                return None
        try:
            # UTF-8 strictly (RFC 8259): json.loads would also take UTF-16, and UTF-8 bytes
            # of a lone surrogate, which no provider reads and a passthrough cannot edit.
            body = json.loads(content.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            answer_error(flow, 400, f"The request body is not valid JSON: {exc}",
                         code="invalid_json")
            return None
        except RecursionError:
            answer_error(flow, 400, TOO_DEEP, code="invalid_json")
            return None
        if not isinstance(body, dict):
            answer_error(flow, 400, "The request body must be a JSON object.",
                         code="invalid_json")
            return None
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            answer_error(flow, 400, "The request needs a `model` (a non-empty string); "
                         "GET /v1/models lists the available ones.", param="model",
                         code="missing_model")
            return None
        return body

    def _authorized(self, request: http.Request) -> bool:
        token = self.gateway.config.listen.token
        if not token:
            return True
        offered = request.headers.get("x-api-key", "")
        authorization = request.headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            bearer = authorization[7:].strip()
            if hmac.compare_digest(_raw(bearer), _raw(token)):
                return True
        return bool(offered) and hmac.compare_digest(_raw(offered), _raw(token))

    def _max_body(self) -> int:
        return int(self.gateway.config.listen.max_body_mb * 1024 * 1024)

    def _too_large(self, flow: http.HTTPFlow) -> None:
        flow.response = error_response(flow, request_too_large(self.gateway))


def request_too_large(gateway: Gateway) -> ErrorInfo:
    limit = gateway.config.listen.max_body_mb
    return ErrorInfo(413, f"The request body is larger than listen.max_body_mb ({limit:g} MB).",
                     code="request_too_large")


def body_size_limit(gateway: Gateway) -> str:
    """mitmproxy's `body_size_limit` for the config's `listen.max_body_mb`: mitmproxy then
    stops reading a body (the request's, or a provider's whole answer) as soon as it is
    over, instead of holding all of it in memory first."""
    return str(int(gateway.config.listen.max_body_mb * 1024 * 1024))


def _raw(text: str) -> bytes:
    """A header value as the bytes it came as (mitmproxy decodes non-UTF-8 bytes to
    surrogates), so any header compares without an error."""
    return text.encode("utf-8", "surrogateescape")
