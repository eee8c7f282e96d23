"""Validation of the YAML document into `GatewayConfig`.

Every error names the file, the provider and the field, and says what was expected, e.g.
`~/.config/mitmllm/config.yaml: provider 'ollama': field 'port': expected an integer from
1 to 65535, got 'abc'`. Unknown fields are errors too (with a suggestion), because a
misspelt `base_path` silently falling back to `/v1` is worse than a refusal.
"""

from __future__ import annotations

import datetime
import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..translators.formats import (
    DEFAULT_MAX_TOKENS,
    FORMATS,
    HOSTED_TOOLS,
    Format,
    HostedTools,
    is_format,
)
from .hosts import ADDRESS_FIELDS, LISTEN_FIELDS, host_error, normalise_host
from .model import (
    LOCAL_PROVIDER,
    GatewayConfig,
    ListenConfig,
    LocalConfig,
    ProviderConfig,
    slug,
)
from .presets import PRESETS

PROTOCOLS = ("http", "https")
AUTH_KINDS = ("none", "api_key")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Header names whose value is a credential: as a plain header it would sit in the config
# file in clear (and be shown); `secret_headers` keeps it in the keychain.
_SECRET_NAMES = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key",
                           "cookie"})
_SECRET_WORDS = ("token", "secret", "password", "api-key", "apikey", "credential")


def secret_looking(header: str) -> bool:
    name = header.strip().lower()
    return name in _SECRET_NAMES or any(word in name for word in _SECRET_WORDS)


def secret_header_advice(provider: str, header: str) -> str:
    """What to do instead of a plain header that carries a credential."""
    return (f"{header} carries a secret: as a plain header it is written to the config file "
            f"in clear; keep it in the keychain instead with `mitmllm providers edit "
            f"{provider} --secret-header {header}`, then `mitmllm providers set-key "
            f"{provider} --header {header}`")
PROVIDER_FIELDS = tuple(f.name for f in fields(ProviderConfig))


class ConfigError(Exception):
    """A configuration problem, located as precisely as possible."""

    def __init__(self, message: str, *, path: Path | str | None = None,
                 provider: str | None = None, field: str | None = None):
        self.reason = message
        self.path = path
        self.provider = provider
        self.field = field
        where = []
        if path:
            where.append(str(path))
        if provider is not None:
            where.append(f"provider '{provider}'")
        if field:
            where.append(f"field '{field}'")
        super().__init__(": ".join([*where, message]))


class ConfigFileError(ConfigError):
    """The file itself cannot be read or written (permissions, a directory in the way)."""


class _Fields:
    """Reads typed fields from one mapping, raising errors that say where they are."""

    def __init__(self, data: Mapping[str, Any], *, path: Path | None, provider: str | None,
                 prefix: str = ""):
        self.data = data
        self.path = path
        self.provider = provider
        self.prefix = prefix

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.path, provider=self.provider,
                           field=self.prefix + key)

    def reject_unknown(self, allowed: tuple[str, ...]) -> None:
        for key in self.data:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                suffix = f" (did you mean '{hint[0]}'?)" if hint else ""
                raise self.error(str(key), f"unknown field{suffix}; known fields: "
                                 + ", ".join(allowed))

    def string(self, key: str, default: str | None = None, *,
               choices: tuple[str, ...] | None = None) -> str | None:
        value = self.data.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {value!r}")
        if choices and value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def format(self, key: str, default: Format) -> Format:
        value = self.string(key, default, choices=FORMATS)
        return value if is_format(value) else default

    def hosted_tools(self, key: str) -> HostedTools:
        value = self.string(key, "drop", choices=HOSTED_TOOLS)
        return "refuse" if value == "refuse" else "drop"

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def integer(self, key: str, default: int | None, *, low: int, high: int) -> int | None:
        value = self.data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(key, f"expected an integer from {low} to {high}, got {value!r}")
        return value

    def number(self, key: str, default: float, *, low: float) -> float:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or value <= low:
            raise self.error(key, f"expected a number greater than {low:g}, got {value!r}")
        return float(value)

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(key, f"expected a list of non-empty strings, got {value!r}")
        return tuple(value)


# The listen token from the environment, where the file has none: a container keeps the
# config file in a ConfigMap and the token in a Secret (deploy/k8s/).
LISTEN_TOKEN_VARIABLE = "MITMLLM_LISTEN_TOKEN"


def parse_config(data: Any, path: Path | None = None,
                 environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """`environ` (os.environ by default) may give the listen token (`LISTEN_TOKEN_VARIABLE`)."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError("the file must hold a mapping with listen, providers, local",
                          path=path)
    top = _Fields(data, path=path, provider=None)
    top.reject_unknown(("listen", "providers", "local"))
    env = os.environ if environ is None else environ
    listen = _parse_listen(_section(top, "listen"), path, env.get(LISTEN_TOKEN_VARIABLE) or None)
    local = _parse_local(_section(top, "local"), path)
    raw_providers = data.get("providers")
    if raw_providers is None:
        raw_providers = []
    if not isinstance(raw_providers, list):
        raise top.error("providers", "expected a list of providers")
    providers: list[ProviderConfig] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(raw_providers):
        provider = parse_provider(raw, path=path, index=index)
        if provider.slug in seen:
            raise ConfigError(f"the name is already used by provider '{seen[provider.slug]}' "
                              "(names are compared as model prefixes: case and spaces ignored)",
                              path=path, provider=provider.name, field="name")
        seen[provider.slug] = provider.name
        providers.append(provider)
    return GatewayConfig(listen=listen, providers=tuple(providers), local=local, path=path)


def _section(top: _Fields, key: str) -> _Fields:
    value = top.data.get(key) or {}
    if not isinstance(value, Mapping):
        raise top.error(key, "expected a mapping")
    return _Fields(value, path=top.path, provider=None, prefix=f"{key}.")


def _parse_listen(section: _Fields, path: Path | None, env_token: str | None) -> ListenConfig:
    section.reject_unknown(("host", "port", "token", "max_body_mb"))
    listen = ListenConfig(
        host=_host(section, "host", "127.0.0.1", LISTEN_FIELDS) or "127.0.0.1",
        port=section.integer("port", 1337, low=1, high=65535) or 1337,
        token=section.string("token") or env_token,
        max_body_mb=section.number("max_body_mb", 32, low=0),
    )
    if not listen.is_loopback and not listen.token:
        raise section.error("token", f"required when listening on {listen.host}, which is not "
                            "loopback: anyone who can reach the port could spend your keys "
                            f"(or set {LISTEN_TOKEN_VARIABLE})")
    return listen


def _parse_local(section: _Fields, path: Path | None) -> LocalConfig:
    section.reject_unknown(("enabled", "model_dirs", "max_loaded"))
    return LocalConfig(
        enabled=section.boolean("enabled", True),
        model_dirs=tuple(Path(d).expanduser() for d in section.string_list("model_dirs")),
        max_loaded=section.integer("max_loaded", 1, low=1, high=64) or 1,
    )


def _host(f: _Fields, key: str, default: str | None,
          fields: tuple[str, ...] = ADDRESS_FIELDS) -> str | None:
    """A host name, IPv4 or IPv6 address (brackets dropped); a URL is refused with the
    fields to write instead."""
    value = f.string(key, default)
    if not value:
        return value
    host = normalise_host(value)
    if host is None:
        raise f.error(key, host_error(value, fields))
    return host


def _base_path(f: _Fields, default: str) -> str:
    """A URL path; a missing leading `/` is added (`v1` is `/v1`)."""
    value = f.string("base_path", default) or ""
    if "://" in value:
        raise f.error("base_path", f"expected a path such as /v1, got {value!r}; the protocol "
                      "and host are fields of their own")
    if any(c.isspace() for c in value) or "?" in value or "#" in value:
        raise f.error("base_path", f"expected a path such as /v1 (no spaces, query or "
                      f"fragment), got {value!r}")
    return value if not value or value.startswith("/") else "/" + value


def parse_provider(raw: Any, *, path: Path | None = None, index: int = 0) -> ProviderConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"providers[{index}]: expected a mapping with at least a name",
                          path=path)
    name = raw.get("name")
    if isinstance(name, bool | int | float):
        # YAML reads `name: off` or `name: 1` as a boolean or number.
        raise ConfigError(f"providers[{index}]: field 'name': {name!r} is not a string; "
                          "put the name in quotes", path=path)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"providers[{index}]: field 'name': expected a non-empty string",
                          path=path)
    f = _Fields(raw, path=path, provider=name)
    f.reject_unknown(PROVIDER_FIELDS)
    if slug(name) == LOCAL_PROVIDER:
        raise f.error("name", "'local' is reserved for local MLX models")
    # Without an explicit preset, a provider named after one (`openai`) takes it.
    default_preset = slug(name) if slug(name) in PRESETS else "custom"
    preset_id = f.string("preset", default_preset, choices=tuple(PRESETS)) or default_preset
    preset = PRESETS[preset_id]

    host = _host(f, "host", preset.host)
    if not host:
        raise f.error("host", "required for a custom provider (e.g. localhost)")
    base_path = _base_path(f, preset.base_path)
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise f.error("headers", f"expected a mapping of header names to values, got {headers!r}")
    for key, value in headers.items():
        if not isinstance(key, str) or not _HEADER_NAME.match(key):
            raise f.error("headers", f"{key!r} is not a valid header name")
        # YAML reads `2023-06-01` as a date: it is still the text the user wrote.
        if not isinstance(value, str | int | float | datetime.date) or isinstance(value, bool):
            raise f.error("headers", f"the value of {key} must be a string (quote it)")
    secret_headers = f.string_list("secret_headers")
    for key in secret_headers:
        if not _HEADER_NAME.match(key):
            raise f.error("secret_headers", f"{key!r} is not a valid header name")
    return ProviderConfig(
        name=name,
        preset=preset_id,
        host=host,
        protocol=f.string("protocol", preset.protocol, choices=PROTOCOLS) or preset.protocol,
        port=f.integer("port", preset.port, low=1, high=65535),
        base_path=base_path.rstrip("/"),
        format=f.format("format", preset.format),
        auth=f.string("auth", preset.auth, choices=AUTH_KINDS) or preset.auth,
        enabled=f.boolean("enabled", True),
        auto_connect=f.boolean("auto_connect", True),
        timeout=f.number("timeout", 60, low=0),
        headers=tuple((str(k), str(v)) for k, v in headers.items()),
        secret_headers=secret_headers,
        models=f.string_list("models"),
        max_tokens_default=f.integer("max_tokens_default", DEFAULT_MAX_TOKENS, low=1,
                                     high=10_000_000) or DEFAULT_MAX_TOKENS,
        hosted_tools=f.hosted_tools("hosted_tools"),
    )

