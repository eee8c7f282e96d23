"""Router: resolves the requested model to a provider (or a local model) and its upstream id.

Hook: `request`, for chat/messages/responses/count_tokens flows that ingress parsed. The
rules are the routing contract (docs/architecture.md#routing-a-model-name), in order:

1. `NAME/MODEL` where NAME is a configured provider (compared as slugs: case-insensitive,
   spaces and `/` read as `-`) goes to that provider as `MODEL`; `local/MODEL` to a local
   model.
2. Otherwise the first enabled provider, in config order, whose discovered list has the exact
   id or whose static `models` (ids or globs) match it; then the local models.
3. Otherwise 404 `model_not_found`, listing what is available.

While a provider is still connecting (or failed a while ago and may be up now), an unknown
model waits briefly for `connections` before it is refused.

It expects ingress's metadata (kind, client format, model) and sets the flow's `Route`
(`addons/state.py`) once; every later addon reads that Route.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from mitmproxy import http

from ..config.model import LOCAL_PROVIDER, GatewayConfig, ProviderConfig, slug
from ..translators.formats import Format
from .answers import answer_error, client_format, is_answered
from .connections import Connections
from .fail_closed import fails_closed
from .ingress import MODEL_KINDS
from .model_lists import gateway_models
from .state import Gateway, Route, info, is_routed_replay

MAX_LISTED = 30  # models named in a 404 before "... and N more"


@dataclass(frozen=True, slots=True)
class NoRoute:
    status: int
    message: str


def resolve(model: str, config: GatewayConfig, discovered: Callable[[ProviderConfig],
            Sequence[str]], local_ids: Sequence[str], *, client_format: Format
            ) -> Route | NoRoute:
    prefix, sep, rest = model.partition("/")
    if sep and rest:
        if slug(prefix) == LOCAL_PROVIDER:
            if config.local.enabled and rest in local_ids:
                return Route.to(None, rest, client_format)
            return NoRoute(404, f"There is no local model '{rest}'.")
        provider = config.provider(prefix)
        if provider is not None:
            if not provider.enabled:
                return NoRoute(404, f"The provider '{provider.name}' is disabled; enable it "
                               f"with `mitmllm providers enable {provider.name}`.")
            return Route.to(provider, rest, client_format)
    for provider in config.providers:
        if provider.enabled and (model in discovered(provider)
                                 or _matches_static(model, provider.models)):
            return Route.to(provider, model, client_format)
    if config.local.enabled and model in local_ids:
        return Route.to(None, model, client_format)
    return NoRoute(404, f"The model '{model}' does not exist.")


def _matches_static(model: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in patterns)


class Router:
    def __init__(self, gateway: Gateway, connections: Connections,
                 local_ids: Callable[[], Sequence[str]] = lambda: ()):
        self.gateway = gateway
        self.connections = connections
        self.local_ids = local_ids

    @fails_closed("route the request")
    def request(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        if is_answered(flow) or is_routed_replay(flow):
            return None
        meta = info(flow)
        model = meta.get("model")
        if meta.get("kind") not in MODEL_KINDS or model is None:
            return None
        route = self._resolve(flow, model)
        if isinstance(route, NoRoute) and self.connections.pending():
            return self._resolve_after_settling(flow, model)
        self._apply(flow, route)
        return None

    async def _resolve_after_settling(self, flow: http.HTTPFlow, model: str) -> None:
        await self.connections.settle()
        self._apply(flow, self._resolve(flow, model))

    def _resolve(self, flow: http.HTTPFlow, model: str) -> Route | NoRoute:
        return resolve(model, self.gateway.config, self.connections.discovered,
                       self.local_ids(), client_format=client_format(flow))

    def _apply(self, flow: http.HTTPFlow, route: Route | NoRoute) -> None:
        if isinstance(route, NoRoute):
            answer_error(flow, route.status, route.message + " " + self._available(),
                         param="model", code="model_not_found")
            return
        self.gateway.set_route(flow, route)

    def _available(self) -> str:
        ids = [row.id for row in gateway_models(self.gateway.config, self.connections.listed,
                                                self.local_ids())]
        if not ids:
            return ("No models are available: add a provider with `mitmllm providers add` "
                    "(see GET /admin/providers for connection states).")
        shown = ", ".join(ids[:MAX_LISTED])
        more = f" ... and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else ""
        return f"Available: {shown}{more}."
