"""JSON values from clients and providers, read and written the same way by every translator.

What arrives may have any shape: these helpers give the caller a dict, a list of dicts or
None instead of raising halfway through a translation. Tool arguments and other JSON
strings are written compactly, as the providers themselves write them.
"""

from __future__ import annotations

import json
from typing import Any

# json.dumps builds a new encoder for every call with non-default options; one is enough.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


_BODY = json.JSONEncoder(ensure_ascii=False)


def json_bytes(value: Any) -> bytes:
    """`value` as a UTF-8 JSON body. A lone surrogate (`"\\ud800"` is valid JSON, not valid
    Unicode) cannot be UTF-8: it stays the escape it arrived as, the rest stays readable."""
    return _BODY.encode(value).encode("utf-8", "backslashreplace")


def compact_json(value: Any) -> str:
    """`value` as JSON text without spaces, non-ASCII characters kept as they are."""
    return _COMPACT.encode(value)


def parse_object(text: str) -> dict[str, Any] | None:
    """`text` parsed as JSON if it is an object; None for invalid JSON, JSON nested deeper
    than the parser goes, or any other value."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a list; nothing when `value` is not a list."""
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []
