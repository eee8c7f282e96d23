"""End to end: `mitmllm run --workers 2`. Two processes share the port, the metrics are
summed over both, a worker that dies is restarted while the other serves, SIGTERM stops
them all cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.fake_provider import Json, ProviderThread
from support.proxy import MitmllmProcess

pytestmark = pytest.mark.e2e

ANSWER = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
          "choices": [{"index": 0, "finish_reason": "stop",
                       "message": {"role": "assistant", "content": "hi"}}],
          "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def children(pid: int) -> list[int]:
    found = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                           text=True, check=False).stdout.split()
    return [int(p) for p in found]


def listening_sockets(port: int) -> int:
    """LISTEN sockets on `port` in /proc/net/tcp (state 0A)."""
    hex_port = f":{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1].endswith(hex_port)
               and line.split()[3] == "0A")


def requests_total(proxy: MitmllmProcess) -> float:
    text = httpx.get(proxy.url + "/metrics").text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == "mitmllm_requests_total")


def test_two_workers_share_the_port_and_survive_a_crash(tmp_path: Path) -> None:
    with ProviderThread() as fake:
        fake.models = ["m"]
        config = (f"providers:\n  - {{name: oai, preset: custom, host: 127.0.0.1, "
                  f"protocol: http, port: {fake.port}}}\nlocal: {{enabled: false}}\n")
        with MitmllmProcess(tmp_path, config, args=("--workers", "2")) as proxy:
            assert proxy.process is not None
            deadline = time.monotonic() + 20
            while len(children(proxy.process.pid)) < 2 or listening_sockets(proxy.port) < 2:
                assert time.monotonic() < deadline, proxy.log()
                time.sleep(0.1)
            workers = children(proxy.process.pid)
            assert len(workers) == 2

            def ask() -> None:
                fake.reply("/chat/completions", Json(200, ANSWER))
                with httpx.Client() as client:  # a new connection each time
                    answer = client.post(proxy.url + "/v1/chat/completions", json={
                        "model": "oai/m", "messages": [{"role": "user", "content": "hi"}]},
                        timeout=10)
                assert answer.status_code == 200, answer.text

            for _ in range(2):  # both workers connect the provider independently
                while httpx.get(proxy.url + "/admin/providers").json()[0]["state"] \
                        != "connected":
                    time.sleep(0.05)
            for _ in range(20):
                ask()
            assert requests_total(proxy) == 20  # summed over both workers

            os.kill(workers[0], signal.SIGKILL)
            for _ in range(10):
                ask()  # the other worker serves meanwhile
            deadline = time.monotonic() + 10
            while True:
                now = children(proxy.process.pid)
                if len(now) == 2 and workers[0] not in now:
                    break
                assert time.monotonic() < deadline, proxy.log()
                time.sleep(0.1)
            assert "worker 1 exited" in proxy.log()
            assert proxy.stop() == 0
        assert children(proxy.process.pid) == []


def test_web_and_windows_style_limits_are_explained(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mitmllm.cli", "web", "--workers", "2"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and "--workers" in done.stderr
