"""Connections: connecting to providers (`probe`, which fetches the model list through
`addons/model_lists.py`) against a real aiohttp server on loopback, the initial states,
reconnecting on config changes, and the router waiting for a connect under way."""

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
    STATES_YAML,
    chat_body,
    json_body,
    make_flow,
    make_gateway,
    publish,
    run_request_hooks,
)

from mitmllm.addons import connections as connections_module
from mitmllm.addons.connections import Connections, probe, retry_delay
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.models_endpoint import ModelsEndpoint
from mitmllm.addons.router import Router
from mitmllm.addons.state import Gateway, info
from mitmllm.config.secrets import Secrets
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
    connections = Connections(gateway)
    publish(gateway, custom_yaml(fake.port, auth="none"))
    provider = gateway.config.providers[0]
    assert connections.status(provider).state == "connecting"
    try:
        connections.running()
        await connections.settle()
        assert connections.status(provider).state == "connected"
        assert connections.discovered(provider) == ["m1", "m2"]
        assert len(fake.requests) == 1

        flow = make_flow("GET", "/v1/models")
        await run_request_hooks(flow, [Ingress(gateway), connections,
                                       ModelsEndpoint(gateway, connections)])
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
        await connections.settle()
        assert connections.status(gateway.config.providers[0]).state == "connected"
        assert connections.status(gateway.config.providers[1]).state == "connected"
        assert [r.path for r in fake.requests] == ["/api/v1/models", "/v1/models"]

        # A removed provider is forgotten.
        gateway.publish_config(parse_text(custom_yaml(fake.port, auth="none")))
        assert set(connections.statuses) == {"Fake"}
    finally:
        await connections.done()


async def test_router_waits_for_a_connect_under_way(serve) -> None:
    release = asyncio.Event()

    async def slow_models(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"data": [{"id": "late-model"}]})

    fake = await serve(slow_models)
    gateway = Gateway()
    connections = Connections(gateway)
    publish(gateway, custom_yaml(fake.port, auth="none"))
    try:
        connections.running()
        flow = make_flow("POST", "/v1/chat/completions", chat_body("late-model"))
        ingress, router = Ingress(gateway), Router(gateway, connections)
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
        await connections.done()


def test_initial_states_disabled_disconnected_connecting() -> None:
    gateway = Gateway()
    connections = Connections(gateway)
    publish(gateway, STATES_YAML)
    states = {p.name: connections.status(p).state for p in gateway.config.providers}
    assert states == {"openai": "connecting", "My Corp": "disconnected", "dormant": "disabled",
                      "anthropic": "connecting"}
    assert all(connections.status(p).error is None for p in gateway.config.providers)


# --- errors are retried in the background ------------------------------------------------


def test_retry_delays_double_up_to_a_minute() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4, 5, 6, 7, 10)] == [
        2, 4, 8, 16, 32, 60, 60, 60]


async def wait_for_state(connections: Connections, name: str, state: str,
                         timeout: float = 5.0) -> None:
    async def poll() -> None:
        while connections.statuses.get(name) is None or \
                connections.statuses[name].state != state:
            await asyncio.sleep(0.01)
    await asyncio.wait_for(poll(), timeout)


async def test_a_provider_in_error_is_retried_until_it_connects(serve, monkeypatch) -> None:
    monkeypatch.setattr(connections_module, "RETRY_FIRST", 0.05)
    answers = iter([500, 500])

    async def flaky(request: web.Request) -> web.Response:
        status = next(answers, 200)
        if status != 200:
            return web.json_response({"error": {"message": "starting up"}}, status=status)
        return web.json_response({"data": [{"id": "m1"}]})

    fake = await serve(flaky)
    gateway = Gateway()
    connections = Connections(gateway)
    changes: list[str] = []
    connections.on_change(lambda: changes.append(connections.statuses["Fake"].state))
    publish(gateway, custom_yaml(fake.port, auth="none"))
    try:
        connections.running()
        await wait_for_state(connections, "Fake", "error")
        assert "HTTP 500" in (connections.statuses["Fake"].error or "")
        await wait_for_state(connections, "Fake", "connected")
        assert len(fake.requests) == 3  # two failures, then the retry that worked
        assert changes[-1] == "connected" and "error" in changes
    finally:
        await connections.done()


async def test_an_unknown_model_never_waits_for_a_retry(serve, monkeypatch) -> None:
    monkeypatch.setattr(connections_module, "RETRY_FIRST", 0.05)
    first = True
    hang = asyncio.Event()

    async def fails_then_hangs(request: web.Request) -> web.Response:
        nonlocal first
        if first:
            first = False
            return web.json_response({"error": {"message": "down"}}, status=503)
        await hang.wait()  # the retry never finishes while the request is answered
        return web.json_response({"data": []})

    fake = await serve(fails_then_hangs)
    gateway = Gateway()
    connections = Connections(gateway)
    publish(gateway, custom_yaml(fake.port, auth="none"))
    try:
        connections.running()
        await wait_for_state(connections, "Fake", "error")
        while len(fake.requests) < 2:  # the background retry is under way
            await asyncio.sleep(0.01)
        flow = make_flow("POST", "/v1/chat/completions", chat_body("misspelt-model"))
        ingress, router = Ingress(gateway), Router(gateway, connections)
        ingress.requestheaders(flow)
        ingress.request(flow)
        assert router.request(flow) is None  # answered now, not after the retry
        assert flow.response is not None and flow.response.status_code == 404
        assert connections.statuses["Fake"].state == "error"  # still retrying, in error
    finally:
        hang.set()
        await connections.done()


async def test_reconnect_reads_a_key_set_after_the_failure(serve) -> None:
    async def models(request: web.Request) -> web.Response:
        if request.headers.get("authorization") != "Bearer sk-set-later":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        return web.json_response({"data": [{"id": "m1"}]})

    fake = await serve(models)
    environ: dict[str, str] = {}
    gateway = Gateway(Secrets(environ=environ))
    connections = Connections(gateway)
    publish(gateway, custom_yaml(fake.port))
    try:
        connections.running()
        await wait_for_state(connections, "Fake", "error")
        assert "set-key Fake" in (connections.statuses["Fake"].error or "")
        environ["MITMLLM_KEY_FAKE"] = "sk-set-later"  # as `providers set-key` would
        status = connections.reconnect("fake")
        assert status is not None and status.state == "connecting"
        await wait_for_state(connections, "Fake", "connected")
        assert connections.reconnect("nobody") is None
    finally:
        await connections.done()
