"""UpstreamErrors: answers an upstream failure in the client's format (`error` hook),
installs the gateway's HTTP layer for the plain-HTTP reverse proxy (`next_layer` hook) and
names at startup what an unverified mitmproxy lacks (`load` hook). The layer itself is
driven in `test_upstream_layer.py`, and end to end in `tests/e2e/`."""

from __future__ import annotations

import logging

import pytest
from mitmproxy import connection, exceptions, flow, http, options
from mitmproxy.proxy import context, events, layer
from mitmproxy.proxy.layers import HttpLayer, modes
from mitmproxy.proxy.layers.http import HTTPMode, HttpStream
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow, tutils
from support.addon_helpers import (
    assert_anthropic_error,
    assert_openai_error,
    chat_body,
    make_flow,
    make_gateway,
    messages_body,
    run_request_hooks,
)

from mitmllm.addons.connections import Connections
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.router import Router
from mitmllm.addons.state import Gateway, record
from mitmllm.addons.translate import Translate
from mitmllm.addons.translate_answer import TranslateAnswer
from mitmllm.addons.upstream import GatewayHttpLayer, UpstreamErrors


async def routed(model: str, path: str = "/v1/chat/completions"
                 ) -> tuple[http.HTTPFlow, Gateway]:
    gateway = make_gateway()
    body = messages_body(model) if path.endswith("/messages") else chat_body(model)
    f = make_flow("POST", path, body)
    await run_request_hooks(f, [Ingress(gateway), Router(gateway, Connections(gateway)),
                                Translate(gateway)])
    assert f.response is None
    return f, gateway


async def test_unreachable_provider_is_502_in_openai_shape_naming_it(
        caplog: pytest.LogCaptureFixture) -> None:
    f, gateway = await routed("my-corp/big")
    f.server_conn.timestamp_tcp_setup = None  # the connection was never made
    f.error = flow.Error("Connection refused")
    gateway.exchange(f).upstream_failed = True  # what GatewayHttpStream does first
    caplog.set_level(logging.WARNING, logger="mitmllm.addons.upstream")
    UpstreamErrors(gateway).error(f)
    error = assert_openai_error(f.response, 502, code="provider_unreachable")
    assert "My Corp" in error["message"]
    assert "http://llm.corp.example:8080" in error["message"]
    assert "Connection refused" in error["message"]
    assert any("My Corp" in r.getMessage() for r in caplog.records)


async def test_broken_off_answer_is_502_in_anthropic_shape() -> None:
    f, gateway = await routed("anthropic/claude-x", path="/v1/messages")
    f.error = flow.Error("peer closed connection")
    gateway.exchange(f).upstream_failed = True  # what GatewayHttpStream does first
    UpstreamErrors(gateway).error(f)
    error = assert_anthropic_error(f.response, 502)
    assert "anthropic" in error["message"]
    assert "peer closed connection" in error["message"]


async def test_timed_out_is_504() -> None:
    f, gateway = await routed("my-corp/big")
    record(f, timed_out=True)
    f.error = flow.Error("no answer from the provider within 12.5 s")
    gateway.exchange(f).upstream_failed = True  # what GatewayHttpStream does first
    UpstreamErrors(gateway).error(f)
    error = assert_openai_error(f.response, 504, code="provider_timeout")
    assert "My Corp" in error["message"]
    assert "12.5 s" in error["message"]


async def test_timed_out_for_anthropic_client_is_anthropic_504() -> None:
    f, gateway = await routed("openai/gpt-4o", path="/v1/messages")
    record(f, timed_out=True)
    f.error = flow.Error("timed out")
    gateway.exchange(f).upstream_failed = True  # what GatewayHttpStream does first
    UpstreamErrors(gateway).error(f)
    assert_anthropic_error(f.response, 504, "timeout_error")


@pytest.mark.parametrize(("model", "path", "marker"), [
    ("anthropic/claude-x", "/v1/chat/completions", b'data: {"error"'),
    ("openai/gpt-4o", "/v1/chat/completions", b'data: {"error"'),
    ("anthropic/claude-x", "/v1/messages", b"event: error\n"),
])
async def test_broken_stream_gets_a_tail_in_the_clients_format(
        model: str, path: str, marker: bytes) -> None:
    f, gateway = await routed(model, path)
    f.response = tutils.tresp(headers=http.Headers(content_type="text/event-stream"),
                              content=b"")
    TranslateAnswer(gateway).responseheaders(f)
    response = f.response
    exchange = gateway.exchange(f)
    assert exchange.stream is not None
    f.error = flow.Error("connection reset by peer")
    gateway.exchange(f).upstream_failed = True  # what GatewayHttpStream does first
    UpstreamErrors(gateway).error(f)
    assert f.response is response  # the stream's headers are already sent: not replaced
    assert f.response.status_code == 200
    assert exchange.stream_tail is not None
    assert exchange.stream_tail.startswith(marker)
    assert b"connection reset by peer" in exchange.stream_tail
    assert b"[DONE]" not in exchange.stream_tail


async def test_flows_that_are_not_ours_are_left_alone() -> None:
    gateway = make_gateway()
    f = tflow.tflow(err=True)
    UpstreamErrors(gateway).error(f)
    assert f.response is None
    assert gateway.peek_exchange(f) is None


async def test_a_client_that_went_away_gets_no_answer_made_up() -> None:
    f, gateway = await routed("my-corp/big")
    f.error = flow.Error("Client disconnected.")  # not an upstream failure: no mark
    UpstreamErrors(gateway).error(f)
    assert f.response is None


async def test_gateway_answers_and_unrouted_flows_are_left_alone() -> None:
    gateway = make_gateway()
    f = make_flow("GET", "/v1/models")
    Ingress(gateway).requestheaders(f)
    f.error = flow.Error("client disconnected")
    UpstreamErrors(gateway).error(f)
    assert f.response is None


# --- next_layer ------------------------------------------------------------------------


def next_layer_for(mode: str, data: bytes, decided: type | None = None
                   ) -> tuple[layer.NextLayer, context.Context]:
    client = connection.Client(peername=("127.0.0.1", 50000), sockname=("127.0.0.1", 1337),
                               timestamp_start=1, proxy_mode=ProxyMode.parse(mode))
    ctx = context.Context(client, options.Options())
    # Each layer appends itself to `ctx.layers`, as in a live connection.
    if mode.startswith("reverse"):
        modes.ReverseProxy(ctx)
    else:
        modes.HttpProxy(ctx)
    nextlayer = layer.NextLayer(ctx)
    nextlayer.events = [events.DataReceived(client, data)]
    if decided is not None:
        nextlayer.layer = decided(ctx, HTTPMode.transparent)
    return nextlayer, ctx


def test_next_layer_installs_the_gateway_layer_for_the_http_reverse_proxy() -> None:
    nextlayer, _ = next_layer_for("reverse:http://127.0.0.1:9@1337",
                                  b"POST /v1/chat/completions HTTP/1.1\r\n")
    UpstreamErrors(make_gateway()).next_layer(nextlayer)
    assert isinstance(nextlayer.layer, GatewayHttpLayer)


def test_next_layer_replaces_mitmproxys_plain_http_layer() -> None:
    nextlayer, ctx = next_layer_for("reverse:http://127.0.0.1:9@1337",
                                    b"GET /health HTTP/1.1\r\n", decided=HttpLayer)
    UpstreamErrors(make_gateway()).next_layer(nextlayer)
    assert isinstance(nextlayer.layer, GatewayHttpLayer)
    assert [type(x) for x in ctx.layers] == [modes.ReverseProxy, GatewayHttpLayer]


def test_next_layer_leaves_tls_and_other_modes_alone() -> None:
    tls_hello = bytes.fromhex("160301020001")
    nextlayer, _ = next_layer_for("reverse:http://127.0.0.1:9@1337", tls_hello)
    UpstreamErrors(make_gateway()).next_layer(nextlayer)
    assert nextlayer.layer is None

    nextlayer, _ = next_layer_for("regular", b"GET http://example.com/ HTTP/1.1\r\n")
    UpstreamErrors(make_gateway()).next_layer(nextlayer)
    assert nextlayer.layer is None

    nextlayer, _ = next_layer_for("reverse:https://example.com@1338", b"GET / HTTP/1.1\r\n")
    UpstreamErrors(make_gateway()).next_layer(nextlayer)
    assert nextlayer.layer is None


def test_the_header_deadline_follows_its_option() -> None:
    addon = UpstreamErrors(make_gateway())
    with taddons.context(addon) as tctx:
        nextlayer, _ = next_layer_for("reverse:http://127.0.0.1:9@1337", b"GET / HTTP/1.1\r\n")
        addon.next_layer(nextlayer)
        assert isinstance(nextlayer.layer, GatewayHttpLayer)
        assert nextlayer.layer.header_timeout == 30
        tctx.configure(addon, mitmllm_header_timeout=2)
        nextlayer, _ = next_layer_for("reverse:http://127.0.0.1:9@1337", b"GET / HTTP/1.1\r\n")
        addon.next_layer(nextlayer)
        assert isinstance(nextlayer.layer, GatewayHttpLayer)
        assert nextlayer.layer.header_timeout == 2
        with pytest.raises(exceptions.OptionsError, match="mitmllm_header_timeout"):
            tctx.configure(addon, mitmllm_header_timeout=0)


# --- load ----------------------------------------------------------------------------


async def test_startup_names_what_an_unverified_mitmproxy_lacks(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="mitmllm.addons.upstream")
    with taddons.context(UpstreamErrors(make_gateway())):
        pass
    assert caplog.records == []

    monkeypatch.delattr(HttpStream, "state_stream_response_body")
    with taddons.context(UpstreamErrors(make_gateway())):
        pass
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert "HttpStream.state_stream_response_body" in record.getMessage()
    assert "verified with mitmproxy 12." in record.getMessage()
