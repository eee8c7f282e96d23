"""Router: resolves the requested model to a provider (or a local model) and its upstream id.

Hook: `request`, for chat/messages/responses/count_tokens flows that ingress parsed. The
rules are the routing contract of DESIGN.md, in order:

1. `NAME/MODEL` where NAME is a configured provider (compared as slugs: case-insensitive,
   spaces and `/` read as `-`) goes to that provider as `MODEL`; `local/MODEL` to a local
   model.
2. Otherwise the first enabled provider, in config order, whose discovered list has the exact
   id or whose static `models` (ids or globs) match it; then the local models.
3. Otherwise 404 `model_not_found`, listing what is available.

While a provider is still connecting (or failed a while ago and may be up now), an unknown
model waits briefly for the catalog before it is refused.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from mitmproxy import http

from ..config.model import LOCAL_PROVIDER, GatewayConfig, ProviderConfig, slug
from .answers import answer_error, is_answered
from .catalog import Catalog
from .ingress import MODEL_KINDS
from .state import Gateway, info, is_routed_replay

LOCAL_TIMEOUT = 600.0  # local generation can be slow on CPU; it never waits on a network
MAX_LISTED = 30  # models named in a 404 before "... and N more"


@dataclass(frozen=True, slots=True)
class Route:
    upstream_model: str
    provider: ProviderConfig | None  # None: a local model

    @property
    def is_local(self) -> bool:
        return self.provider is None


@dataclass(frozen=True, slots=True)
class NoRoute:
    status: int
    message: str


def resolve(model: str, config: GatewayConfig, discovered: Callable[[ProviderConfig],
            Sequence[str]], local_ids: Sequence[str]) -> Route | NoRoute:
    prefix, sep, rest = model.partition("/")
    if sep and rest:
        if slug(prefix) == LOCAL_PROVIDER:
            if config.local.enabled and rest in local_ids:
                return Route(rest, None)
            return NoRoute(404, f"There is no local model '{rest}'.")
        provider = config.provider(prefix)
        if provider is not None:
            if not provider.enabled:
                return NoRoute(404, f"The provider '{provider.name}' is disabled; enable it "
                               f"with `mitmllm providers enable {provider.name}`.")
            return Route(rest, provider)
    for provider in config.providers:
        if provider.enabled and (model in discovered(provider)
                                 or _matches_static(model, provider.models)):
            return Route(model, provider)
    if config.local.enabled and model in local_ids:
        return Route(model, None)
    return NoRoute(404, f"The model '{model}' does not exist.")


def _matches_static(model: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in patterns)


class Router:
    def __init__(self, gateway: Gateway, catalog: Catalog,
                 local_ids: Callable[[], Sequence[str]] = lambda: ()):
        self.gateway = gateway
        self.catalog = catalog
        self.local_ids = local_ids

    def request(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        if is_answered(flow) or is_routed_replay(flow) or \
                info(flow).get("kind") not in MODEL_KINDS:
            return None
        model = info(flow).get("model")
        if model is None:
            return None
        route = self._resolve(model)
        if isinstance(route, NoRoute) and self.catalog.pending():
            return self._resolve_after_settling(flow, model)
        self._apply(flow, route)
        return None

    async def _resolve_after_settling(self, flow: http.HTTPFlow, model: str) -> None:
        await self.catalog.settle()
        self._apply(flow, self._resolve(model))

    def _resolve(self, model: str) -> Route | NoRoute:
        return resolve(model, self.gateway.config, self.catalog.discovered, self.local_ids())

    def _apply(self, flow: http.HTTPFlow, route: Route | NoRoute) -> None:
        if isinstance(route, NoRoute):
            answer_error(flow, route.status, route.message + " " + self._available(),
                         param="model", code="model_not_found")
            return
        meta = info(flow)
        meta["upstream_model"] = route.upstream_model
        if route.provider is None:
            meta["provider"] = LOCAL_PROVIDER
            meta["provider_format"] = "openai"
            meta["timeout"] = LOCAL_TIMEOUT
        else:
            meta["provider"] = route.provider.name
            meta["provider_format"] = route.provider.format
            meta["timeout"] = route.provider.timeout
            self.gateway.exchange(flow).provider = route.provider

    def _available(self) -> str:
        ids = [listed for listed, _, _ in self.catalog.listing()]
        if not ids:
            return ("No models are available: add a provider with `mitmllm providers add` "
                    "(see GET /admin/providers for connection states).")
        shown = ", ".join(ids[:MAX_LISTED])
        more = f" ... and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else ""
        return f"Available: {shown}{more}."
