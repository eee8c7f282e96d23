"""End to end: the listen token follows the address actually bound, and a config reload
cannot drop it while the proxy runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from support.proxy import MitmllmProcess, free_port, isolated_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_a_reload_that_drops_the_token_keeps_it_until_a_restart(tmp_path: Path) -> None:
    config = "listen: {host: 0.0.0.0, token: team-t0k3n}\nproviders: []\n" \
             "local: {enabled: false}\n"
    with MitmllmProcess(tmp_path, config, args=("--host", "0.0.0.0")) as proxy:
        assert httpx.get(proxy.url + "/v1/models").status_code == 401
        proxy.config.write_text("listen: {host: 127.0.0.1, token: null}\nproviders: []\n"
                                "local: {enabled: false}\n")
        os.utime(proxy.config, ns=(time.time_ns() + 10**9,) * 2)
        deadline = time.monotonic() + 5
        while "restart" not in proxy.log():
            assert time.monotonic() < deadline, proxy.log()
            time.sleep(0.1)
        assert httpx.get(proxy.url + "/v1/models").status_code == 401  # still guarded
        assert httpx.get(proxy.url + "/v1/models",
                         headers={"authorization": "Bearer team-t0k3n"}).status_code == 200
    assert "team-t0k3n" not in proxy.log()


def test_stock_mitmdump_on_every_interface_needs_the_token(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("providers: []\nlocal: {enabled: false}\n")
    mitmdump = Path(sys.executable).parent / "mitmdump"
    done = subprocess.run(
        [str(mitmdump), "--mode", f"reverse:http://mitmllm.invalid@{free_port()}",
         "--set", "connection_strategy=lazy", "-s", "addons/script.py",
         "--set", f"mitmllm_config={config}"],  # no --listen-host: every interface
        cwd=ROOT, env=isolated_env(tmp_path / "home"), capture_output=True, text=True,
        timeout=30)
    assert done.returncode != 0
    assert "needs listen.token" in done.stdout + done.stderr


def test_the_token_from_the_environment_guards_every_interface(tmp_path: Path) -> None:
    """As deploy/k8s/ runs it: the config file without a token, MITMLLM_LISTEN_TOKEN from a
    Secret, `--host 0.0.0.0`."""
    config = "providers: []\nlocal: {enabled: false}\n"
    with MitmllmProcess(tmp_path, config, args=("--host", "0.0.0.0"),
                        env={"MITMLLM_LISTEN_TOKEN": "env-t0k3n"}) as proxy:
        assert httpx.get(proxy.url + "/v1/models").status_code == 401
        assert httpx.get(proxy.url + "/v1/models",
                         headers={"authorization": "Bearer env-t0k3n"}).status_code == 200
        assert httpx.get(proxy.url + "/ready").status_code == 200
    assert "env-t0k3n" not in proxy.log()
    assert "env-t0k3n" not in proxy.config.read_text()
