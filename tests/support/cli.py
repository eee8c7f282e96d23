"""The `mitmllm` command line run as a user runs it: a real subprocess with its own HOME and
config dir, the keyring backend pinned to `null` unless a test asks for another (`fail`: a
machine without a keychain; None: the private Secret Service of `./dev test`).

`Result.one_line_error` is the failure contract: the exit code, one `mitmllm: ...` line on
stderr, no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from support.keyrings import NULL_BACKEND

from mitmllm.config.model import ProviderConfig
from mitmllm.config.store import load_config

SECRET = "sk-cli-test-5e4d3c2b1a"

BASE_CONFIG = """\
# Written by hand; keep this comment.
listen:
  host: 127.0.0.1
  port: 1337   # the usual port
providers:
  - name: openai
    preset: openai   # billed to me
  - name: ollama
    preset: custom
    host: localhost
    protocol: http
    port: 11434
    auth: none
local:
  enabled: false
"""


@dataclass
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def ok(self) -> Result:
        assert self.returncode == 0, self
        assert "Traceback" not in self.stderr, self.stderr
        return self

    def one_line_error(self, *fragments: str, code: int = 2) -> str:
        """The failure contract: the exit code, one `mitmllm: ...` line, no traceback."""
        assert self.returncode == code, self
        assert "Traceback" not in self.stderr, self.stderr
        lines = self.stderr.splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got:\n{self.stderr}"
        assert lines[0].startswith("mitmllm: "), lines[0]
        for fragment in fragments:
            assert fragment in lines[0], (fragment, lines[0])
        return lines[0]


@dataclass
class Cli:
    root: Path
    backend: str | None = NULL_BACKEND  # None: the real default backend
    env: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        """The default config file, through XDG_CONFIG_HOME."""
        return self.root / "xdg" / "mitmllm" / "config.yaml"

    def environment(self, extra: dict[str, str] | None) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
               "HOME": str(self.root / "home"), "XDG_CONFIG_HOME": str(self.root / "xdg"),
               "PYTHONDONTWRITEBYTECODE": "1"}
        if self.backend is not None:
            env["PYTHON_KEYRING_BACKEND"] = self.backend
        else:  # the private Secret Service of `./dev test`, reached over the session bus
            for name in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR"):
                if name in os.environ:
                    env[name] = os.environ[name]
        env.update(self.env)
        env.update(extra or {})
        return env

    def __call__(self, *args: str, stdin: str = "", env: dict[str, str] | None = None,
                 backend: str | None = "") -> Result:
        cli = self if backend == "" else Cli(self.root, backend, self.env)
        done = subprocess.run([sys.executable, "-m", "mitmllm.cli", *args], input=stdin,
                              capture_output=True, text=True, env=cli.environment(env),
                              cwd=self.root, timeout=60, check=False)
        return Result(args, done.returncode, done.stdout, done.stderr)

    def write(self, text: str = BASE_CONFIG) -> Path:
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(text, encoding="utf-8")
        return self.config

    def data(self) -> dict[str, Any]:
        loaded = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        assert isinstance(loaded, dict)
        return loaded

    def provider(self, name: str) -> ProviderConfig:
        found = load_config(self.config).provider(name)
        assert found is not None, name
        return found
