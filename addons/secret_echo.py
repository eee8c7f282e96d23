"""A provider's own secrets, taken back out of whatever the provider sends back.

A hostile or careless provider may echo the key it got: in a 401 body ("invalid key
sk-..."), an error event, a model list error. Whatever mitmllm passes on or shows (the
client's answer, the inspection views, the provider's state on the Providers page and in
the log) has the provider's key and secret header values replaced by the redaction
marker. The values are those the request carried (`Exchange.secret_values`).
"""

from __future__ import annotations

from collections.abc import Iterable

from .state import REDACTED

MIN_SECRET = 8  # shorter values would hit ordinary text; no real key is this short
_MARK = REDACTED.encode()


def secret_values(headers: Iterable[str]) -> tuple[str, ...]:
    """The secrets in header values as sent (`Bearer KEY` counts as `KEY` too)."""
    found: list[str] = []
    for value in headers:
        found.append(value)
        if value[:7].lower() == "bearer ":
            found.append(value[7:].strip())
    return tuple(sorted({v for v in found if len(v) >= MIN_SECRET}, key=len, reverse=True))


def scrub_text(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_bytes(data: bytes, secrets: tuple[bytes, ...]) -> bytes:
    for secret in secrets:
        if secret in data:
            data = data.replace(secret, _MARK)
    return data
