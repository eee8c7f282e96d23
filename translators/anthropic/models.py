"""Anthropic model lists, written for Anthropic clients (docs/formats.md#model-lists).

Anthropic answers `{"data": [{"type": "model", "id", "display_name", "created_at"}],
"has_more", "first_id", "last_id"}` and pages with `limit`/`after_id`; `created_at` is
RFC 3339 where OpenAI's `created` is Unix seconds. Provider pages are read by
`chat.models.parse_model_page`, which knows both spellings and the paging fields. The
Anthropic SDK's `models.list()` wants this shape back, so the gateway answers it when the
client sent `anthropic-version`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

PAGE_LIMIT = 1000  # the largest page the API serves


def anthropic_model(listed_id: str, display_name: str | None, created: float) -> dict[str, Any]:
    """One entry of an Anthropic model list, as the gateway lists it to clients."""
    stamp = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "model", "id": listed_id, "display_name": display_name or listed_id,
            "created_at": stamp}


def anthropic_model_list(models: list[dict[str, Any]]) -> dict[str, Any]:
    """One page holding every model: the gateway lists from memory, there is nothing to page."""
    return {"data": models, "has_more": False,
            "first_id": models[0]["id"] if models else None,
            "last_id": models[-1]["id"] if models else None}
