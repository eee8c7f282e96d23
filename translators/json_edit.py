"""Byte-preserving edits of a JSON body: change one top-level string, keep every other byte.

When client and provider speak the same format the body passes through untouched except
the model name, so fields mitmllm does not know (`cache_control`, `thinking`, tomorrow's
parameters) and the client's exact number formatting survive. Re-serializing would not
guarantee that.
"""

from __future__ import annotations

import json
from json.decoder import scanstring  # type: ignore[attr-defined]

_DECODER = json.JSONDecoder()
_WHITESPACE = " \t\n\r"


def _skip_ws(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def replace_top_level_string(raw: bytes, key: str, value: str) -> bytes:
    """`raw` with the string value of top-level `key` replaced by `value`.

    Raises ValueError when `raw` is not a JSON object or the key is not a top-level
    string; the last occurrence wins for duplicated keys, as in `json.loads`.
    """
    text = raw.decode("utf-8")
    index = _skip_ws(text, 0)
    if index >= len(text) or text[index] != "{":
        raise ValueError("not a JSON object")
    index = _skip_ws(text, index + 1)
    span: tuple[int, int] | None = None
    while index < len(text) and text[index] != "}":
        if text[index] != '"':
            raise ValueError(f"expected a key at offset {index}")
        name, index = scanstring(text, index + 1)
        index = _skip_ws(text, index)
        if text[index:index + 1] != ":":
            raise ValueError(f"expected ':' at offset {index}")
        start = _skip_ws(text, index + 1)
        _, end = _DECODER.raw_decode(text, start)
        if name == key:
            if text[start] != '"':
                raise ValueError(f"'{key}' is not a string")
            span = (start, end)
        index = _skip_ws(text, end)
        if text[index:index + 1] == ",":
            index = _skip_ws(text, index + 1)
    if span is None:
        raise ValueError(f"no top-level '{key}'")
    replacement = json.dumps(value, ensure_ascii=False)
    return (text[:span[0]] + replacement + text[span[1]:]).encode("utf-8")
