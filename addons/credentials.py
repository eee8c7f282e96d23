"""Credentials: point the request at the provider and give it the provider's headers.

Hook: `request`, after translate set the path. Sets scheme, host and port; drops whatever
auth the client sent (SDKs insist on some key, and it must never reach a provider); adds the
provider's plain custom headers; and arranges its secrets: the API key header and the secret
headers.

Secret values never enter the flow. The flow carries a redacted marker, and the real values
sit in the flow's `Exchange.wire_headers`, which the upstream layer (`addons/upstream.py`)
swaps in on a copy of the request at the moment it is written to the provider. So mitmweb,
`mitmdump -w`, intercepts and every later addon only ever see the marker. A replayed flow
(from mitmweb or a saved file) does not pass through that layer, so its secrets are set on
the request itself, by `ReplaySecrets`, the last addon, in the `update` event mitmproxy
runs after the `request` hook: every flow list has shown the flow by then, and the request
goes out right after. They are redacted again as soon as the answer's headers arrive.

It expects the flow's `Route` (set by the router; for a replayed saved flow, the route saved
in its metadata) and acts only on flows routed to a provider.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from mitmproxy import flow, http

from ..config.auth import ANTHROPIC_VERSION, MissingKeyError, ProviderHeaders
from ..config.model import ProviderConfig
from ..config.secrets import SecretError
from .answers import answer_error, is_answered
from .fail_closed import fails_closed
from .secret_echo import secret_values
from .state import REDACTED, Gateway, Route

logger = logging.getLogger(__name__)


# Client headers that identify the client's own account somewhere; never forwarded.
CLIENT_AUTH_HEADERS = ("authorization", "x-api-key", "api-key", "openai-organization",
                       "openai-project", "proxy-authorization", "cookie")


def drop_client_auth(request: http.Request, keep_anthropic_version: bool) -> None:
    for name in CLIENT_AUTH_HEADERS:
        request.headers.pop(name, None)
    if not keep_anthropic_version:
        request.headers.pop("anthropic-version", None)
        request.headers.pop("anthropic-beta", None)


def point_at(request: http.Request, provider: ProviderConfig) -> None:
    request.scheme = provider.protocol
    request.port = provider.effective_port
    request.host = provider.host
    default_port = 443 if provider.protocol == "https" else 80
    host = f"[{provider.host}]" if ":" in provider.host else provider.host
    request.host_header = (host if provider.effective_port == default_port
                           else f"{host}:{provider.effective_port}")


class Credentials:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway

    @fails_closed("add the provider's credentials")
    def request(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        if is_answered(flow):
            return None
        route = self.gateway.route(flow)
        if route is None or route.provider is None:
            return None  # a local model or a gateway answer: nothing to authenticate
        cached = self.gateway.secret_cache.cached(route.provider)
        if cached is not None:
            self._apply(flow, route, route.provider, cached)
            return None
        return self._resolve_and_apply(flow, route, route.provider)

    async def _resolve_and_apply(self, flow: http.HTTPFlow, route: Route,
                                 provider: ProviderConfig) -> None:
        try:
            headers = await asyncio.to_thread(self.gateway.secret_cache.headers, provider)
        except MissingKeyError as exc:
            answer_error(flow, 401, str(exc), code="missing_provider_key",
                         error_type="authentication_error")
            return
        except SecretError as exc:
            logger.error("provider %s: %s", provider.name, exc)
            answer_error(flow, 503, f"Cannot read the secrets of provider '{provider.name}': "
                         f"{exc}", code="keychain_unavailable")
            return
        self._apply(flow, route, provider, headers)

    def _apply(self, flow: http.HTTPFlow, route: Route, provider: ProviderConfig,
               headers: ProviderHeaders) -> None:
        request = flow.request
        client_version = request.headers.get("anthropic-version")
        keeps_version = route.client_format == "anthropic" and provider.format == "anthropic"
        drop_client_auth(request, keep_anthropic_version=keeps_version)
        point_at(request, provider)
        for name, value in headers.plain.items():
            if name.lower() == "anthropic-version" and keeps_version and client_version:
                continue  # an Anthropic client's own version wins (docs/architecture.md#secrets)
            request.headers[name] = value
        if provider.format == "anthropic" and "anthropic-version" not in request.headers:
            request.headers["anthropic-version"] = ANTHROPIC_VERSION
        exchange = self.gateway.exchange(flow)
        exchange.secret_values = secret_values(headers.secret.values())
        if flow.is_replay == "request":
            exchange.replay_headers = dict(headers.secret)  # put on by ReplaySecrets
            for name in headers.secret:
                request.headers[name] = REDACTED
            return
        exchange.wire_headers = dict(headers.secret)
        for name in headers.secret:
            request.headers[name] = REDACTED

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self._redact_replayed(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._redact_replayed(flow)

    def _redact_replayed(self, flow: http.HTTPFlow) -> None:
        if flow.is_replay != "request":
            return
        route = self.gateway.route(flow)
        provider = route.provider if route else None
        if provider is None:
            return
        cached = self.gateway.secret_cache.cached(provider)
        names = list(cached.secret) if cached else []
        names += ["authorization", "x-api-key", *provider.secret_headers]
        for name in names:
            if name in flow.request.headers:
                flow.request.headers[name] = REDACTED


class ReplaySecrets:
    """Puts a replayed request's secrets on it at the last moment (see the module
    docstring). Must be the last addon of the chain, after mitmweb's flow list."""

    def __init__(self, gateway: Gateway):
        self.gateway = gateway

    def update(self, flows: Sequence[flow.Flow]) -> None:
        for one in flows:
            if not isinstance(one, http.HTTPFlow) or one.is_replay != "request":
                continue
            exchange = self.gateway.peek_exchange(one)
            if exchange is not None and exchange.replay_headers and one.response is None:
                one.request.headers.update(exchange.replay_headers)
                exchange.replay_headers = {}
