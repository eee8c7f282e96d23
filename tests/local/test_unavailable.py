"""Without MLX the local backend degrades cleanly (issue 4, item 4). Needs no mlx itself.

Decided behaviour (documented in local/server.py): the models found on disk stay listed, and
a chat request for one answers 503 `mlx_unavailable` with the reason; an unknown id is still
a 404; `/health` reports `available: false` and the reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest
from support.tinymodel import build_tiny_model

from mitmllm.local import mlxapi
from mitmllm.local.server import LocalBackend

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def no_mlx(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def fail() -> ModuleType:
        raise ImportError("No module named 'mlx'")

    monkeypatch.setattr(mlxapi, "_import_mlx", fail)
    mlxapi.mlx_status.cache_clear()
    yield
    mlxapi.mlx_status.cache_clear()


async def test_chat_answers_503_with_the_reason_and_models_stay_listed(
    no_mlx: None, tmp_path: Path
) -> None:
    build_tiny_model(tmp_path, "tiny-llama")
    backend = LocalBackend(model_dirs=[tmp_path], hf_cache=tmp_path / "none")
    assert backend.available is False
    assert backend.reason is not None and "No module named 'mlx'" in backend.reason
    assert "pip install" in backend.reason
    await backend.start()
    try:
        async with aiohttp.ClientSession() as http:
            chat = backend.base_url + "/v1/chat/completions"
            async with http.post(chat, json={"model": "tiny-llama", "messages": MESSAGES}) as r:
                status, error = r.status, (await r.json())["error"]
            assert (status, error["code"]) == (503, "mlx_unavailable")
            assert backend.reason in error["message"]

            async with http.post(chat, json={"model": "other", "messages": MESSAGES}) as r:
                assert r.status == 404

            async with http.get(backend.base_url + "/v1/models") as r:
                assert [m["id"] for m in (await r.json())["data"]] == ["tiny-llama"]

            async with http.get(backend.base_url + "/health") as r:
                health = await r.json()
            assert (health["available"], health["reason"]) == (False, backend.reason)
    finally:
        await backend.stop()


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_importing_the_package_never_imports_mlx() -> None:
    out = run_python(
        "import sys, json, mitmllm.local\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('mlx', 'mlx_lm'))))"
    )
    assert json.loads(out) == []


def test_a_missing_mlx_module_reports_unavailable_in_a_fresh_interpreter() -> None:
    # `sys.modules[name] = None` makes `import name` raise ImportError, as on a machine
    # without the package.
    out = run_python(
        "import sys, json\n"
        "sys.modules['mlx'] = None\n"
        "from mitmllm.local import mlx_status\n"
        "print(json.dumps(mlx_status()))"
    )
    available, reason = json.loads(out)
    assert available is False and "mlx" in reason
