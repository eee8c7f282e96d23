"""Keychain fixtures for the config tests (see tests/support/keyrings.py)."""

from __future__ import annotations

from collections.abc import Iterator

import keyring.backends.fail
import pytest
from keyring.backend import KeyringBackend
from support.keyrings import pinned_keyring, require_secret_service


@pytest.fixture
def no_keychain() -> Iterator[KeyringBackend]:
    """What a headless machine without a Secret Service has: every keyring call raises
    NoKeyringError. The previous backend comes back afterwards."""
    with pinned_keyring(keyring.backends.fail.Keyring()) as backend:
        yield backend


@pytest.fixture
def secret_service() -> KeyringBackend:
    """The real default backend (the private Secret Service of `./dev test`), else skip."""
    return require_secret_service()
