"""Model lists: a provider's, fetched with its own auth, and the gateway's, built from them.

`fetch_models` asks `GET base_path/models` with the provider's headers and follows
Anthropic's paging (`limit`, `after_id`) to the end; each page is read by the translators'
one parser, `translators.chat.models.parse_model_page`, which also knows the shapes
OpenAI-compatible servers bend. Failures are a `ModelListError` whose message names the URL,
never a secret. `gateway_models` is the list clients see (`GET /v1/models`, and the router's
404): every enabled provider's models as `NAME/MODEL`, then the local models.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import NamedTuple

import aiohttp

from ..config.auth import ProviderHeaders
from ..config.model import LOCAL_PROVIDER, GatewayConfig, ProviderConfig
from ..translators.anthropic.models import PAGE_LIMIT
from ..translators.chat.models import ModelEntry, ModelPage, parse_model_page
from ..translators.errors import UpstreamFormatError, parse_error_body

MAX_PAGES = 50


class ModelListError(Exception):
    """Why a models list could not be fetched; the message names the URL, never a secret."""


async def fetch_models(session: aiohttp.ClientSession, provider: ProviderConfig,
                       headers: ProviderHeaders) -> list[ModelEntry]:
    """The provider's model list, all pages of it."""
    url = provider.url("/models")
    timeout = aiohttp.ClientTimeout(total=provider.timeout)
    entries: list[ModelEntry] = []
    params: dict[str, str] = {}
    if provider.format == "anthropic":
        params["limit"] = str(PAGE_LIMIT)
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
        page = _read_page(url, body)
        entries.extend(page.entries)
        if not (page.has_more and page.last_id):
            break
        params = {"limit": str(PAGE_LIMIT), "after_id": page.last_id}
    return entries


def _read_page(url: str, body: bytes) -> ModelPage:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ModelListError(f"GET {url} did not answer JSON") from exc
    try:
        return parse_model_page(payload)
    except UpstreamFormatError as exc:
        raise ModelListError(f"GET {url} answered no model list (no `data` array)") from exc


def static_entries(provider: ProviderConfig) -> tuple[ModelEntry, ...]:
    """The provider's static `models` that are ids; globs only match, they list nothing."""
    return tuple(ModelEntry(m) for m in provider.models if not _is_glob(m))


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


class Listed(NamedTuple):
    id: str  # as clients ask for it: NAME/MODEL, or a local model's id
    owner: str  # the provider's name, or "local"
    entry: ModelEntry


def gateway_models(config: GatewayConfig,
                   provider_models: Callable[[ProviderConfig], Sequence[ModelEntry]],
                   local_ids: Sequence[str]) -> list[Listed]:
    """Every routable model, in config order, then the local models."""
    rows = [Listed(f"{provider.slug}/{entry.id}", provider.name, entry)
            for provider in config.providers if provider.enabled
            for entry in provider_models(provider)]
    rows.extend(Listed(model_id, LOCAL_PROVIDER, ModelEntry(model_id)) for model_id in local_ids)
    return rows
