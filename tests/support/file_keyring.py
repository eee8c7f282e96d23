"""A keyring backend that keeps entries in a JSON file, for CLI subprocesses that must store
a key without a Secret Service (`PYTHON_KEYRING_BACKEND=support.file_keyring.FileKeyring`,
`MITMLLM_TEST_KEYRING_FILE=PATH`, `tests/` on PYTHONPATH). Only viable with that variable
set, so loading it never changes which backend anything else gets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.compat import properties
from keyring.errors import PasswordDeleteError

FILE_ENV = "MITMLLM_TEST_KEYRING_FILE"
BACKEND = "support.file_keyring.FileKeyring"


class FileKeyring(KeyringBackend):
    @properties.classproperty
    def priority(cls) -> float:
        if not os.environ.get(FILE_ENV):
            raise RuntimeError(f"{FILE_ENV} is not set")
        return 0.5

    @property
    def _path(self) -> Path:
        return Path(os.environ[FILE_ENV])

    def _entries(self) -> dict[str, str]:
        try:
            return dict(json.loads(self._path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._entries().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        entries = self._entries()
        entries[f"{service}/{username}"] = password
        self._path.write_text(json.dumps(entries), encoding="utf-8")

    def delete_password(self, service: str, username: str) -> None:
        entries = self._entries()
        if entries.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError(username)
        self._path.write_text(json.dumps(entries), encoding="utf-8")
