"""Connections: connects providers and keeps each one's state and discovered models.

Hooks: `running` connects every enabled provider with `auto_connect`; a config change (through
`Gateway.on_config`) reconnects the providers whose settings changed and forgets removed
ones; `done` cancels what is under way. Connecting is fetching the provider's model list
(`addons/model_lists.py`). States: connected, connecting, disconnected (auto_connect off),
disabled, error (with the reason).

Answers no flow itself: the router asks which models a provider has and may wait for a
connect under way (`pending`, `settle`, which also retries a failure a few seconds old);
`/admin/providers` and `/v1/models` read the states.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import aiohttp

from ..config.auth import SecretCache
from ..config.model import GatewayConfig, ProviderConfig
from ..config.secrets import SecretError
from ..translators.chat.models import ModelEntry
from .model_lists import ModelListError, fetch_models, static_entries
from .state import Gateway

logger = logging.getLogger(__name__)

ON_DEMAND_RETRY_AFTER = 5.0  # seconds since a failed attempt before a request may retry it
ON_DEMAND_WAIT = 5.0  # how long a request waits for such a retry


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    name: str
    state: str  # connected | connecting | disconnected | disabled | error
    format: str
    error: str | None = None
    models: tuple[ModelEntry, ...] = ()
    checked_at: float | None = None  # time.monotonic() of the last finished attempt


def _initial_state(provider: ProviderConfig) -> str:
    if not provider.enabled:
        return "disabled"
    return "connecting" if provider.auto_connect else "disconnected"


async def probe(session: aiohttp.ClientSession, provider: ProviderConfig,
                secrets: SecretCache) -> ProviderStatus:
    """Connect once: the provider's state after fetching its models."""
    base = ProviderStatus(provider.name, "connected", provider.format)
    try:
        headers = await asyncio.to_thread(secrets.headers, provider)
        models = await fetch_models(session, provider, headers)
    except (SecretError, ModelListError) as exc:
        if provider.models and isinstance(exc, ModelListError) and " HTTP 404" in str(exc):
            # No models endpoint, but the user listed the models: that is a working setup.
            return replace(base, models=static_entries(provider), checked_at=time.monotonic())
        return replace(base, state="error", error=str(exc), checked_at=time.monotonic())
    return replace(base, models=tuple(models), checked_at=time.monotonic())


class Connections:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.statuses: dict[str, ProviderStatus] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._running = False
        gateway.on_config(self._config_changed)

    def running(self) -> None:
        self._running = True
        for provider in self.gateway.config.providers:
            status = self.statuses.get(provider.name)
            if status is None or status.state == "connecting":
                self._start(provider)

    async def done(self) -> None:
        self._running = False
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _config_changed(self, old: GatewayConfig, new: GatewayConfig) -> None:
        names = {p.name for p in new.providers}
        for name in list(self.statuses):
            if name not in names:
                self._cancel(name)
                del self.statuses[name]
        for provider in new.providers:
            if old.provider(provider.name) == provider and provider.name in self.statuses:
                continue  # unchanged: keep its connection state
            self._start(provider)

    def _start(self, provider: ProviderConfig) -> None:
        self._cancel(provider.name)
        state = _initial_state(provider)
        self.statuses[provider.name] = ProviderStatus(provider.name, state, provider.format,
                                                      models=static_entries(provider))
        if state == "connecting" and self._running:
            self._tasks[provider.name] = asyncio.create_task(
                self._connect(provider), name=f"mitmllm connect {provider.name}")

    def _cancel(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()

    async def _connect(self, provider: ProviderConfig) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        status = await probe(self._session, provider, self.gateway.secret_cache)
        if self.gateway.config.provider(provider.name) != provider:
            return  # the config changed meanwhile; a newer attempt owns the state
        self.statuses[provider.name] = status
        self._tasks.pop(provider.name, None)
        if status.state == "error":
            logger.warning("provider %s: %s", provider.name, status.error)
        else:
            logger.info("provider %s connected: %d model(s)", provider.name, len(status.models))

    def status(self, provider: ProviderConfig) -> ProviderStatus:
        return self.statuses.get(provider.name) or ProviderStatus(
            provider.name, _initial_state(provider), provider.format)

    def discovered(self, provider: ProviderConfig) -> Sequence[str]:
        status = self.statuses.get(provider.name)
        if status is None or status.state != "connected":
            return ()
        return [m.id for m in status.models]

    def listed(self, provider: ProviderConfig) -> tuple[ModelEntry, ...]:
        """What the provider adds to the gateway's model list: its discovered models while
        connected, and its static ids."""
        status = self.status(provider)
        entries = status.models if status.state == "connected" else ()
        unique: dict[str, ModelEntry] = {}
        for entry in (*entries, *static_entries(provider)):
            unique.setdefault(entry.id, entry)
        return tuple(unique.values())

    def pending(self) -> bool:
        """Could waiting change an unknown model's fate: a connect under way, or a failed
        one old enough to retry (the provider may have been started since)?"""
        if self._tasks:
            return True
        return any(self._retryable(p) for p in self.gateway.config.providers)

    async def settle(self) -> None:
        """Retry failed providers and wait (briefly) for every connect under way."""
        for provider in self.gateway.config.providers:
            if self._retryable(provider):
                self._start(provider)
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=ON_DEMAND_WAIT)

    def _retryable(self, provider: ProviderConfig) -> bool:
        status = self.statuses.get(provider.name)
        return (self._running and status is not None and status.state == "error"
                and status.checked_at is not None
                and time.monotonic() - status.checked_at > ON_DEMAND_RETRY_AFTER)
