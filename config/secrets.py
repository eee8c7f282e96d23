"""Provider secrets in the OS keychain, with environment fallbacks.

Keychain layout (Python `keyring`, service `mitmllm`): the API key under the account `NAME`,
a secret header under `NAME:HEADER`. When the keychain has no entry, the API key is read
from `MITMLLM_KEY_<NAME>`, then from the preset's conventional variable (`OPENAI_API_KEY`,
...); a secret header from `MITMLLM_KEY_<NAME>_<HEADER>`.

Every call here may block (D-Bus, Keychain Services): addons call it off the event loop.
Messages never contain a secret value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import keyring
import keyring.backends.null
import keyring.errors

from .model import ProviderConfig, env_key_name
from .presets import PRESETS

SERVICE = "mitmllm"

# What works on a headless Linux box (checked on Debian 12 with gnome-keyring 42; the
# README's Secrets section says the same at more length): a shell of its own with a session
# bus and an unlocked gnome-keyring, or the key in the environment of `mitmllm run`.
SECRET_SERVICE_PACKAGES = "gnome-keyring dbus-user-session"  # Debian 12, Ubuntu 24.04
UNLOCKED_SHELL = (
    "dbus-run-session -- bash -c 'read -rsp \"keyring password: \" PW; printf %s \"$PW\" | "
    "gnome-keyring-daemon --unlock --components=secrets >/dev/null; unset PW; "
    "exec \"$SHELL\"'"
)
NO_KEYRING_HELP = (
    "no system keychain is available to Python's keyring (macOS and Windows have one; Linux "
    "needs an unlocked Secret Service, which a desktop session starts). Without a desktop: "
    f"(a) `sudo apt install {SECRET_SERVICE_PACKAGES}`, then `{UNLOCKED_SHELL}` starts a "
    "shell with an unlocked gnome-keyring (the keys are kept in ~/.local/share/keyrings, "
    "encrypted with that password): run set-key and `mitmllm run` in it; or (b) skip the "
    "keychain and export the key before `mitmllm run`: `read -rs {first} && export "
    "{first}` (mitmllm reads {env})."
)


def no_keyring_help(env: str) -> str:
    """NO_KEYRING_HELP for a secret that `env` (one variable, or "A or B") could hold."""
    return NO_KEYRING_HELP.format(env=env, first=env.split(" or ")[0])


class SecretError(Exception):
    """The keychain could not be used; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class SecretSource:
    value: str
    origin: str  # "keychain" or the environment variable's name, for `providers list`


def api_key_account(provider_name: str) -> str:
    return provider_name


def header_account(provider_name: str, header: str) -> str:
    return f"{provider_name}:{header}"


def env_header_name(provider_name: str, header: str) -> str:
    return env_key_name(provider_name) + "_" + re.sub(r"[^A-Za-z0-9]", "_", header).upper()


class Secrets:
    """Reads and writes one service's entries; `environ` is injectable for tests."""

    def __init__(self, service: str = SERVICE, environ: Mapping[str, str] | None = None):
        self.service = service
        self.environ = os.environ if environ is None else environ

    def api_key(self, provider: ProviderConfig) -> SecretSource | None:
        preset = PRESETS.get(provider.preset)
        variables = (env_key_name(provider.name), preset.env_var if preset else None)
        return self._lookup(api_key_account(provider.name), variables)

    def header(self, provider: ProviderConfig, header: str) -> SecretSource | None:
        return self._lookup(header_account(provider.name, header),
                            (env_header_name(provider.name, header),))

    def _lookup(self, account: str, variables: tuple[str | None, ...]) -> SecretSource | None:
        """The keychain entry, else the first variable set. A broken keychain only matters
        when the environment has nothing either."""
        problem: SecretError | None = None
        try:
            found = self._keychain(account)
        except SecretError as exc:
            found, problem = None, exc
        if found is not None:
            return SecretSource(found, "keychain")
        for variable in variables:
            if variable and self.environ.get(variable):
                return SecretSource(self.environ[variable], variable)
        if problem is not None:
            raise problem
        return None

    def missing_key_help(self, provider: ProviderConfig) -> str:
        preset = PRESETS.get(provider.preset)
        names = [env_key_name(provider.name)] + ([preset.env_var] if preset and
                                                 preset.env_var else [])
        return (f"no API key for provider '{provider.name}': run `mitmllm providers set-key "
                f"{provider.name}` or set {' or '.join(names)}")

    def _require_storage(self, env: str = "MITMLLM_KEY_<NAME>") -> None:
        # The null backend "stores" nothing and says nothing: a user would think the key
        # was saved. It is only good for reading (tests, environment-only setups).
        if isinstance(keyring.get_keyring(), keyring.backends.null.Keyring):
            raise SecretError(no_keyring_help(env) + " (The keyring backend is "
                              "the null backend, which stores nothing.)")

    def set(self, account: str, value: str, *, env: str = "MITMLLM_KEY_<NAME>") -> None:
        """Store a secret; `env` names the variable that could hold it instead."""
        self._require_storage(env)
        try:
            keyring.set_password(self.service, account, value)
        except keyring.errors.NoKeyringError as exc:
            raise SecretError(no_keyring_help(env)) from exc
        except keyring.errors.KeyringError as exc:
            raise SecretError(f"the keychain refused to store the secret: {_reason(exc)}") from exc

    def delete(self, account: str) -> bool:
        """Remove an entry; False if there was none."""
        self._require_storage()
        try:
            keyring.delete_password(self.service, account)
        except keyring.errors.PasswordDeleteError:
            return False
        except keyring.errors.NoKeyringError as exc:
            raise SecretError(no_keyring_help("MITMLLM_KEY_<NAME>")) from exc
        except keyring.errors.KeyringError as exc:
            raise SecretError(f"the keychain refused to delete the secret: {_reason(exc)}") \
                from exc
        return True

    def delete_provider(self, provider: ProviderConfig) -> list[str]:
        """Remove the provider's key and secret headers; the accounts actually removed."""
        accounts = [api_key_account(provider.name)] + [
            header_account(provider.name, h) for h in provider.secret_headers]
        return [account for account in accounts if self.delete(account)]

    def get_raw(self, account: str) -> str | None:
        return self._keychain(account, strict=True)

    def _keychain(self, account: str, *, strict: bool = False) -> str | None:
        try:
            return keyring.get_password(self.service, account)
        except keyring.errors.NoKeyringError as exc:
            # Reading falls back to the environment; only writes insist on a keychain.
            if strict:
                raise SecretError(no_keyring_help("MITMLLM_KEY_<NAME>")) from exc
            return None
        except keyring.errors.KeyringError as exc:
            raise SecretError(f"the keychain could not be read: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
