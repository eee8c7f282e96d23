"""Provider changes as the Providers page makes them: settings in, config file and keychain
out (the API is docs/admin.md).

The page speaks in *settings*: one provider's config fields, with its custom headers as rows
`{"name", "value", "secret"}`. Here they become config fields (a `headers` map and a
`secret_headers` list), are validated by the schema that reads the file (so the page shows
the CLI's messages), and are written with `ConfigDocument` (comments kept, atomic, locked).
Only fields that differ from what the preset or the default would give are written, as the
CLI does, so the file stays as short as a person would write it. Secrets are write-only:
they go to the keychain and only whether one is set ever comes back.

Everything here blocks (file and keychain I/O): the addon calls it off the event loop.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .model import GatewayConfig, ProviderConfig, env_key_name
from .presets import CUSTOM_EXAMPLES, PRESETS
from .schema import ConfigError, parse_provider, secret_looking
from .secrets import (
    SecretError,
    Secrets,
    SecretSource,
    api_key_account,
    env_header_name,
    header_account,
)
from .store import editing

# The settings the page edits, in the order a person reads them (WRITE_ORDER's fields but
# `secret_headers`, which the page folds into `headers`).
SETTINGS = ("name", "preset", "host", "protocol", "port", "base_path", "format", "auth",
            "enabled", "auto_connect", "timeout", "max_tokens_default", "hosted_tools",
            "models", "headers")
ALWAYS_WRITTEN = ("name", "preset")


class NameTaken(ConfigError):
    """Another provider has that name (or slug)."""


@dataclass(frozen=True, slots=True)
class SecretChanges:
    """The write-only part of a request: values to store, and the key to forget."""

    api_key: str | None = None
    clear_api_key: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, body: Mapping[str, Any]) -> SecretChanges:
        api_key = body.get("api_key")
        if api_key is not None and not isinstance(api_key, str):
            raise ConfigError("expected a string", field="api_key")
        headers = body.get("secret_headers") or {}
        if not isinstance(headers, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise ConfigError("expected a mapping of header names to strings",
                              field="secret_headers")
        for value in (api_key or "", *headers.values()):
            if "\n" in value or "\r" in value:
                raise ConfigError("a secret must be a single line", field="api_key")
        return cls(api_key=(api_key.strip() or None) if api_key else None,
                   clear_api_key=body.get("clear_api_key") is True,
                   headers={k: v.strip() for k, v in headers.items() if v.strip()})


# --- settings <-> config fields -----------------------------------------------------------


def settings_of(provider: ProviderConfig) -> dict[str, Any]:
    """What the page shows and edits, secrets left out."""
    rows: list[dict[str, Any]] = [{"name": k, "value": v, "secret": False}
                                  for k, v in provider.headers]
    rows += [{"name": h, "value": None, "secret": True} for h in provider.secret_headers]
    return {"name": provider.name, "preset": provider.preset, "host": provider.host,
            "protocol": provider.protocol, "port": provider.port,
            "base_path": provider.base_path or "/", "format": provider.format,
            "auth": provider.auth, "enabled": provider.enabled,
            "auto_connect": provider.auto_connect, "timeout": provider.timeout,
            "max_tokens_default": provider.max_tokens_default,
            "hosted_tools": provider.hosted_tools, "models": list(provider.models),
            "headers": rows}


def config_fields(settings: Any) -> dict[str, Any]:
    """The config fields of `settings`, only those that differ from the preset's or the
    default value; raises `ConfigError` naming the field for anything malformed."""
    if not isinstance(settings, Mapping):
        raise ConfigError("expected an object of provider settings", field="settings")
    unknown = [key for key in settings if key not in SETTINGS]
    if unknown:
        raise ConfigError(f"unknown setting; known: {', '.join(SETTINGS)}", field=unknown[0])
    raw: dict[str, Any] = {k: v for k, v in settings.items()
                           if k not in ("headers", "models") and v is not None and v != ""}
    preset = raw.get("preset")
    if isinstance(preset, str) and preset in CUSTOM_EXAMPLES:  # Ollama, LM Studio: Custom
        raw = {**CUSTOM_EXAMPLES[preset], **raw, "preset": "custom"}
    if isinstance(raw.get("port"), str) and str(raw["port"]).strip().isdigit():
        raw["port"] = int(str(raw["port"]).strip())  # a form field gives text
    for number in ("timeout", "max_tokens_default"):
        if isinstance(raw.get(number), str):
            raw[number] = _number(raw[number], number)
    models = settings.get("models") or []
    if isinstance(models, str):
        models = [m.strip() for m in models.replace("\n", ",").split(",") if m.strip()]
    if models:
        raw["models"] = models
    plain, secret = _header_rows(settings.get("headers") or [])
    if plain:
        raw["headers"] = plain
    if secret:
        raw["secret_headers"] = secret
    provider = parse_provider(raw)  # the file's own rules and messages
    baseline = parse_provider({"name": provider.name, "preset": provider.preset,
                               "host": provider.host})
    written: dict[str, Any] = {}
    for item in fields(ProviderConfig):
        key = item.name
        value = getattr(provider, key)
        if key in ALWAYS_WRITTEN or (key == "host" and provider.preset == "custom") or (
                value != getattr(baseline, key)):
            written[key] = _plain(value)
    return written


def _number(text: str, name: str) -> float | int:
    try:
        value = float(text.strip())
    except ValueError:
        raise ConfigError(f"expected a number, got {text!r}", field=name) from None
    return int(value) if value.is_integer() and name == "max_tokens_default" else value


def _header_rows(rows: Any) -> tuple[dict[str, str], list[str]]:
    if not isinstance(rows, list):
        raise ConfigError("expected a list of {name, value, secret} rows", field="headers")
    plain: dict[str, str] = {}
    secret: list[str] = []
    seen: set[str] = set()
    for row in rows:
        if not isinstance(row, Mapping):
            raise ConfigError("expected a list of {name, value, secret} rows", field="headers")
        name = str(row.get("name") or "").strip()
        if not name:
            if row.get("value"):
                raise ConfigError("a header needs a name", field="headers")
            continue  # an empty row the form left
        if name.lower() in seen:
            raise ConfigError(f"the header {name} is given twice", field="headers")
        seen.add(name.lower())
        if row.get("secret") is True:
            secret.append(name)
        elif secret_looking(name) and row.get("value"):
            raise ConfigError(f"{name} carries a secret: switch on Secret for it, so its "
                              "value goes to the keychain, not to the config file in clear",
                              field="headers")
        else:
            plain[name] = str(row.get("value") or "")
    return plain, secret


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): v for k, v in value}  # headers
        return list(value)
    return value


# --- what is stored -------------------------------------------------------------------


def secret_status(provider: ProviderConfig, keychain: Secrets) -> dict[str, Any]:
    """Whether each secret is set and where it comes from; never a value."""
    def status(read: Callable[[], SecretSource | None]) -> dict[str, Any]:
        try:
            found = read()
        except SecretError:
            found = None
        return {"set": found is not None, "origin": found.origin if found else None}

    headers = {h: status(functools.partial(keychain.header, provider, h))
               for h in provider.secret_headers}
    return {"api_key": status(functools.partial(keychain.api_key, provider)),
            "headers": headers}


class FormSecrets(Secrets):
    """The stored secrets, with the values typed into a form first: testing unsaved
    settings uses what the user just typed, else what is stored."""

    def __init__(self, base: Secrets, changes: SecretChanges):
        super().__init__(base.service, base.environ)
        self.changes = changes

    def api_key(self, provider: ProviderConfig) -> SecretSource | None:
        if self.changes.api_key:
            return SecretSource(self.changes.api_key, "form")
        return None if self.changes.clear_api_key else super().api_key(provider)

    def header(self, provider: ProviderConfig, header: str) -> SecretSource | None:
        if header in self.changes.headers:
            return SecretSource(self.changes.headers[header], "form")
        return super().header(provider, header)


# --- the changes -------------------------------------------------------------------------


def add_provider(path: Path, settings: Any, changes: SecretChanges,
                 keychain: Secrets) -> ProviderConfig:
    written = config_fields(settings)
    stored: list[str] = []
    try:
        with editing(path) as document:  # saved when the block ends without an error
            existing = document.validated().provider(str(written["name"]))
            if existing is not None:
                raise NameTaken(f"a provider named '{existing.name}' already exists",
                                field="name")
            document.add_provider(written)
            provider = _named(document.validated(), str(written["name"]))
            stored = _store(provider, changes, keychain)
    except BaseException:
        _forget(keychain, stored)  # no provider in the file: no secrets of its own either
        raise
    return provider


def replace_provider(path: Path, name: str, settings: Any, changes: SecretChanges,
                     keychain: Secrets) -> ProviderConfig:
    written = config_fields(settings)
    stored: list[str] = []
    try:
        with editing(path) as document:
            old = _named(document.validated(), name)
            clash = document.validated().provider(str(written["name"]))
            if clash is not None and clash.name != old.name:
                raise NameTaken(f"a provider named '{clash.name}' already exists",
                                field="name")
            document.update_provider(old.name, {key: written.get(key) for key in WRITTEN_KEYS})
            provider = _named(document.validated(), str(written["name"]))
            if provider.name != old.name:
                stored = _copy_secrets(old, provider, keychain)
            stored += _store(provider, changes, keychain)
    except BaseException:
        _forget(keychain, stored)
        raise
    # Only once the file says so: the entries the provider no longer uses.
    renamed = provider.name != old.name
    gone = [header_account(old.name, h) for h in old.secret_headers
            if renamed or h not in provider.secret_headers]
    if renamed:
        gone.append(api_key_account(old.name))
    if changes.clear_api_key and not changes.api_key:
        gone.append(api_key_account(provider.name))
    _forget(keychain, [account for account in gone if account not in stored])
    return provider


WRITTEN_KEYS = tuple(item.name for item in fields(ProviderConfig))


def remove_provider(path: Path, name: str, keychain: Secrets) -> tuple[str, int]:
    """The provider's name and how many keychain entries went with it. The keychain goes
    first: a provider whose key could not be deleted is kept (as the CLI does)."""
    with editing(path) as document:
        provider = _named(document.validated(), name)
        try:
            removed = keychain.delete_provider(provider)
        except SecretError as exc:
            if "no system keychain" not in str(exc):
                raise
            removed = []
        document.remove_provider(provider.name)
    return provider.name, len(removed)


def set_enabled(path: Path, name: str, enabled: bool) -> ProviderConfig:
    with editing(path) as document:
        provider = _named(document.validated(), name)
        document.update_provider(provider.name, {"enabled": None if enabled else False})
        return _named(document.validated(), provider.name)


def _named(config: GatewayConfig, name: str) -> ProviderConfig:
    provider = config.provider(name)
    if provider is None:
        raise LookupError(f"no provider named '{name}'")
    return provider


def _store(provider: ProviderConfig, changes: SecretChanges, keychain: Secrets) -> list[str]:
    """Write the typed secrets; the accounts written (undone by the caller on failure)."""
    stored: list[str] = []
    unknown = [h for h in changes.headers if h not in provider.secret_headers]
    if unknown:
        raise ConfigError(f"'{unknown[0]}' is not a secret header of '{provider.name}'",
                          field="secret_headers")
    try:
        if changes.api_key:
            keychain.set(api_key_account(provider.name), changes.api_key,
                         env=" or ".join(_key_variables(provider)))
            stored.append(api_key_account(provider.name))
        for header, value in changes.headers.items():
            keychain.set(header_account(provider.name, header), value,
                         env=env_header_name(provider.name, header))
            stored.append(header_account(provider.name, header))
    except SecretError:
        _forget(keychain, stored)
        raise
    return stored


def _key_variables(provider: ProviderConfig) -> list[str]:
    preset = PRESETS.get(provider.preset)
    return [env_key_name(provider.name)] + ([preset.env_var] if preset and preset.env_var
                                            else [])


def _copy_secrets(old: ProviderConfig, new: ProviderConfig, keychain: Secrets) -> list[str]:
    """A renamed provider's keychain entries, copied to its new name; the accounts
    written (the old ones go once the file is saved)."""
    pairs = [(api_key_account(old.name), api_key_account(new.name))]
    pairs += [(header_account(old.name, h), header_account(new.name, h))
              for h in old.secret_headers if h in new.secret_headers]
    copied: list[str] = []
    for source, target in pairs:
        value = keychain.get_raw(source)
        if value is not None:
            keychain.set(target, value)
            copied.append(target)
    return copied


def _forget(keychain: Secrets, accounts: list[str]) -> None:
    for account in accounts:
        try:
            keychain.delete(account)
        except SecretError:
            pass  # nothing stored there could matter: no keychain


__all__ = ["FormSecrets", "NameTaken", "SecretChanges", "add_provider", "config_fields",
           "remove_provider", "replace_provider", "secret_status", "set_enabled",
           "settings_of"]
