"""End to end with the real keychain: `providers set-key` stores the key in the Secret
Service, the running proxy sends it (and a secret header) to the provider, and
`providers remove` deletes both entries. Needs the private gnome-keyring that `./dev test`
starts (MITMLLM_TEST_SECRET_SERVICE=1); CI installs gnome-keyring and dbus for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.SecretService
import pytest
from openai import OpenAI
from support.fake_provider import Json, ProviderThread
from support.proxy import MitmllmProcess, isolated_env

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

if not os.environ.get("MITMLLM_TEST_SECRET_SERVICE"):
    if os.environ.get("CI"):
        pytest.fail("CI runs the keychain tests under ./dev test's Secret Service, which "
                    "did not start (support/requirements.py)")
    pytest.skip("needs the private Secret Service of ./dev test (gnome-keyring and dbus)",
                allow_module_level=True)

SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
KEY = "sk-from-the-keychain-9876"
HEADER_VALUE = "hdr-from-the-keychain-5432"


def mitmllm(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mitmllm.cli", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture(autouse=True)
def secret_service() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.SecretService.Keyring())
    yield
    keyring.set_keyring(previous)


def test_set_key_proxy_uses_it_remove_deletes_it(tmp_path: Path) -> None:
    with ProviderThread() as provider:
        port = provider.port
        config = tmp_path / "config.yaml"
        env = isolated_env(tmp_path / "home", {"PYTHON_KEYRING_BACKEND": SECRET_SERVICE})
        added = mitmllm(env, "providers", "add", "vault", "--preset", "custom",
                        "--host", "127.0.0.1", "--protocol", "http", "--port", str(port),
                        "--auth", "api_key", "--secret-header", "X-Org-Token",
                        "--models", "v1-model", "--config", str(config))
        assert added.returncode == 0, added.stderr
        stored = mitmllm(env, "providers", "set-key", "vault", "--config", str(config),
                         stdin=KEY + "\n")
        assert stored.returncode == 0, stored.stderr
        header = mitmllm(env, "providers", "set-key", "vault", "--header", "X-Org-Token",
                         "--config", str(config), stdin=HEADER_VALUE)
        assert header.returncode == 0, header.stderr
        assert keyring.get_password("mitmllm", "vault") == KEY
        assert keyring.get_password("mitmllm", "vault:X-Org-Token") == HEADER_VALUE
        assert KEY not in config.read_text() and HEADER_VALUE not in config.read_text()

        listed = mitmllm(env, "providers", "list", "--config", str(config))
        assert "keychain" in listed.stdout and KEY not in listed.stdout

        proxy = MitmllmProcess(tmp_path / "proxy", config.read_text(),
                               env={"PYTHON_KEYRING_BACKEND": SECRET_SERVICE})
        with proxy:
            provider.reply("/chat/completions", Json(200, {
                "id": "c", "object": "chat.completion", "created": 1, "model": "v1-model",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "secret ok"}}]}))
            client = OpenAI(base_url=proxy.url + "/v1", api_key="placeholder", max_retries=0)
            answer = client.chat.completions.create(
                model="vault/v1-model", messages=[{"role": "user", "content": "hi"}])
            assert answer.choices[0].message.content == "secret ok"
            received = provider.requests_to("/chat/completions")[-1]
            assert received.headers["authorization"] == f"Bearer {KEY}"
            assert received.headers["x-org-token"] == HEADER_VALUE
        log = proxy.log()
        assert KEY not in log and HEADER_VALUE not in log

        removed = mitmllm(env, "providers", "remove", "vault", "--config", str(config))
        assert removed.returncode == 0, removed.stderr
        assert "2 keychain entries" in removed.stdout
        assert keyring.get_password("mitmllm", "vault") is None
        assert keyring.get_password("mitmllm", "vault:X-Org-Token") is None
        assert "vault" not in config.read_text()
