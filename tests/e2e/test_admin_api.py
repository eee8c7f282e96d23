"""End to end: the Providers page's API on the real `mitmllm run`, as curl or the page
reach it. mitmproxy's reverse mode rewrites the Host header before any addon sees it unless
told not to; the access checks need the client's own (docs/admin.md#access)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx2 as httpx
import pytest
from support.proxy import MitmllmProcess

pytestmark = pytest.mark.e2e

CONFIG = "providers: []\nlocal: {enabled: false}\n"


def test_the_api_answers_this_machine_by_its_own_names_only(tmp_path: Path) -> None:
    with MitmllmProcess(tmp_path, CONFIG) as proxy:
        for host in (f"127.0.0.1:{proxy.port}", f"localhost:{proxy.port}"):
            state = httpx.get(f"{proxy.url}/admin/api/state", headers={"host": host})
            assert state.status_code == 200, state.text
            assert state.json()["listen"]["url"] == f"http://{host}/v1"
        page = httpx.get(f"{proxy.url}/admin")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "default-src 'self'" in page.headers["content-security-policy"]
        rebound = httpx.get(f"{proxy.url}/admin/api/state",
                            headers={"host": f"evil.example:{proxy.port}"})
        assert rebound.status_code == 403 and "csrf" not in rebound.text
        csrf = httpx.get(f"{proxy.url}/admin/api/state").json()["csrf"]
        settings = {"name": "lab", "preset": "custom", "host": "127.0.0.1", "auth": "none"}
        refused = httpx.post(f"{proxy.url}/admin/api/providers", json={"settings": settings},
                             headers={"origin": "https://evil.example", "x-csrf-token": csrf})
        assert refused.status_code == 403
        added = httpx.post(f"{proxy.url}/admin/api/providers", json={"settings": settings},
                           headers={"origin": proxy.url, "x-csrf-token": csrf})
        assert added.status_code == 201, added.text
        assert "name: lab" in proxy.config.read_text()


def test_a_key_set_with_the_cli_reaches_the_running_proxy(tmp_path: Path) -> None:
    from support.fake_provider import ProviderThread

    tests = Path(__file__).resolve().parents[1]
    keys = tmp_path / "keys.json"
    env = {"PYTHON_KEYRING_BACKEND": "support.file_keyring.FileKeyring",
           "MITMLLM_TEST_KEYRING_FILE": str(keys), "PYTHONPATH": str(tests)}
    with ProviderThread() as fake:
        fake.models = ["m1"]
        proxy = MitmllmProcess(tmp_path / "proxy", "", env=env)
        proxy.config.write_text(
            f"listen: {{port: {proxy.port}}}\nproviders:\n  - {{name: lab, preset: custom, "
            f"host: 127.0.0.1, protocol: http, port: {fake.port}, auth: api_key}}\n"
            "local: {enabled: false}\n")
        with proxy:
            assert "set-key lab" in (proxy.wait_for("lab", "error")["error"] or "")
            done = subprocess.run(
                [sys.executable, "-m", "mitmllm.cli", "providers", "set-key", "lab",
                 "--config", str(proxy.config)], input="sk-set-later-0001", text=True,
                capture_output=True, env=proxy.env, timeout=30)
            assert done.returncode == 0, done.stderr
            assert f"The running mitmllm on http://127.0.0.1:{proxy.port} reconnected 'lab'" \
                in done.stdout
            proxy.wait_for("lab", "connected", timeout=1.5)  # at once: the CLI asked for it
            assert fake.requests[-1].headers["authorization"] == "Bearer sk-set-later-0001"
        assert "sk-set-later-0001" not in proxy.log()
