"""Base64 `data:` URLs, the way OpenAI Chat carries inline images and files, read and written.

Anthropic keeps the media type and the data apart (`source.media_type`, `source.data`);
these two functions go from one shape to the other.
"""

from __future__ import annotations

from typing import Any

_PREFIX = "data:"
_BASE64 = ";base64,"


def base64_data_url(media_type: Any, data: Any) -> str:
    return f"{_PREFIX}{media_type}{_BASE64}{data}"


def parse_base64_data_url(url: str) -> tuple[str, str] | None:
    """`(media type in lower case, base64 data)`, or None when `url` is not a base64 data
    URL with data. It is split at the first `;base64,` (docs/formats.md#content-parts)."""
    head, sep, data = url.partition(_BASE64)
    if not head.startswith(_PREFIX) or not sep or not data:
        return None
    return head[len(_PREFIX):].lower(), data
