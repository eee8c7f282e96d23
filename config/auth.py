"""The headers a provider needs: auth by format, plain custom headers, secret headers.

Auth header by format (the secrets contract, docs/architecture.md#secrets): openai and
responses send `Authorization: Bearer KEY`; anthropic sends `x-api-key: KEY` and
`anthropic-version: 2023-06-01` (unless the client sent its own version, which the caller
decides).

`SecretCache` keeps resolved values for a few seconds: a keychain read goes over D-Bus and
costs milliseconds, too much for every request; a rotated key is picked up within the TTL,
and at once when the config changes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .model import ProviderConfig
from .secrets import SecretError, Secrets

ANTHROPIC_VERSION = "2023-06-01"
SECRET_TTL_SECONDS = 10.0


class MissingKeyError(SecretError):
    """auth is api_key but neither the keychain nor the environment has a key."""


@dataclass(frozen=True, slots=True)
class ProviderHeaders:
    plain: dict[str, str] = field(default_factory=dict)  # safe to show (custom headers)
    secret: dict[str, str] = field(default_factory=dict)  # auth and secret headers


def auth_header(provider: ProviderConfig, key: str) -> tuple[str, str]:
    if provider.format == "anthropic":
        return ("x-api-key", key)
    return ("authorization", f"Bearer {key}")


def resolve_headers(provider: ProviderConfig, secrets: Secrets) -> ProviderHeaders:
    """Everything the provider needs, read now (blocking: call it off the event loop)."""
    plain = dict(provider.headers)
    if provider.format == "anthropic":
        plain.setdefault("anthropic-version", ANTHROPIC_VERSION)
    secret: dict[str, str] = {}
    if provider.auth == "api_key":
        found = secrets.api_key(provider)
        if found is None:
            raise MissingKeyError(secrets.missing_key_help(provider))
        name, value = auth_header(provider, found.value)
        secret[name] = value
    for header in provider.secret_headers:
        found = secrets.header(provider, header)
        if found is None:
            raise MissingKeyError(
                f"no value for secret header {header} of provider '{provider.name}': run "
                f"`mitmllm providers set-key {provider.name} --header {header}`")
        secret[header] = found.value
    return ProviderHeaders(plain, secret)


class SecretCache:
    """`resolve_headers` with a short per-provider cache. Thread-safe: used from workers."""

    def __init__(self, secrets: Secrets, ttl: float = SECRET_TTL_SECONDS):
        self.secrets = secrets
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[ProviderConfig, tuple[float, ProviderHeaders]] = {}

    def headers(self, provider: ProviderConfig) -> ProviderHeaders:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(provider)
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        resolved = resolve_headers(provider, self.secrets)
        with self._lock:
            self._entries[provider] = (now, resolved)
        return resolved

    def cached(self, provider: ProviderConfig) -> ProviderHeaders | None:
        """The cached value if fresh, without blocking; None means: resolve off the loop."""
        with self._lock:
            entry = self._entries.get(provider)
        if entry is not None and time.monotonic() - entry[0] < self.ttl:
            return entry[1]
        return None

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def forget(self, provider: ProviderConfig) -> None:
        """Drop one provider's values: read them afresh next time (a key was just set)."""
        with self._lock:
            self._entries.pop(provider, None)
