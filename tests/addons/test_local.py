"""Local: local models pointed at the loopback server, and model folders rescanned. MLX
itself is never run here: the fake model folder (`model_dir`, conftest.py) is only found,
never loaded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.addon_helpers import (
    assert_openai_error,
    chat_body,
    json_body,
    local_yaml,
    make_flow,
    publish,
    run_request_hooks,
)

from mitmllm.addons.connections import Connections
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.local import Local
from mitmllm.addons.router import Router
from mitmllm.addons.state import Gateway, info
from mitmllm.addons.translate import Translate


def build(model_dir: Path, enabled: bool = True) -> tuple[Local, Connections, Gateway]:
    """As `pipeline()` builds them: addons first, then the config is published."""
    gateway = Gateway()
    local = Local(gateway)
    connections = Connections(gateway)
    publish(gateway, local_yaml(model_dir, enabled))
    return local, connections, gateway


@pytest.fixture
async def local_addon(model_dir: Path) -> AsyncIterator[tuple[Local, Connections, Gateway]]:
    local, connections, gateway = build(model_dir)
    yield local, connections, gateway
    await local.done()


async def test_local_model_is_pointed_at_the_loopback_server(local_addon) -> None:
    local, connections, gateway = local_addon
    flow = make_flow("POST", "/v1/chat/completions", chat_body("local/tiny-folder"),
                     headers={"authorization": "Bearer sk-client", "x-api-key": "k"})
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, connections,
                                                            local.model_ids),
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
    local, connections, gateway = local_addon
    flow = make_flow("POST", "/v1/chat/completions", chat_body("openai/gpt-4o"))
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, connections), local])
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
