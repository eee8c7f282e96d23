"""What the addons of one pipeline share: the live config and per-flow working objects.

Two kinds of per-flow data, kept apart on purpose:

- `flow.metadata["mitmllm"]` (a `FlowInfo`): small plain data (kind, formats, provider,
  models, dropped fields). Saved flows deep-copy it and mitmweb shows it, so it never holds
  a secret or a live object.
- `Exchange`: live objects (the parsed body, the provider, the stream translator, the
  secret header values for the wire), held in a weak map so they vanish with the flow and
  are never serialized.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from mitmproxy import http

from ..config.auth import SecretCache
from ..config.model import GatewayConfig, ProviderConfig
from ..config.secrets import Secrets

METADATA_KEY = "mitmllm"

Kind = Literal["chat", "messages", "responses", "count_tokens", "models", "model", "health",
               "admin", "unknown"]


class FlowInfo(TypedDict, total=False):
    kind: Kind
    client_format: str  # openai | anthropic | responses
    model: str  # as the client asked
    provider: str  # provider name, or "local"
    provider_format: str
    upstream_model: str
    stream: bool
    timeout: float
    dropped: list[str]  # client fields with no equivalent upstream (CONFORMANCE policy)
    timed_out: bool


@dataclass(eq=False)
class Exchange:
    body: dict[str, Any] | None = None  # the client's JSON body, parsed once by ingress
    provider: ProviderConfig | None = None  # None for local models and gateway answers
    wire_headers: dict[str, str] = field(default_factory=dict)  # secret values, wire only
    upstream_failed: bool = False  # set by the upstream layer before the error hook
    stream_tail: bytes | None = None  # what ends a broken stream, set in the error hook
    stream: Any = None  # the flow's stream adapter, if its answer is streamed


class Gateway:
    """The state one pipeline shares. Created once per pipeline, never module-global."""

    def __init__(self, secrets: Secrets | None = None):
        self.config = GatewayConfig()
        self.secrets = secrets or Secrets()
        self.secret_cache = SecretCache(self.secrets)
        self._exchanges: weakref.WeakKeyDictionary[http.HTTPFlow, Exchange] = (
            weakref.WeakKeyDictionary())
        self._config_listeners: list[Callable[[GatewayConfig, GatewayConfig], None]] = []

    def exchange(self, flow: http.HTTPFlow) -> Exchange:
        found = self._exchanges.get(flow)
        if found is None:
            found = self._exchanges[flow] = Exchange()
        return found

    def peek_exchange(self, flow: http.HTTPFlow) -> Exchange | None:
        return self._exchanges.get(flow)

    def on_config(self, listener: Callable[[GatewayConfig, GatewayConfig], None]) -> None:
        """Call `listener(old, new)` whenever a new config is published."""
        self._config_listeners.append(listener)

    def publish_config(self, config: GatewayConfig) -> None:
        old, self.config = self.config, config
        self.secret_cache.clear()
        for listener in self._config_listeners:
            listener(old, config)


def info(flow: http.HTTPFlow) -> FlowInfo:
    """The flow's mitmllm metadata, created on first use."""
    found = flow.metadata.get(METADATA_KEY)
    if found is None:
        found = flow.metadata[METADATA_KEY] = FlowInfo()
    return found  # type: ignore[no-any-return]


def is_ours(flow: http.HTTPFlow) -> bool:
    return METADATA_KEY in flow.metadata


def is_routed_replay(flow: http.HTTPFlow) -> bool:
    """A replayed flow (mitmweb, `mitmdump -nC`) whose request is already the provider's:
    only credentials act on it again."""
    return flow.is_replay == "request" and "provider" in flow.metadata.get(METADATA_KEY, {})
