"""Catalog: provider states, `GET /v1/models` in both shapes, `GET /v1/models/{id}`, and
connecting to providers (`probe`) against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from support.addon_helpers import (
    assert_openai_error,
    chat_body,
    json_body,
    make_flow,
    make_gateway,
    publish,
    run_request_hooks,
)

from mitmllm.addons.catalog import Catalog, ModelEntry, ProviderStatus, probe
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.router import Router
from mitmllm.addons.state import Gateway, info
from mitmllm.config.store import parse_text

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeProvider:
    port: int
    requests: list[Seen] = field(default_factory=list)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[FakeProvider]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> FakeProvider:
        provider: FakeProvider | None = None

        async def record(request: web.Request) -> web.StreamResponse:
            assert provider is not None
            provider.requests.append(Seen(request.path, dict(request.query),
                                          {k.lower(): v for k, v in request.headers.items()}))
            return await handler(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", record)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        provider = FakeProvider(runner.addresses[0][1])
        return provider

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def custom_yaml(port: int, *, name: str = "Fake", fmt: str = "openai",
                base_path: str = "/api/v1", auth: str = "api_key", extra: str = "") -> str:
    return f"""\
providers:
  - name: {name}
    preset: custom
    host: 127.0.0.1
    protocol: http
    port: {port}
    base_path: {base_path}
    format: {fmt}
    auth: {auth}
    timeout: 5
{extra}local: {{enabled: false}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- probe ---------------------------------------------------------------------------


async def test_probe_openai_list(serve, session, monkeypatch) -> None:
    monkeypatch.setenv("MITMLLM_KEY_FAKE", "sk-fake-key")

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": "m1", "object": "model", "created": 1700000000, "owned_by": "x"},
            {"id": "m2", "object": "model"}]})

    fake = await serve(models)
    gateway = make_gateway(custom_yaml(fake.port))
    provider = gateway.config.providers[0]
    status = await probe(session, provider, gateway.secret_cache)
    assert status.state == "connected"
    assert status.error is None
    assert [m.id for m in status.models] == ["m1", "m2"]
    assert status.models[0].created == 1700000000
    assert [r.path for r in fake.requests] == ["/api/v1/models"]
    assert fake.requests[0].headers["authorization"] == "Bearer sk-fake-key"


async def test_probe_anthropic_list_follows_pages_to_the_end(
        serve, session, monkeypatch) -> None:
    monkeypatch.setenv("MITMLLM_KEY_CLAUDE", "sk-ant-fake")
    pages = {
        None: {"data": [{"type": "model", "id": "claude-a", "display_name": "Claude A",
                         "created_at": "2025-02-19T00:00:00Z"}],
               "has_more": True, "first_id": "claude-a", "last_id": "claude-a"},
        "claude-a": {"data": [{"type": "model", "id": "claude-b", "display_name": "Claude B",
                               "created_at": "2025-05-22T00:00:00Z"}],
                     "has_more": False, "first_id": "claude-b", "last_id": "claude-b"},
    }

    async def models(request: web.Request) -> web.Response:
        return web.json_response(pages[request.query.get("after_id")])

    fake = await serve(models)
    gateway = make_gateway(custom_yaml(fake.port, name="claude", fmt="anthropic",
                                       base_path="/v1"))
    status = await probe(session, gateway.config.providers[0], gateway.secret_cache)
    assert status.state == "connected", status.error
    assert [m.id for m in status.models] == ["claude-a", "claude-b"]
    assert status.models[0].display_name == "Claude A"
    assert status.models[0].created == int(datetime(2025, 2, 19, tzinfo=UTC).timestamp())
    assert len(fake.requests) == 2
    assert "after_id" not in fake.requests[0].query
    assert fake.requests[1].query["after_id"] == "claude-a"
    for seen in fake.requests:
        assert seen.path == "/v1/models"
        assert seen.headers["x-api-key"] == "sk-ant-fake"
        assert seen.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in seen.headers


async def test_probe_http_401_is_error_with_the_message(
        serve, session, monkeypatch) -> None:
    monkeypatch.setenv("MITMLLM_KEY_FAKE", "sk-wrong-key")

    async def denied(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "Incorrect API key provided",
                                            "type": "invalid_request_error"}}, status=401)

    fake = await serve(denied)
    gateway = make_gateway(custom_yaml(fake.port))
    status = await probe(session, gateway.config.providers[0], gateway.secret_cache)
    assert status.state == "error"
    assert status.error is not None
    assert "401" in status.error
    assert "Incorrect API key provided" in status.error
    assert "sk-wrong-key" not in status.error
    assert status.models == ()


async def test_probe_closed_port_is_error_naming_the_url(session) -> None:
    port = free_port()
    gateway = make_gateway(custom_yaml(port, auth="none"))
    status = await probe(session, gateway.config.providers[0], gateway.secret_cache)
    assert status.state == "error"
    assert status.error is not None
    assert f"http://127.0.0.1:{port}" in status.error


async def test_probe_404_with_static_models_is_connected_with_them(
        serve, session) -> None:
    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="404 page not found")

    fake = await serve(missing)
    gateway = make_gateway(custom_yaml(fake.port, auth="none",
                                       extra="    models: [llama3, qwen-*]\n"))
    status = await probe(session, gateway.config.providers[0], gateway.secret_cache)
    assert status.state == "connected"
    assert status.error is None
    assert [m.id for m in status.models] == ["llama3"]  # the glob is not a model id


async def test_probe_404_without_static_models_is_error(serve, session) -> None:
    async def missing(request: web.Request) -> web.Response:
        return web.Response(status=404, text="404 page not found")

    fake = await serve(missing)
    gateway = make_gateway(custom_yaml(fake.port, auth="none"))
    status = await probe(session, gateway.config.providers[0], gateway.secret_cache)
    assert status.state == "error"
    assert status.error is not None and "404" in status.error
    assert f"http://127.0.0.1:{fake.port}/api/v1/models" in status.error


async def test_probe_not_json_is_error(serve, session) -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    fake = await serve(html)
    gateway = make_gateway(custom_yaml(fake.port, auth="none"))
    status = await probe(session, gateway.config.providers[0], gateway.secret_cache)
    assert status.state == "error"
    assert status.error is not None and "JSON" in status.error


async def test_probe_without_key_is_error_saying_how_to_set_it(session) -> None:
    gateway = make_gateway(custom_yaml(free_port()))
    status = await probe(session, gateway.config.providers[0], gateway.secret_cache)
    assert status.state == "error"
    assert status.error is not None
    assert "mitmllm providers set-key Fake" in status.error
    assert "MITMLLM_KEY_FAKE" in status.error


# --- lifecycle: auto-connect at start and on config change -----------------------------


async def test_running_connects_and_config_change_reconnects_only_changed(
        serve) -> None:
    async def models(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "m1"}, {"id": "m2"}]})

    fake = await serve(models)
    gateway = Gateway()
    catalog = Catalog(gateway)
    publish(gateway, custom_yaml(fake.port, auth="none"))
    provider = gateway.config.providers[0]
    assert catalog.status(provider).state == "connecting"
    try:
        catalog.running()
        await catalog.settle()
        assert catalog.status(provider).state == "connected"
        assert catalog.discovered(provider) == ["m1", "m2"]
        assert len(fake.requests) == 1

        flow = make_flow("GET", "/v1/models")
        await run_request_hooks(flow, [Ingress(gateway), catalog])
        assert [m["id"] for m in json_body(flow.response)["data"]] == ["fake/m1", "fake/m2"]

        # Same provider, plus a second one: only the new one connects.
        two = custom_yaml(fake.port, auth="none").replace(
            "local:", f"""  - name: Second
    preset: custom
    host: 127.0.0.1
    protocol: http
    port: {fake.port}
    auth: none
local:""")
        gateway.publish_config(parse_text(two))
        await catalog.settle()
        assert catalog.status(gateway.config.providers[0]).state == "connected"
        assert catalog.status(gateway.config.providers[1]).state == "connected"
        assert [r.path for r in fake.requests] == ["/api/v1/models", "/v1/models"]

        # A removed provider is forgotten.
        gateway.publish_config(parse_text(custom_yaml(fake.port, auth="none")))
        assert set(catalog.statuses) == {"Fake"}
    finally:
        await catalog.done()


async def test_router_waits_for_a_connect_under_way(serve) -> None:
    release = asyncio.Event()

    async def slow_models(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"data": [{"id": "late-model"}]})

    fake = await serve(slow_models)
    gateway = Gateway()
    catalog = Catalog(gateway)
    publish(gateway, custom_yaml(fake.port, auth="none"))
    try:
        catalog.running()
        flow = make_flow("POST", "/v1/chat/completions", chat_body("late-model"))
        ingress, router = Ingress(gateway), Router(gateway, catalog)
        ingress.requestheaders(flow)
        ingress.request(flow)
        pending = router.request(flow)
        assert pending is not None  # the router waits instead of refusing at once
        asyncio.get_running_loop().call_later(0.05, release.set)
        await pending
        assert flow.response is None
        assert info(flow)["provider"] == "Fake"
        assert info(flow)["upstream_model"] == "late-model"
    finally:
        await catalog.done()


# --- states and GET /v1/models -----------------------------------------------------------

STATES_YAML = """\
providers:
  - name: openai
    preset: openai
    models: [gpt-static]
  - name: My Corp
    preset: custom
    host: corp.example
    auto_connect: false
    models: [corp-1, corp-*]
  - name: dormant
    preset: custom
    host: dormant.example
    enabled: false
    models: [dormant-model]
  - name: anthropic
    preset: anthropic
local: {enabled: true}
"""


def states_catalog(local: tuple[str, ...] = ("tiny-local",)) -> tuple[Catalog, Gateway]:
    gateway = Gateway()
    catalog = Catalog(gateway, local_models=lambda: list(local))
    publish(gateway, STATES_YAML)
    catalog.statuses["openai"] = ProviderStatus(
        "openai", "connected", "openai",
        models=(ModelEntry("gpt-4o", created=1715367049), ModelEntry("gpt-static")))
    return catalog, gateway


def test_initial_states_disabled_disconnected_connecting() -> None:
    gateway = Gateway()
    catalog = Catalog(gateway)
    publish(gateway, STATES_YAML)
    states = {p.name: catalog.status(p).state for p in gateway.config.providers}
    assert states == {"openai": "connecting", "My Corp": "disconnected", "dormant": "disabled",
                      "anthropic": "connecting"}
    assert all(catalog.status(p).error is None for p in gateway.config.providers)


async def test_models_list_openai_shape() -> None:
    catalog, gateway = states_catalog()
    flow = make_flow("GET", "/v1/models")
    await run_request_hooks(flow, [Ingress(gateway), catalog])
    assert flow.response is not None and flow.response.status_code == 200
    assert flow.response.headers["content-type"] == "application/json"
    body = json_body(flow.response)
    assert body["object"] == "list"
    rows = {m["id"]: m for m in body["data"]}
    assert list(rows) == ["openai/gpt-4o", "openai/gpt-static", "my-corp/corp-1",
                          "tiny-local"]
    assert rows["openai/gpt-4o"] == {"id": "openai/gpt-4o", "object": "model",
                                     "created": 1715367049, "owned_by": "openai"}
    assert rows["my-corp/corp-1"]["owned_by"] == "My Corp"
    assert rows["tiny-local"]["owned_by"] == "local"
    assert all(isinstance(m["created"], int) for m in body["data"])
    assert not any("dormant" in m["id"] for m in body["data"])  # disabled: not listed


async def test_models_list_anthropic_shape_when_anthropic_version_is_sent() -> None:
    catalog, gateway = states_catalog()
    flow = make_flow("GET", "/v1/models", headers={"anthropic-version": "2023-06-01"})
    await run_request_hooks(flow, [Ingress(gateway), catalog])
    assert flow.response is not None and flow.response.status_code == 200
    body = json_body(flow.response)
    assert "object" not in body
    assert body["has_more"] is False
    ids = [m["id"] for m in body["data"]]
    assert ids[0] == "openai/gpt-4o" and ids[-1] == "tiny-local"
    assert body["first_id"] == ids[0] and body["last_id"] == ids[-1]
    first = body["data"][0]
    assert first["type"] == "model"
    assert first["display_name"] == "openai/gpt-4o"
    assert first["created_at"] == "2024-05-10T18:50:49Z"


@pytest.mark.parametrize("path", ["/v1/models/openai%2Fgpt-4o", "/v1/models/openai/gpt-4o",
                                  "/models/openai%2fgpt-4o"])
async def test_model_retrieve_found(path: str) -> None:
    catalog, gateway = states_catalog()
    flow = make_flow("GET", path)
    await run_request_hooks(flow, [Ingress(gateway), catalog])
    assert flow.response is not None and flow.response.status_code == 200
    assert json_body(flow.response) == {"id": "openai/gpt-4o", "object": "model",
                                        "created": 1715367049, "owned_by": "openai"}


async def test_model_retrieve_local_model() -> None:
    catalog, gateway = states_catalog(local=("mlx-community/Tiny-4bit",))
    flow = make_flow("GET", "/v1/models/mlx-community/Tiny-4bit")
    await run_request_hooks(flow, [Ingress(gateway), catalog])
    assert flow.response is not None and flow.response.status_code == 200
    assert json_body(flow.response)["owned_by"] == "local"


@pytest.mark.parametrize("wanted", ["gpt-4o", "openai/nope", "dormant/dormant-model"])
async def test_model_retrieve_unknown_is_404(wanted: str) -> None:
    catalog, gateway = states_catalog()
    flow = make_flow("GET", f"/v1/models/{wanted}")
    await run_request_hooks(flow, [Ingress(gateway), catalog])
    error = assert_openai_error(flow.response, 404, code="model_not_found", param="model")
    assert wanted in error["message"]


async def test_empty_catalog_lists_nothing() -> None:
    gateway = make_gateway("local: {enabled: false}\n")
    catalog = Catalog(gateway)
    flow = make_flow("GET", "/v1/models")
    await run_request_hooks(flow, [Ingress(gateway), catalog])
    assert json_body(flow.response) == {"object": "list", "data": []}
    flow = make_flow("GET", "/v1/models", headers={"anthropic-version": "2023-06-01"})
    await run_request_hooks(flow, [Ingress(gateway), catalog])
    assert json_body(flow.response) == {"data": [], "has_more": False, "first_id": None,
                                        "last_id": None}


async def test_model_retrieve_anthropic_shape_when_anthropic_version_is_sent() -> None:
    catalog, gateway = states_catalog()
    flow = make_flow("GET", "/v1/models/openai%2Fgpt-4o",
                     headers={"anthropic-version": "2023-06-01"})
    await run_request_hooks(flow, [Ingress(gateway), catalog])
    assert flow.response is not None and flow.response.status_code == 200
    assert json_body(flow.response) == {"type": "model", "id": "openai/gpt-4o",
                                        "display_name": "openai/gpt-4o",
                                        "created_at": "2024-05-10T18:50:49Z"}
