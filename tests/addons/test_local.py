"""Local: `/health` and `/admin/providers` answered from memory, and local models pointed
at the loopback server. MLX itself is never run here: the fake model folder below is only
found, never loaded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.addon_helpers import (
    PROVIDERS_YAML,
    assert_openai_error,
    chat_body,
    json_body,
    make_flow,
    make_gateway,
    publish,
    run_request_hooks,
)

from mitmllm.addons.catalog import Catalog, ModelEntry, ProviderStatus
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.local import Local
from mitmllm.addons.router import Router
from mitmllm.addons.state import Gateway, info
from mitmllm.addons.translate import Translate


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A folder that discovery counts as one model, `tiny-folder` (never loaded)."""
    folder = tmp_path / "models" / "tiny-folder"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "tokenizer.json").write_text("{}")
    return folder.parent


def local_yaml(model_dir: Path, enabled: bool = True) -> str:
    local = (f"local:\n  enabled: {'true' if enabled else 'false'}\n"
             f"  model_dirs: [{json.dumps(str(model_dir))}]\n")
    broken = "  - name: broken\n    preset: custom\n    host: broken.example\n    auth: none\n"
    return PROVIDERS_YAML.replace("local:\n  enabled: false\n", broken + local)


def build(model_dir: Path, enabled: bool = True) -> tuple[Local, Catalog, Gateway]:
    """As `pipeline()` builds them: addons first, then the config is published."""
    gateway = Gateway()
    local: Local | None = None
    catalog = Catalog(gateway, local_models=lambda: local.model_ids() if local else [])
    local = Local(gateway, catalog)
    publish(gateway, local_yaml(model_dir, enabled))
    return local, catalog, gateway


@pytest.fixture
async def local_addon(model_dir: Path) -> AsyncIterator[tuple[Local, Catalog, Gateway]]:
    local, catalog, gateway = build(model_dir)
    yield local, catalog, gateway
    await local.done()


async def admin(gateway: Gateway, local: Local, path: str) -> object:
    flow = make_flow("GET", path)
    await run_request_hooks(flow, [Ingress(gateway), local])
    assert flow.response is not None
    assert flow.response.status_code == 200
    assert flow.response.headers["content-type"] == "application/json"
    return json_body(flow.response)


@pytest.mark.parametrize("path", ["/health", "/v1/health"])
async def test_health(local_addon, path: str) -> None:
    local, _, gateway = local_addon
    assert await admin(gateway, local, path) == {"status": "ok"}


async def test_admin_providers_lists_every_provider_and_local(local_addon) -> None:
    local, catalog, gateway = local_addon
    catalog.statuses["openai"] = ProviderStatus("openai", "connected", "openai",
                                                models=(ModelEntry("gpt-4o"),))
    catalog.statuses["broken"] = ProviderStatus(
        "broken", "error", "openai",
        error="cannot connect to https://broken.example: Name or service not known")
    rows = await admin(gateway, local, "/admin/providers")
    assert isinstance(rows, list)
    by_name = {row["name"]: row for row in rows}
    assert list(by_name) == ["openai", "anthropic", "My Corp", "openrouter", "sleepy",
                             "broken", "local"]
    for row in rows:
        assert {"name", "state", "error", "format", "models"} <= set(row)
    assert by_name["openai"]["state"] == "connected"
    assert by_name["openai"]["models"] == ["gpt-4o"]
    assert by_name["openai"]["error"] is None
    assert by_name["anthropic"]["state"] == "connecting"
    assert by_name["anthropic"]["format"] == "anthropic"
    assert by_name["My Corp"]["models"] == ["corp-fixed"]  # static ids, not globs
    assert by_name["sleepy"]["state"] == "disabled"
    assert by_name["broken"]["state"] == "error"
    assert "broken.example" in by_name["broken"]["error"]
    row = by_name["local"]
    assert row["format"] == "openai"
    assert row["models"] == ["tiny-folder"]
    if local.backend is not None and local.backend.available:
        assert row["state"] == "connected"
        assert row["error"] is None
    else:
        assert row["error"]
    assert json.dumps(rows)  # plain JSON all the way


async def test_admin_providers_local_disabled(model_dir: Path) -> None:
    local, _, gateway = build(model_dir, enabled=False)
    rows = await admin(gateway, local, "/admin/providers")
    assert isinstance(rows, list)
    assert rows[-1]["name"] == "local"
    assert rows[-1]["state"] == "disabled"
    assert rows[-1]["models"] == []


async def test_admin_providers_needs_the_listen_token() -> None:
    gateway = make_gateway("listen: {token: tok}\nlocal: {enabled: false}\n")
    local = Local(gateway, Catalog(gateway))
    flow = make_flow("GET", "/admin/providers")
    await run_request_hooks(flow, [Ingress(gateway), local])
    assert_openai_error(flow.response, 401)


async def test_local_row_says_unavailable_with_the_reason_without_mlx(
        local_addon, monkeypatch: pytest.MonkeyPatch) -> None:
    local, _, gateway = local_addon
    backend = local._backend()
    # What `mlx_status()` reports on a machine without MLX.
    monkeypatch.setattr(backend, "available", False)
    monkeypatch.setattr(backend, "reason", "MLX is not available (No module named 'mlx')")
    rows = await admin(gateway, local, "/admin/providers")
    assert isinstance(rows, list)
    row = rows[-1]
    assert row["error"] == "MLX is not available (No module named 'mlx')"
    # Issue 4: the local backend reports `unavailable` (the contract's provider states are
    # for remote providers; README documents this extra state of the local row).
    assert row["state"] == "unavailable"


async def test_local_model_is_pointed_at_the_loopback_server(local_addon) -> None:
    local, catalog, gateway = local_addon
    flow = make_flow("POST", "/v1/chat/completions", chat_body("local/tiny-folder"),
                     headers={"authorization": "Bearer sk-client", "x-api-key": "k"})
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, catalog, local.model_ids),
                                   local, Translate(gateway)])
    assert info(flow)["provider"] == "local"
    backend = local._backend()
    if not backend.available:
        error = assert_openai_error(flow.response, 503, code="local_unavailable")
        assert backend.reason and backend.reason in error["message"]
        return
    assert flow.response is None
    assert local.port is not None
    request = flow.request
    assert (request.scheme, request.host, request.port) == ("http", "127.0.0.1", local.port)
    assert request.headers["host"] == f"127.0.0.1:{local.port}"
    assert request.path == "/v1/chat/completions"
    assert json_body(request)["model"] == "tiny-folder"
    assert "authorization" not in request.headers and "x-api-key" not in request.headers


async def test_flows_for_providers_pass_through(local_addon) -> None:
    local, catalog, gateway = local_addon
    flow = make_flow("POST", "/v1/chat/completions", chat_body("openai/gpt-4o"))
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, catalog), local])
    assert flow.response is None
    assert flow.request.host == "127.0.0.1" and flow.request.port == 1337
    assert local.port is None  # the server is not started for a remote provider


async def test_models_added_while_running_are_found(model_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from mitmllm.addons import local as local_module

    monkeypatch.setattr(local_module, "RESCAN_SECONDS", 0.05)
    local, _, _ = build(model_dir)
    await local.running()
    try:
        assert local.model_ids() == ["tiny-folder"]
        late = model_dir / "late-folder"
        late.mkdir()
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            (late / name).write_bytes((model_dir / "tiny-folder" / name).read_bytes())
        for _ in range(100):
            if "late-folder" in local.model_ids():
                break
            await asyncio.sleep(0.05)
        assert sorted(local.model_ids()) == ["late-folder", "tiny-folder"]
    finally:
        await local.done()
