"""ProvidersPage: the Providers window in a browser, `GET /admin`, and its JSON API under
`/admin/api/` (the contract is docs/admin.md).

Hook: `request`, for the flows ingress classified `admin_page` (the page and its assets,
files in `addons/admin_ui/`, no build step) or `admin_api`. Who may call is
`admin_access.refusal`; what a change does to the file and the keychain is
`config.provider_edits` (blocking, so run in a worker thread). After a change the config
watcher publishes the file at once, so the provider connects (or reconnects) without
waiting for the next poll.

`GET /admin/api/state?since=VERSION` is a long poll: it waits until a provider's state or
the config changes (`Connections.on_change`, `Gateway.on_config` bump `version`), so the
page's cards change as soon as a provider does, with no request a second in mitmweb.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote

import aiohttp
from mitmproxy import ctx, http

from ..config.auth import SecretCache
from ..config.model import LOCAL_PROVIDER, ProviderConfig
from ..config.presets import CUSTOM_EXAMPLES, PRESETS
from ..config.provider_edits import (
    FormSecrets,
    NameTaken,
    SecretChanges,
    add_provider,
    config_fields,
    remove_provider,
    replace_provider,
    secret_status,
    set_enabled,
    settings_of,
)
from ..config.schema import AUTH_KINDS, PROTOCOLS, ConfigError, parse_provider
from ..config.secrets import SecretError
from ..translators.formats import DEFAULT_MAX_TOKENS, FORMATS, HOSTED_TOOLS
from ..translators.json_values import json_bytes
from .admin_access import refusal
from .answers import is_answered
from .config_watch import ConfigWatcher
from .connections import Connections, probe
from .fail_closed import fails_closed
from .ingress import normalize_path
from .local import Local
from .state import REDACTED, Gateway, info

logger = logging.getLogger(__name__)
T = TypeVar("T")

ASSETS = Path(__file__).resolve().parent / "admin_ui"
ASSET_TYPES = {"index.html": "text/html; charset=utf-8",
               "admin.js": "text/javascript; charset=utf-8",
               "admin.css": "text/css; charset=utf-8"}
LONG_POLL_SECONDS = 25.0
# The page's own files only, never framed, nothing cached: it shows live settings.
PAGE_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
PRESET_LABELS = {"ollama": "Ollama", "lmstudio": "LM Studio"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def api_answer(status: int, payload: Any) -> http.Response:
    return http.Response.make(status, json_bytes(payload),
                              {"content-type": "application/json", **PAGE_HEADERS})


def api_error(status: int, message: str, field: str | None = None) -> http.Response:
    return api_answer(status, {"error": {"message": message, "field": field}})


def config_message(exc: ConfigError) -> str:
    """The CLI's sentence without the file's path (the page says which file elsewhere)."""
    where = [f"provider '{exc.provider}'"] if exc.provider is not None else []
    if exc.field:
        where.append(f"field '{exc.field}'")
    return ": ".join([*where, exc.reason])


def presets_payload() -> list[dict[str, Any]]:
    """The preset picker: the four hosted APIs, the two local shortcuts, then Custom."""
    out: list[dict[str, Any]] = []
    for preset in PRESETS.values():
        if preset.id == "custom":
            continue
        out.append({"id": preset.id, "label": preset.label, "fields": {
            "preset": preset.id, "host": preset.host, "protocol": preset.protocol,
            "port": preset.port, "base_path": preset.base_path, "format": preset.format,
            "auth": preset.auth}})
    for example, values in CUSTOM_EXAMPLES.items():
        out.append({"id": example, "label": PRESET_LABELS.get(example, example),
                    "fields": {"preset": "custom", **values}})
    custom = PRESETS["custom"]
    out.append({"id": "custom", "label": custom.label, "fields": {
        "preset": "custom", "protocol": custom.protocol, "base_path": custom.base_path,
        "format": custom.format, "auth": "api_key"}})
    return out


class ProvidersPage:
    def __init__(self, gateway: Gateway, connections: Connections, local: Local,
                 watcher: ConfigWatcher, assets: Path = ASSETS):
        self.gateway = gateway
        self.connections = connections
        self.local = local
        self.watcher = watcher
        self.assets = assets
        self.csrf = secrets.token_urlsafe(32)  # per process; read only by the page
        self.version = 1
        self._changed = asyncio.Event()
        connections.on_change(self._bump)
        gateway.on_config(lambda old, new: self._bump())
        gateway.on_drain(self._bump)  # a long poll must not hold a drain up

    def configure(self, updated: set[str]) -> None:
        # In reverse mode mitmproxy rewrites the Host header to its placeholder target before
        # any hook runs; the access checks need the one the client sent (requests to a
        # provider get the provider's Host from `credentials.point_at` anyway).
        if not ctx.options.keep_host_header:
            ctx.options.keep_host_header = True

    def _bump(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def done(self) -> None:
        self._changed.set()  # no long poll outlives the proxy

    @fails_closed("answer the Providers page")
    def request(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        kind = info(flow).get("kind")
        if kind not in ("admin_page", "admin_api") or is_answered(flow):
            return None
        request = flow.request
        peer = flow.client_conn.peername[0] if flow.client_conn.peername else ""
        denied = refusal(method=request.method, peer=peer,
                         host_header=request.host_header or "",
                         origin=request.headers.get("origin"),
                         fetch_site=request.headers.get("sec-fetch-site"),
                         csrf_sent=request.headers.get("x-csrf-token"), csrf=self.csrf,
                         listen=self.gateway.config.listen)
        if denied is not None:
            flow.response = api_error(denied.status, denied.message)
            return None
        if kind == "admin_page":
            flow.response = self._asset(normalize_path(request.path))
            return None
        return self._api(flow)

    def _asset(self, path: str) -> http.Response:
        name = "index.html" if path == "/admin" else path.rsplit("/", 1)[-1]
        kind = ASSET_TYPES.get(name)
        file = self.assets / name
        if kind is None or not file.is_file():
            return api_error(404, f"No such file of the Providers page: {path}")
        return http.Response.make(200, file.read_bytes(), {"content-type": kind,
                                                            **PAGE_HEADERS})

    async def _api(self, flow: http.HTTPFlow) -> None:
        try:
            status, payload = await self._dispatch(flow)
            flow.response = api_answer(status, payload)
        except ApiError as exc:
            flow.response = api_error(exc.status, exc.message, exc.field)
        except ConfigError as exc:
            status = 409 if isinstance(exc, NameTaken) else 400
            flow.response = api_error(status, config_message(exc), exc.field)
        except LookupError as exc:
            flow.response = api_error(404, str(exc).strip("'\""))
        except SecretError as exc:
            flow.response = api_error(502, f"The keychain: {exc}")

    async def _dispatch(self, flow: http.HTTPFlow) -> tuple[int, Any]:
        request = flow.request
        method = request.method
        keychain = self.gateway.secrets
        parts = [unquote(p) for p in normalize_path(request.path)[len("/admin/api/"):]
                 .split("/")]
        match parts, method:
            case ["state"], "GET" | "HEAD":
                query = parse_qs(request.path.partition("?")[2])
                await self._wait_for_change((query.get("since") or [""])[0])
                return 200, await self._state(request.host_header or "")
            case ["providers"], "POST":
                body = self._body(request)
                settings, changes = body.get("settings"), SecretChanges.read(body)
                provider = await self._edit(
                    lambda path: add_provider(path, settings, changes, keychain))
                return 201, {"provider": await self._provider_view(provider)}
            case ["providers", name], "PUT":
                body = self._body(request)
                settings, changes = body.get("settings"), SecretChanges.read(body)
                provider = await self._edit(
                    lambda path: replace_provider(path, name, settings, changes, keychain))
                self.connections.reconnect(provider.name)  # "the connection is re-established"
                return 200, {"provider": await self._provider_view(provider)}
            case ["providers", name], "DELETE":
                removed, entries = await self._edit(
                    lambda path: remove_provider(path, name, keychain))
                return 200, {"removed": removed, "keychain_entries": entries}
            case ["providers", name, "enabled"], "POST":
                enabled = self._body(request).get("enabled")
                if not isinstance(enabled, bool):
                    raise ApiError(400, "expected {\"enabled\": true or false}", "enabled")
                provider = await self._edit(lambda path: set_enabled(path, name, enabled))
                return 200, {"provider": await self._provider_view(provider)}
            case ["providers", name, "reconnect"], "POST":
                provider = self._configured(name)
                self.connections.reconnect(provider.name)
                return 202, {"provider": await self._provider_view(provider)}
            case ["test"], "POST":
                return 200, await self._test(self._body(request))
            case (["state"] | ["providers"] | ["providers", _] | ["providers", _, "enabled"]
                  | ["providers", _, "reconnect"] | ["test"]), _:
                raise ApiError(405, f"{request.method} is not accepted here")
        raise ApiError(404, f"No such endpoint: {request.method} {request.path.split('?')[0]}")

    # -- the parts ----------------------------------------------------------------------

    @staticmethod
    def _body(request: http.Request) -> dict[str, Any]:
        try:
            body = json.loads(request.get_content(strict=False) or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        if body.get("api_key") or body.get("secret_headers"):
            # The flow keeps a copy without the typed secrets: mitmweb, saved flows and
            # exports never see them (the parsed body still carries them to the keychain).
            shown = dict(body)
            if shown.get("api_key"):
                shown["api_key"] = REDACTED
            if isinstance(shown.get("secret_headers"), dict):
                shown["secret_headers"] = {str(k): REDACTED for k in shown["secret_headers"]}
            request.content = json_bytes(shown)
        return body

    def _configured(self, name: str) -> ProviderConfig:
        provider = self.gateway.config.provider(name)
        if provider is None:
            raise ApiError(404, f"no provider named '{name}'")
        return provider

    async def _edit(self, change: Callable[[Path], T]) -> T:
        """A change to the file and keychain, off the event loop, then published at once."""
        path = self.watcher.path
        if path is None:
            raise ApiError(503, "mitmllm has not loaded its config yet")
        result = await asyncio.to_thread(change, path)
        self.watcher.check()
        return result

    async def _wait_for_change(self, since: str) -> None:
        if since != str(self.version):
            return
        try:
            await asyncio.wait_for(self._changed.wait(), LONG_POLL_SECONDS)
        except TimeoutError:
            pass

    async def _state(self, host_header: str) -> dict[str, Any]:
        # The version first: anything that changes while the rows are read (keychain reads
        # wait on a thread) makes a newer one, so the page's next poll returns at once.
        version = self.version
        config = self.gateway.config
        providers = [await self._provider_view(p) for p in config.providers]
        state, error = self.local.state()
        return {
            "version": version,
            "csrf": self.csrf,
            "listen": {"url": f"http://{host_header}/v1",
                       "token_required": bool(config.listen.token)},
            "config_path": str(self.watcher.path or ""),
            "providers": providers,
            "local": {"name": LOCAL_PROVIDER, "state": state, "error": error,
                      "models": [{"id": m, "use": m} for m in self.local.model_ids()]},
            "presets": presets_payload(),
            "choices": {"format": list(FORMATS), "protocol": list(PROTOCOLS),
                        "auth": list(AUTH_KINDS), "hosted_tools": list(HOSTED_TOOLS)},
            "defaults": {"timeout": 60.0, "max_tokens_default": DEFAULT_MAX_TOKENS,
                         "hosted_tools": "drop", "enabled": True, "auto_connect": True},
        }

    async def _provider_view(self, provider: ProviderConfig) -> dict[str, Any]:
        # The freshest config's copy: the one passed in may be from before a reload.
        provider = self.gateway.config.provider(provider.name) or provider
        stored = await asyncio.to_thread(secret_status, provider, self.gateway.secrets)
        status = self.connections.status(provider)  # after the wait: the latest
        return {
            "name": provider.name, "slug": provider.slug, "settings": settings_of(provider),
            "secrets": stored, "url": provider.url(""), "state": status.state,
            "error": status.error,
            "models": [{"id": m.id, "use": f"{provider.slug}/{m.id}"}
                       for m in self.connections.listed(provider)],
        }

    async def _test(self, body: dict[str, Any]) -> dict[str, Any]:
        """Unsaved settings, tried once: the stored secrets unless new ones were typed."""
        provider = parse_provider(config_fields(body.get("settings")))
        cache = SecretCache(FormSecrets(self.gateway.secrets, SecretChanges.read(body)))
        async with aiohttp.ClientSession() as session:
            status = await probe(session, provider, cache)
        return {"state": status.state, "error": status.error,
                "models": [m.id for m in status.models]}
