"""What the addons of one pipeline share: the live config and per-flow working objects.

Two kinds of per-flow data, kept apart on purpose:

- `flow.metadata["mitmllm"]` (a `FlowInfo`): small plain data (kind, formats, provider,
  models, dropped fields). Saved flows deep-copy it and mitmweb shows it, so it never holds
  a secret or a live object. `info()` reads it (and never creates it); `record()` writes it.
- `Exchange`: live objects (the parsed body, the `Route`, the stream adapter, the secret
  header values for the wire), held in a weak map so they vanish with the flow and are
  never serialized.

The `Route` is where a flow goes. The router sets it once (`Gateway.set_route`), which also
writes its plain copy into the metadata; every later addon reads `Gateway.route(flow)`.
A replayed saved flow has no Exchange, so only then is its route read back from that copy.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack

from mitmproxy import http

from ..config.auth import SecretCache
from ..config.model import LOCAL_PROVIDER, GatewayConfig, ProviderConfig
from ..config.secrets import Secrets
from ..translators.chat.types import RequestOptions
from ..translators.formats import Format, is_format
from ..translators.reasoning import ReasoningMemory

if TYPE_CHECKING:  # streaming writes the flow's metadata with this module's `record`
    from .streaming import StreamAdapter

METADATA_KEY = "mitmllm"
KEEP_BYTES = 2 * 1024 * 1024  # the default of the option mitmllm_keep_mb
REDACTED = "[redacted by mitmllm]"
LOCAL_TIMEOUT = 600.0  # local generation can be slow on CPU; it never waits on a network

Kind = Literal["chat", "messages", "responses", "count_tokens", "models", "model", "health",
               "admin", "admin_page", "admin_api", "root", "ready", "metrics", "unknown"]


class FlowInfo(TypedDict, total=False):
    kind: Kind
    client_format: Format
    model: str  # as the client asked
    provider: str  # provider name, or "local"
    provider_format: Format
    upstream_model: str
    stream: bool
    timeout: float
    dropped: list[str]  # client fields with no equivalent (docs/formats.md#dropped-and-refused)
    defaulted: list[str]  # fields the gateway added or filled in, with why
    timed_out: bool
    gateway_answer: bool  # the answer is an error mitmllm gave itself, in the client's format
    # For the inspection views (capture.py, views.py): the client's own request, the
    # provider's answer as received (or that it is the client's), both answers' timing.
    client_request: dict[str, Any]
    provider_answer: dict[str, Any]
    client_answer: dict[str, Any]
    answer_end: str


def as_format(value: object) -> Format:
    """A format read from plain data; anything else reads as the hub's own, `openai`."""
    return value if is_format(value) else "openai"


@dataclass(frozen=True, slots=True)
class Route:
    """Where one flow goes: a provider (or the local backend), the model id it is asked for
    there, the formats on both sides, and how long the provider may stay silent. Built by
    `to()` for a live flow, or by `saved()` for a replayed one."""

    provider_name: str  # as the config spells it, or "local"
    provider: ProviderConfig | None  # None: the local backend (or a saved provider now gone)
    upstream_model: str
    client_format: Format
    provider_format: Format
    timeout: float  # seconds

    @classmethod
    def to(cls, provider: ProviderConfig | None, upstream_model: str,
           client_format: Format) -> Route:
        if provider is None:
            return cls(LOCAL_PROVIDER, None, upstream_model, client_format, "openai",
                       LOCAL_TIMEOUT)
        return cls(provider.name, provider, upstream_model, client_format,
                   as_format(provider.format), provider.timeout)

    @classmethod
    def saved(cls, meta: FlowInfo, config: GatewayConfig) -> Route:
        """The route of a replayed saved flow, read back from its metadata."""
        name = meta.get("provider", LOCAL_PROVIDER)
        provider = None if name == LOCAL_PROVIDER else config.provider(name)
        return cls(name, provider, meta.get("upstream_model", ""),
                   as_format(meta.get("client_format")), as_format(meta.get("provider_format")),
                   meta.get("timeout", LOCAL_TIMEOUT))

    @property
    def is_local(self) -> bool:
        return self.provider is None and self.provider_name == LOCAL_PROVIDER


@dataclass(eq=False)
class Exchange:
    body: dict[str, Any] | None = None  # the client's JSON body, parsed once by ingress
    route: Route | None = None  # set once, by the router
    wire_headers: dict[str, str] = field(default_factory=dict)  # secret values, wire only
    # A replay's secret headers, until ReplaySecrets puts them on its request.
    replay_headers: dict[str, str] = field(default_factory=dict)
    # The provider's secrets as they could come back in its answer (secret_echo.py).
    secret_values: tuple[str, ...] = ()
    upstream_failed: bool = False  # set by the upstream layer before the error hook
    stream_tail: bytes | None = None  # what ends a broken stream, set in the error hook
    stream: StreamAdapter | None = None  # the flow's stream adapter, if its answer streams


class Gateway:
    """The state one pipeline shares. Created once per pipeline, never module-global."""

    def __init__(self, secrets: Secrets | None = None):
        self.config = GatewayConfig()
        self.secrets = secrets or Secrets()
        self.secret_cache = SecretCache(self.secrets)
        self._exchanges: weakref.WeakKeyDictionary[http.HTTPFlow, Exchange] = (
            weakref.WeakKeyDictionary())
        self._config_listeners: list[Callable[[GatewayConfig, GatewayConfig], None]] = []
        self._drain_listeners: list[Callable[[], None]] = []
        # The reasoning of recent tool-calling answers, for Chat clients that do not send
        # it back themselves (docs/formats.md#reasoning).
        self.reasoning = ReasoningMemory()
        # Bytes kept per side of a flow for the inspection views (option mitmllm_keep_mb).
        self.keep_bytes = KEEP_BYTES
        # Set when the proxy stops taking new work (SIGTERM): /ready says 503 from then on.
        self.draining = False
        self.config_loaded = False  # a config file was read (ConfigWatcher)

    def request_options(self, route: Route) -> RequestOptions:
        """What the route's provider settings tell the request translation."""
        provider = route.provider
        if provider is None:
            return RequestOptions(memory=self.reasoning)
        return RequestOptions(max_tokens_default=provider.max_tokens_default,
                              hosted_tools=provider.hosted_tools, memory=self.reasoning)

    def exchange(self, flow: http.HTTPFlow) -> Exchange:
        found = self._exchanges.get(flow)
        if found is None:
            found = self._exchanges[flow] = Exchange()
        return found

    def peek_exchange(self, flow: http.HTTPFlow) -> Exchange | None:
        return self._exchanges.get(flow)

    def set_route(self, flow: http.HTTPFlow, route: Route) -> None:
        """The router's decision, and its plain copy for mitmweb and saved flows."""
        exchange = self.exchange(flow)
        if exchange.route is not None:
            raise RuntimeError(f"flow {flow.id} is routed already")
        exchange.route = route
        record(flow, upstream_model=route.upstream_model, provider=route.provider_name,
               provider_format=route.provider_format, timeout=route.timeout)

    def route(self, flow: http.HTTPFlow) -> Route | None:
        """Where the flow goes; None for the gateway's own answers and unrouted flows."""
        exchange = self._exchanges.get(flow)
        if exchange is not None and exchange.route is not None:
            return exchange.route
        if is_routed_replay(flow):
            return Route.saved(info(flow), self.config)
        return None

    def on_drain(self, listener: Callable[[], None]) -> None:
        """Call `listener()` when the proxy starts draining (long polls end then)."""
        self._drain_listeners.append(listener)

    def start_draining(self) -> None:
        self.draining = True
        for listener in self._drain_listeners:
            listener()

    def on_config(self, listener: Callable[[GatewayConfig, GatewayConfig], None]) -> None:
        """Call `listener(old, new)` whenever a new config is published."""
        self._config_listeners.append(listener)

    def publish_config(self, config: GatewayConfig) -> None:
        old, self.config = self.config, config
        self.secret_cache.clear()
        for listener in self._config_listeners:
            listener(old, config)


def info(flow: http.HTTPFlow) -> FlowInfo:
    """A copy of the flow's mitmllm metadata, empty when it has none; never creates it."""
    found = flow.metadata.get(METADATA_KEY)
    return FlowInfo(**found) if found else FlowInfo()


def record(flow: http.HTTPFlow, **fields: Unpack[FlowInfo]) -> None:
    """Write fields of the flow's mitmllm metadata, creating it on first use."""
    found: FlowInfo = flow.metadata.setdefault(METADATA_KEY, FlowInfo())
    found.update(fields)


def is_ours(flow: http.HTTPFlow) -> bool:
    return METADATA_KEY in flow.metadata


def is_routed_replay(flow: http.HTTPFlow) -> bool:
    """A replayed flow (mitmweb, `mitmdump -nC`) whose request is already the provider's:
    only credentials act on it again."""
    return flow.is_replay == "request" and "provider" in flow.metadata.get(METADATA_KEY, {})
