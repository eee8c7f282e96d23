"""Admin: `GET /`, `GET /health` and `GET /admin/providers` answered from memory, from the
connection states and the local backend; every other flow is left alone. HEAD gets the
same headers without the body."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mitmproxy.test import tutils
from support.addon_helpers import (
    assert_anthropic_error,
    assert_openai_error,
    chat_body,
    json_body,
    local_yaml,
    make_flow,
    make_gateway,
    publish,
    run_request_hooks,
)

from mitmllm.addons.admin import Admin
from mitmllm.addons.connections import Connections, ProviderStatus
from mitmllm.addons.head import HeadRequests
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.local import Local
from mitmllm.addons.models_endpoint import ModelsEndpoint
from mitmllm.addons.state import Gateway, record
from mitmllm.translators.chat.models import ModelEntry


def build(model_dir: Path, enabled: bool = True) -> tuple[Admin, Local, Connections, Gateway]:
    """As `pipeline()` builds them: addons first, then the config is published."""
    gateway = Gateway()
    local = Local(gateway)
    connections = Connections(gateway)
    admin_addon = Admin(gateway, connections, local)
    publish(gateway, local_yaml(model_dir, enabled))
    return admin_addon, local, connections, gateway


@pytest.fixture
async def built(model_dir: Path) -> AsyncIterator[tuple[Admin, Local, Connections, Gateway]]:
    admin_addon, local, connections, gateway = build(model_dir)
    yield admin_addon, local, connections, gateway
    await local.done()


async def admin(gateway: Gateway, admin_addon: Admin, path: str) -> object:
    flow = make_flow("GET", path)
    await run_request_hooks(flow, [Ingress(gateway), admin_addon])
    assert flow.response is not None
    assert flow.response.status_code == 200
    assert flow.response.headers["content-type"] == "application/json"
    return json_body(flow.response)


@pytest.mark.parametrize("path", ["/health", "/v1/health"])
async def test_health(built, path: str) -> None:
    admin_addon, _, _, gateway = built
    assert await admin(gateway, admin_addon, path) == {"status": "ok"}


async def test_health_needs_no_listen_token() -> None:
    gateway = make_gateway("listen: {token: tok}\nlocal: {enabled: false}\n")
    admin_addon = Admin(gateway, Connections(gateway), Local(gateway))
    assert await admin(gateway, admin_addon, "/health") == {"status": "ok"}


async def test_admin_providers_lists_every_provider_and_local(built) -> None:
    admin_addon, local, connections, gateway = built
    connections.statuses["openai"] = ProviderStatus("openai", "connected", "openai",
                                                    models=(ModelEntry("gpt-4o"),))
    connections.statuses["broken"] = ProviderStatus(
        "broken", "error", "openai",
        error="cannot connect to https://broken.example: Name or service not known")
    rows = await admin(gateway, admin_addon, "/admin/providers")
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


async def test_provider_rows_name_the_url_and_the_static_models(built) -> None:
    admin_addon, _, _, gateway = built
    rows = await admin(gateway, admin_addon, "/admin/providers")
    assert isinstance(rows, list)
    corp = next(row for row in rows if row["name"] == "My Corp")
    assert list(corp) == ["name", "state", "error", "format", "models", "url",
                          "static_models"]
    assert corp["url"] == "http://llm.corp.example:8080/custom/api/v1"
    assert corp["static_models"] == ["corp-*", "corp-fixed"]
    local_row = rows[-1]
    assert local_row["static_models"] == []
    assert local_row["url"] is None  # the loopback server is not running


async def test_admin_providers_local_disabled(model_dir: Path) -> None:
    admin_addon, _, _, gateway = build(model_dir, enabled=False)
    rows = await admin(gateway, admin_addon, "/admin/providers")
    assert isinstance(rows, list)
    assert rows[-1]["name"] == "local"
    assert rows[-1]["state"] == "disabled"
    assert rows[-1]["models"] == []


async def test_admin_providers_needs_the_listen_token() -> None:
    gateway = make_gateway("listen: {token: tok}\nlocal: {enabled: false}\n")
    admin_addon = Admin(gateway, Connections(gateway), Local(gateway))
    flow = make_flow("GET", "/admin/providers")
    await run_request_hooks(flow, [Ingress(gateway), admin_addon])
    assert_openai_error(flow.response, 401)


async def test_local_row_says_unavailable_with_the_reason_without_mlx(
        built, monkeypatch: pytest.MonkeyPatch) -> None:
    admin_addon, local, _, gateway = built
    backend = local._backend()
    # What `mlx_status()` reports on a machine without MLX.
    monkeypatch.setattr(backend, "available", False)
    monkeypatch.setattr(backend, "reason", "MLX is not available (No module named 'mlx')")
    rows = await admin(gateway, admin_addon, "/admin/providers")
    assert isinstance(rows, list)
    row = rows[-1]
    assert row["error"] == "MLX is not available (No module named 'mlx')"
    # Issue 4: the local backend reports `unavailable` (the contract's provider states are
    # for remote providers; README documents this extra state of the local row).
    assert row["state"] == "unavailable"


async def test_other_flows_answered_flows_and_replays_are_left_alone(built) -> None:
    admin_addon, _, _, gateway = built
    chat = make_flow("POST", "/v1/chat/completions", chat_body("openai/gpt-4o"))
    await run_request_hooks(chat, [Ingress(gateway), admin_addon])
    assert chat.response is None

    answered = make_flow("GET", "/health")
    Ingress(gateway).requestheaders(answered)
    answered.response = tutils.tresp(status_code=418)
    admin_addon.request(answered)
    assert answered.response.status_code == 418

    replayed = make_flow("GET", "/health")
    record(replayed, kind="health", provider="openai")
    replayed.is_replay = "request"
    admin_addon.request(replayed)
    assert replayed.response is None


async def test_a_bug_is_a_500_in_the_clients_format_not_a_pass_through(
        built, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    admin_addon, _, connections, gateway = built

    def broken(provider: object) -> ProviderStatus:
        raise KeyError("boom")

    monkeypatch.setattr(connections, "status", broken)
    caplog.set_level(logging.ERROR, logger="mitmllm.addons.admin")
    flow = make_flow("GET", "/admin/providers")
    await run_request_hooks(flow, [Ingress(gateway), admin_addon])
    error = assert_openai_error(flow.response, 500, code="translation_failed")
    assert "a bug" in error["message"]
    assert [r.getMessage() for r in caplog.records] == [
        f"flow {flow.id}: cannot answer the admin endpoint"]

    # The answer takes the shape of the client's format, whatever ingress classified.
    flow = make_flow("GET", "/admin/providers")
    Ingress(gateway).requestheaders(flow)
    record(flow, client_format="anthropic")
    admin_addon.request(flow)
    assert_anthropic_error(flow.response, 500)


async def test_root_says_what_this_is_and_where_to_go(built) -> None:
    admin_addon, _, _, gateway = built
    body = await admin(gateway, admin_addon, "/")
    assert isinstance(body, dict) and body["name"] == "mitmllm"
    assert body["endpoints"]["models"] == "/v1/models"
    assert body["endpoints"]["providers_page"] == "/admin"
    assert "docs" in body


async def test_root_is_a_page_for_a_browser(built) -> None:
    admin_addon, _, _, gateway = built
    flow = make_flow("GET", "/")
    flow.request.headers["accept"] = "text/html,application/xhtml+xml"
    await run_request_hooks(flow, [Ingress(gateway), admin_addon])
    assert flow.response is not None and flow.response.status_code == 200
    assert flow.response.headers["content-type"].startswith("text/html")
    assert b'<a href="/v1/models">' in (flow.response.content or b"")
    assert b'<a href="/admin">Providers</a>' in (flow.response.content or b"")


@pytest.mark.parametrize(("path", "status"), [("/", 200), ("/v1/models", 200),
                                              ("/api/hello", 404), ("/v1/messages", 405)])
async def test_head_gets_the_headers_of_get_without_a_body(built, path: str,
                                                           status: int) -> None:
    admin_addon, _, connections, gateway = built
    flow = make_flow("HEAD", path)
    await run_request_hooks(flow, [Ingress(gateway), admin_addon,
                                   ModelsEndpoint(gateway, connections, lambda: [])])
    assert flow.response is not None and flow.response.status_code == status
    length = len(flow.response.raw_content or b"")
    HeadRequests().response(flow)
    assert flow.response.raw_content == b""
    assert flow.response.headers["content-length"] == str(length) != "0"
