"""Keychain helpers shared by the config and CLI tests.

Tests never touch a developer's own keychain: "no keychain" is `keyring.backends.fail`
pinned in-process (or `PYTHON_KEYRING_BACKEND` for a subprocess), and round-trips through a
real backend only run under `./dev test`, which starts a private gnome-keyring Secret Service
and sets `MITMLLM_TEST_SECRET_SERVICE=1`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import keyring
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import pytest
from keyring.backend import KeyringBackend

from .requirements import missing

SECRET_SERVICE_ENV = "MITMLLM_TEST_SECRET_SERVICE"
SKIP_REASON = "needs a Secret Service: run ./dev test with gnome-keyring and dbus installed"
FAIL_BACKEND = "keyring.backends.fail.Keyring"
NULL_BACKEND = "keyring.backends.null.Keyring"


def require_secret_service() -> KeyringBackend:
    """The real default backend, or skip the test when no private Secret Service runs (a
    failure on CI, which installs one: .ci/run)."""
    if os.environ.get(SECRET_SERVICE_ENV) != "1":
        missing(SKIP_REASON)
    backend = keyring.get_keyring()
    if isinstance(backend, keyring.backends.fail.Keyring | keyring.backends.null.Keyring):
        pytest.fail(f"{SECRET_SERVICE_ENV}=1 but keyring chose {backend!r}: the Secret Service "
                    "did not start, or PYTHON_KEYRING_BACKEND overrides it")
    return backend


@contextmanager
def pinned_keyring(backend: KeyringBackend) -> Iterator[KeyringBackend]:
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


def unique_name(prefix: str = "t") -> str:
    """A provider name no other test (or earlier run) uses in the shared keychain."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def forget(service: str, *accounts: str) -> None:
    """Delete entries a test may have left, ignoring the ones already gone."""
    for account in accounts:
        with suppress(keyring.errors.PasswordDeleteError):
            keyring.delete_password(service, account)


class MemoryKeyring(KeyringBackend):
    """A keychain in a dict, for addon tests of what is stored where (the real Secret
    Service is exercised by the end-to-end tests)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError(username)
