"""The real mitmllm, started the way a user starts it (`mitmllm run`), as a subprocess.

    with MitmllmProcess(tmp_path, config_text, env={...}) as proxy:
        client = OpenAI(base_url=proxy.url + "/v1", api_key="anything")

The process gets its own HOME, config dir and Hugging Face cache, and the keyring backend
pinned to `null` (no secrets) unless the test passes another one; `stop()` sends SIGTERM
and returns the exit code, so tests can check a clean shutdown.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

NULL_KEYRING = "keyring.backends.null.Keyring"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MITMLLM_", "OPENAI_", "ANTHROPIC_", "XAI_", "OPENROUTER_"))}
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "HF_HOME": str(home / "hf"),
        "PYTHON_KEYRING_BACKEND": NULL_KEYRING,
        "PYTHONUNBUFFERED": "1",
    })
    if os.environ.get("MITMLLM_TEST_SECRET_SERVICE"):
        # Keep the private Secret Service of `./dev test` reachable.
        env["HOME"] = os.environ["HOME"]
    env.update(extra or {})
    return env


class MitmllmProcess:
    def __init__(self, workdir: Path, config_text: str, *, env: dict[str, str] | None = None,
                 command: str = "run", args: tuple[str, ...] = ()):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "config.yaml"
        self.config.write_text(config_text)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "mitmllm.log"
        self.env = isolated_env(workdir / "home", env)
        self.command = command
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> MitmllmProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 20.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mitmllm.cli", self.command, "--config", str(self.config),
             "--port", str(self.port), *self.args],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mitmllm exited with {self.process.returncode}:\n"
                                   + self.log())
            try:
                self.get("/health", timeout=0.5)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mitmllm did not become ready:\n" + self.log())

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RuntimeError("mitmllm did not stop on SIGTERM:\n" + self.log()) from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str, timeout: float = 5.0) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as answer:
            return json.loads(answer.read())

    def providers(self) -> dict[str, dict[str, Any]]:
        return {row["name"]: row for row in self.get("/admin/providers")}

    def wait_for(self, name: str, *states: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        row: dict[str, Any] = {}
        while time.monotonic() < deadline:
            row = self.providers().get(name, {})
            if row.get("state") in states:
                return row
            time.sleep(0.05)
        raise AssertionError(f"provider {name} never reached {states}: {row}\n{self.log()}")
