"""OpenAI model lists (`GET /v1/models`), read from providers and written for clients.

Providers of the `openai` and `responses` formats answer the OpenAI shape
`{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}`; many
OpenAI-compatible servers bend it (a bare list, `name` for `id`, `created_at` in RFC 3339),
so `parse_model_page` reads those too rather than failing a provider that works
(docs/formats.md#model-lists). `ModelEntry` and `ModelPage` are what every format's reader
returns; the gateway lists entries as `NAME/MODEL`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import UpstreamFormatError


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    created: int | None = None  # Unix seconds, when the provider said
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class ModelPage:
    entries: tuple[ModelEntry, ...]
    has_more: bool = False  # Anthropic's paging: fetch again `after_id=last_id`
    last_id: str | None = None


def parse_model_page(payload: Any) -> ModelPage:
    """One page of a provider's model list; raises `UpstreamFormatError` when there is no
    list at all."""
    items = payload.get("data") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise UpstreamFormatError("the model list has no `data` array")
    entries = tuple(entry for item in items if (entry := _entry(item)) is not None)
    if not isinstance(payload, dict):
        return ModelPage(entries)
    last_id = payload.get("last_id")
    return ModelPage(entries, payload.get("has_more") is True,
                     last_id if isinstance(last_id, str) else None)


def _entry(item: Any) -> ModelEntry | None:
    if isinstance(item, str):
        return ModelEntry(item) if item else None
    if not isinstance(item, dict):
        return None
    model_id = item.get("id") or item.get("name")
    if not isinstance(model_id, str) or not model_id:
        return None
    created = item.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        created = unix_seconds(item.get("created_at"))
    display = item.get("display_name")
    return ModelEntry(model_id, created, display if isinstance(display, str) else None)


def unix_seconds(stamp: Any) -> int | None:
    """RFC 3339 -> Unix seconds; None when absent or unreadable rather than failing a list.
    A stamp without a zone is read as UTC."""
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def openai_model(listed_id: str, owned_by: str, created: int) -> dict[str, Any]:
    """One entry of an OpenAI model list, as the gateway lists it to clients."""
    return {"id": listed_id, "object": "model", "created": created, "owned_by": owned_by}


def openai_model_list(models: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": models}
