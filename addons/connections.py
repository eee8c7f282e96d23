"""Connections: connects providers and keeps each one's state and discovered models.

Hooks: `running` connects every enabled provider with `auto_connect`; a config change (through
`Gateway.on_config`) reconnects the providers whose settings changed and forgets removed
ones; `done` cancels what is under way. Connecting is fetching the provider's model list
(`addons/model_lists.py`). States: connected, connecting, disconnected (auto_connect off),
disabled, error (with the reason).

A provider in error is retried in the background, 2 s after the failure, then after twice
as long each time, up to a minute: a provider started later, a network back, or a key set
later in the keychain (its cached secrets are dropped first) is picked up without a
restart. It stays in `error`, with its reason, while it is retried, so the router never
waits for a retry: a misspelt model gets its 404 at once. `reconnect` (a key set from the
Providers page or the CLI) connects again now.

Answers no flow itself: the router asks which models a provider has and may wait for a
first connect under way (`pending`, `settle`); `/admin/providers`, the Providers page and
`/v1/models` read the states, and `on_change` listeners hear of every new state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import aiohttp

from ..config.auth import SecretCache
from ..config.model import GatewayConfig, ProviderConfig
from ..config.secrets import SecretError
from ..translators.chat.models import ModelEntry
from .model_lists import ModelListError, fetch_models, static_entries
from .secret_echo import scrub_text, secret_values
from .state import Gateway

logger = logging.getLogger(__name__)

FIRST_CONNECT_WAIT = 5.0  # how long a request for an unknown model waits for first connects
RETRY_FIRST = 2.0  # seconds from a failure to its first background retry
RETRY_MAX = 60.0  # the longest wait between retries


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    name: str
    state: str  # connected | connecting | disconnected | disabled | error
    format: str
    error: str | None = None
    models: tuple[ModelEntry, ...] = ()
    checked_at: float | None = None  # time.monotonic() of the last finished attempt
    failures: int = 0  # failed attempts in a row (sets the retry delay)


def _initial_state(provider: ProviderConfig) -> str:
    if not provider.enabled:
        return "disabled"
    return "connecting" if provider.auto_connect else "disconnected"


async def probe(session: aiohttp.ClientSession, provider: ProviderConfig,
                secrets: SecretCache) -> ProviderStatus:
    """Connect once: the provider's state after fetching its models."""
    base = ProviderStatus(provider.name, "connected", provider.format)
    sent: tuple[str, ...] = ()
    try:
        headers = await asyncio.to_thread(secrets.headers, provider)
        sent = secret_values(headers.secret.values())
        models = await fetch_models(session, provider, headers)
    except (SecretError, ModelListError) as exc:
        if provider.models and isinstance(exc, ModelListError) and " HTTP 404" in str(exc):
            # No models endpoint, but the user listed the models: that is a working setup.
            return replace(base, models=static_entries(provider), checked_at=time.monotonic())
        # The provider's message may quote the key it got: never shown, never logged.
        return replace(base, state="error", error=scrub_text(str(exc), sent),
                       checked_at=time.monotonic())
    return replace(base, models=tuple(models), checked_at=time.monotonic())


class Connections:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.statuses: dict[str, ProviderStatus] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}  # connects, first ones and retries
        self._session: aiohttp.ClientSession | None = None
        self._running = False
        self._listeners: list[Callable[[], None]] = []
        gateway.on_config(self._config_changed)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener()` whenever a provider's state may have changed."""
        self._listeners.append(listener)

    def _set(self, status: ProviderStatus) -> None:
        self.statuses[status.name] = status
        for listener in self._listeners:
            listener()

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
        for listener in self._listeners:
            listener()

    def reconnect(self, name: str) -> ProviderStatus | None:
        """Connect the named provider again now, with its secrets read afresh (a key was
        just set or changed); None if there is no such provider."""
        provider = self.gateway.config.provider(name)
        if provider is None:
            return None
        self.gateway.secret_cache.forget(provider)
        self._start(provider)
        return self.status(provider)

    def _start(self, provider: ProviderConfig) -> None:
        self._cancel(provider.name)
        state = _initial_state(provider)
        self._set(ProviderStatus(provider.name, state, provider.format,
                                 models=static_entries(provider)))
        if state == "connecting" and self._running:
            self._tasks[provider.name] = asyncio.create_task(
                self._connect(provider), name=f"mitmllm connect {provider.name}")

    def _cancel(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()

    async def _connect(self, provider: ProviderConfig, failures: int = 0) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        status = await probe(self._session, provider, self.gateway.secret_cache)
        if self.gateway.config.provider(provider.name) != provider:
            return  # the config changed meanwhile; a newer attempt owns the state
        self._tasks.pop(provider.name, None)
        if status.state == "error":
            status = replace(status, failures=failures + 1)
            if failures == 0 or status.error != self.statuses[provider.name].error:
                logger.warning("provider %s: %s", provider.name, status.error)
            self._set(status)
            self._tasks[provider.name] = asyncio.create_task(
                self._retry(provider, status.failures),
                name=f"mitmllm retry {provider.name}")
            return
        self._set(status)
        logger.info("provider %s connected: %d model(s)", provider.name, len(status.models))

    async def _retry(self, provider: ProviderConfig, failures: int) -> None:
        await asyncio.sleep(retry_delay(failures))
        # The key may have been set since: read it again rather than from the cache.
        self.gateway.secret_cache.forget(provider)
        await self._connect(provider, failures)

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
        """Could waiting change an unknown model's fate: a first connect under way? (Retries
        of providers in error run in the background; no request waits for them.)"""
        return any(status.state == "connecting" for status in self.statuses.values())

    async def settle(self) -> None:
        """Wait (briefly) for the connects under way."""
        tasks = [self._tasks[name] for name, status in self.statuses.items()
                 if status.state == "connecting" and name in self._tasks]
        if tasks:
            await asyncio.wait(tasks, timeout=FIRST_CONNECT_WAIT)


def retry_delay(failures: int) -> float:
    """Seconds before the next attempt after `failures` failed ones in a row: 2, 4, 8, ...,
    at most a minute."""
    return float(min(RETRY_FIRST * 2.0 ** max(failures - 1, 0), RETRY_MAX))
