"""Catalog: connects providers, keeps their state and model lists, serves `/v1/models`.

Hooks: `running` connects every enabled provider with `auto_connect` (and every config
change reconnects the providers whose settings changed); `request` answers `GET /v1/models`
and `GET /v1/models/{id}` from memory, in the OpenAI shape, or in the Anthropic shape when
the client sent `anthropic-version`. States: connected, connecting, disconnected
(auto_connect off), disabled, error (with the reason). Connecting is `GET base_path/models`
with the provider's own auth; Anthropic's list is paged (`after_id`) and followed to the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import aiohttp
from mitmproxy import http

from ..config.auth import ProviderHeaders, SecretCache
from ..config.model import LOCAL_PROVIDER, GatewayConfig, ProviderConfig
from ..config.secrets import SecretError
from ..translators.errors import parse_error_body
from .answers import answer_error, is_answered, json_response
from .state import Gateway, info

logger = logging.getLogger(__name__)

ANTHROPIC_PAGE_LIMIT = 1000
MAX_PAGES = 50
ON_DEMAND_RETRY_AFTER = 5.0  # seconds since a failed attempt before a request may retry it
ON_DEMAND_WAIT = 5.0  # how long a request waits for such a retry


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    created: int | None = None
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    name: str
    state: str  # connected | connecting | disconnected | disabled | error
    format: str
    error: str | None = None
    models: tuple[ModelEntry, ...] = ()
    checked_at: float | None = None  # time.monotonic() of the last finished attempt

    def to_json(self, provider: ProviderConfig | None) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "error": self.error,
            "format": self.format,
            "models": [m.id for m in self.models],
            "url": provider.url("") if provider else None,
            "static_models": list(provider.models) if provider else [],
        }


class ModelListError(Exception):
    """Why a models list could not be fetched; the message names the URL, never a secret."""


def _initial_state(provider: ProviderConfig) -> str:
    if not provider.enabled:
        return "disabled"
    return "connecting" if provider.auto_connect else "disconnected"


async def fetch_models(session: aiohttp.ClientSession, provider: ProviderConfig,
                       headers: ProviderHeaders) -> list[ModelEntry]:
    """The provider's model list, all pages of it."""
    url = provider.url("/models")
    timeout = aiohttp.ClientTimeout(total=provider.timeout)
    entries: list[ModelEntry] = []
    params: dict[str, str] = {}
    if provider.format == "anthropic":
        params["limit"] = str(ANTHROPIC_PAGE_LIMIT)
    for _ in range(MAX_PAGES):
        try:
            async with session.get(url, headers={**headers.plain, **headers.secret},
                                   params=params, timeout=timeout) as answer:
                body = await answer.read()
                if answer.status >= 400:
                    error = parse_error_body("openai", answer.status, body)
                    raise ModelListError(f"GET {url} answered HTTP {answer.status}: "
                                         f"{error.message}")
        except aiohttp.ClientConnectorError as exc:
            raise ModelListError(f"cannot connect to {provider.origin}: {exc.os_error or exc}"
                                 ) from exc
        except TimeoutError as exc:
            raise ModelListError(f"GET {url}: no answer within {provider.timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise ModelListError(f"GET {url} failed: {exc}") from exc
        page = _parse_model_page(url, body)
        entries.extend(page.entries)
        if not (page.has_more and page.last_id):
            break
        params = {"limit": str(ANTHROPIC_PAGE_LIMIT), "after_id": page.last_id}
    return entries


@dataclass(frozen=True, slots=True)
class _Page:
    entries: list[ModelEntry]
    has_more: bool
    last_id: str | None


def _parse_model_page(url: str, body: bytes) -> _Page:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ModelListError(f"GET {url} did not answer JSON") from exc
    items = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise ModelListError(f"GET {url} answered no model list (no `data` array)")
    entries = [entry for item in items if (entry := _model_entry(item)) is not None]
    has_more = isinstance(payload, dict) and payload.get("has_more") is True
    last_id = payload.get("last_id") if isinstance(payload, dict) else None
    return _Page(entries, has_more, last_id if isinstance(last_id, str) else None)


def _model_entry(item: Any) -> ModelEntry | None:
    if isinstance(item, str):
        return ModelEntry(item)
    if not isinstance(item, dict):
        return None
    model_id = item.get("id") or item.get("name")
    if not isinstance(model_id, str) or not model_id:
        return None
    created = item.get("created")
    if not isinstance(created, int) and isinstance(item.get("created_at"), str):
        created = _unix_seconds(item["created_at"])
    display = item.get("display_name")
    return ModelEntry(model_id, created if isinstance(created, int) else None,
                      display if isinstance(display, str) else None)


def _unix_seconds(rfc3339: str) -> int | None:
    try:
        return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


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
            return replace(base, models=_static_entries(provider), checked_at=time.monotonic())
        return replace(base, state="error", error=str(exc), checked_at=time.monotonic())
    return replace(base, models=tuple(models), checked_at=time.monotonic())


def _static_entries(provider: ProviderConfig) -> tuple[ModelEntry, ...]:
    return tuple(ModelEntry(m) for m in provider.models if not _is_glob(m))


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


class Catalog:
    def __init__(self, gateway: Gateway,
                 local_models: Callable[[], Sequence[str]] = lambda: ()):
        self.gateway = gateway
        self.local_models = local_models
        self.statuses: dict[str, ProviderStatus] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._running = False
        self.started = time.time()
        gateway.on_config(self._config_changed)

    # --- lifecycle ---------------------------------------------------------------

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
                                                      models=_static_entries(provider))
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

    # --- what the router and the admin endpoint ask ------------------------------

    def status(self, provider: ProviderConfig) -> ProviderStatus:
        return self.statuses.get(provider.name) or ProviderStatus(
            provider.name, _initial_state(provider), provider.format)

    def discovered(self, provider: ProviderConfig) -> Sequence[str]:
        status = self.statuses.get(provider.name)
        if status is None or status.state != "connected":
            return ()
        return [m.id for m in status.models]

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

    def listing(self) -> list[tuple[str, str, ModelEntry]]:
        """(listed id, owner, entry) for every routable model, in config order."""
        rows: list[tuple[str, str, ModelEntry]] = []
        for provider in self.gateway.config.providers:
            if not provider.enabled:
                continue
            status = self.status(provider)
            entries = status.models if status.state == "connected" else \
                _static_entries(provider)
            seen: set[str] = set()
            for entry in [*entries, *_static_entries(provider)]:
                if entry.id not in seen:
                    seen.add(entry.id)
                    rows.append((f"{provider.slug}/{entry.id}", provider.name, entry))
        rows.extend((model_id, LOCAL_PROVIDER, ModelEntry(model_id))
                    for model_id in self.local_models())
        return rows

    # --- GET /v1/models ----------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> None:
        if is_answered(flow):
            return
        kind = info(flow).get("kind")
        anthropic_shape = info(flow).get("client_format") == "anthropic"
        if kind == "models":
            flow.response = json_response(200, self._models_payload(anthropic_shape))
        elif kind == "model":
            # The SDKs percent-encode the `/` of `provider/model` in the path.
            wanted = unquote(flow.request.path.split("?", 1)[0].split("/models/", 1)[1])
            for listed, owner, entry in self.listing():
                if listed == wanted:
                    flow.response = json_response(200, self._anthropic_model(listed, entry)
                                                  if anthropic_shape else
                                                  self._model_object(listed, owner, entry))
                    return
            answer_error(flow, 404, f"The model '{wanted}' does not exist; GET /v1/models "
                         "lists the available ones.", param="model", code="model_not_found")

    def _model_object(self, listed: str, owner: str, entry: ModelEntry) -> dict[str, Any]:
        return {"id": listed, "object": "model", "created": entry.created or int(self.started),
                "owned_by": owner}

    def _anthropic_model(self, listed: str, entry: ModelEntry) -> dict[str, Any]:
        created = datetime.fromtimestamp(entry.created or self.started, UTC)
        return {"type": "model", "id": listed, "display_name": entry.display_name or listed,
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def _models_payload(self, anthropic_shape: bool) -> dict[str, Any]:
        rows = self.listing()
        if not anthropic_shape:
            return {"object": "list",
                    "data": [self._model_object(*row) for row in rows]}
        data = [self._anthropic_model(listed, entry) for listed, _, entry in rows]
        return {"data": data, "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None}
