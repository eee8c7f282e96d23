"""The parsed configuration: frozen dataclasses, built only by `config.schema`.

Provider names double as model prefixes (`NAME/MODEL`); `slug()` is how a name reads in a
model id, as Osaurus slugs it: lower case, spaces and `/` become `-`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..translators.formats import DEFAULT_MAX_TOKENS, Format, HostedTools

LOCAL_PROVIDER = "local"  # the reserved prefix of local MLX models
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_SLUG_SEPARATORS = re.compile(r"[\s/]+")


def slug(name: str) -> str:
    return _SLUG_SEPARATORS.sub("-", name.strip()).lower()


def env_key_name(provider_name: str) -> str:
    """`MITMLLM_KEY_<NAME>`: the provider name upper-cased, `-` (and spaces) as `_`."""
    return "MITMLLM_KEY_" + re.sub(r"[^A-Za-z0-9]", "_", slug(provider_name)).upper()


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    host: str
    preset: str = "custom"
    protocol: str = "https"
    port: int | None = None
    base_path: str = "/v1"
    format: Format = "openai"
    auth: str = "api_key"
    enabled: bool = True
    auto_connect: bool = True
    timeout: float = 60.0
    headers: tuple[tuple[str, str], ...] = ()
    secret_headers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    max_tokens_default: int = DEFAULT_MAX_TOKENS
    hosted_tools: HostedTools = "drop"  # web search & co. that only the client's API can run

    @property
    def slug(self) -> str:
        return slug(self.name)

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 443 if self.protocol == "https" else 80

    @property
    def origin(self) -> str:
        default = 443 if self.protocol == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.effective_port == default else f":{self.effective_port}"
        return f"{self.protocol}://{host}{port}"

    def path(self, endpoint: str) -> str:
        """`base_path` joined with an endpoint such as `/chat/completions`."""
        return self.base_path.rstrip("/") + endpoint

    def url(self, endpoint: str) -> str:
        return self.origin + self.path(endpoint)


@dataclass(frozen=True, slots=True)
class ListenConfig:
    host: str = "127.0.0.1"
    port: int = 1337
    token: str | None = None
    max_body_mb: float = 32

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")


@dataclass(frozen=True, slots=True)
class LocalConfig:
    enabled: bool = True
    model_dirs: tuple[Path, ...] = ()
    max_loaded: int = 1


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    listen: ListenConfig = field(default_factory=ListenConfig)
    providers: tuple[ProviderConfig, ...] = ()
    local: LocalConfig = field(default_factory=LocalConfig)
    path: Path | None = None  # the file it was read from

    def provider(self, name: str) -> ProviderConfig | None:
        """By name, or by slug (case-insensitive, as in model prefixes)."""
        wanted = slug(name)
        for provider in self.providers:
            if provider.name == name or provider.slug == wanted:
                return provider
        return None
