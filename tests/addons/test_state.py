"""The pipeline's shared contract: the `Route` set once by the router and read by every later
addon, its plain copy in the flow's metadata, and metadata that reading never creates."""

from __future__ import annotations

import copy
import io
import json

import pytest
from mitmproxy import http
from mitmproxy.io import FlowReader, FlowWriter
from mitmproxy.test import tflow
from support.addon_helpers import chat_body, make_flow, make_gateway, run_request_hooks

from mitmllm.addons.connections import Connections
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.router import Router
from mitmllm.addons.state import (
    LOCAL_TIMEOUT,
    METADATA_KEY,
    Gateway,
    Route,
    info,
    is_ours,
    record,
)


def provider(gateway: Gateway, name: str):  # type: ignore[no-untyped-def]
    found = gateway.config.provider(name)
    assert found is not None
    return found


def test_a_route_to_a_provider_takes_its_name_format_and_timeout() -> None:
    gateway = make_gateway()
    corp = provider(gateway, "my-corp")
    route = Route.to(corp, "big-model", "anthropic")
    assert route == Route("My Corp", corp, "big-model", "anthropic", "openai", 12.5)
    assert not route.is_local
    claude = Route.to(provider(gateway, "anthropic"), "claude-x", "openai")
    assert (claude.provider_name, claude.provider_format) == ("anthropic", "anthropic")


def test_a_local_route() -> None:
    route = Route.to(None, "tiny", "responses")
    assert route == Route("local", None, "tiny", "responses", "openai", LOCAL_TIMEOUT)
    assert route.is_local


def test_reading_metadata_never_creates_it() -> None:
    flow = tflow.tflow()
    assert info(flow) == {}
    assert METADATA_KEY not in flow.metadata
    assert not is_ours(flow)
    info(flow)["kind"] = "chat"  # a copy: writing to it changes nothing
    assert METADATA_KEY not in flow.metadata


def test_record_writes_plain_fields() -> None:
    flow = tflow.tflow()
    record(flow, kind="chat", client_format="openai")
    record(flow, model="m")
    assert flow.metadata[METADATA_KEY] == {"kind": "chat", "client_format": "openai",
                                           "model": "m"}
    assert is_ours(flow)
    assert info(flow) == flow.metadata[METADATA_KEY]


def test_set_route_keeps_the_route_and_writes_its_plain_copy_once() -> None:
    gateway = make_gateway()
    flow = make_flow("POST", "/v1/chat/completions", chat_body("openrouter/openai/gpt-4o"))
    route = Route.to(provider(gateway, "openrouter"), "openai/gpt-4o", "openai")
    gateway.set_route(flow, route)
    assert gateway.route(flow) is route
    assert gateway.exchange(flow).route is route
    assert flow.metadata[METADATA_KEY] == {"upstream_model": "openai/gpt-4o",
                                           "provider": "openrouter",
                                           "provider_format": "openai", "timeout": 60.0}
    assert json.loads(json.dumps(flow.metadata)) == flow.metadata  # plain data only
    assert copy.deepcopy(flow.metadata) == flow.metadata
    with pytest.raises(RuntimeError, match="routed already"):
        gateway.set_route(flow, Route.to(None, "tiny", "openai"))
    assert gateway.route(flow) is route


def test_the_live_route_wins_over_edited_metadata() -> None:
    gateway = make_gateway()
    flow = make_flow()
    gateway.set_route(flow, Route.to(provider(gateway, "anthropic"), "claude-x", "openai"))
    record(flow, provider="openai", provider_format="openai")  # e.g. edited in mitmweb
    route = gateway.route(flow)
    assert route is not None
    assert route.provider_name == "anthropic" and route.provider_format == "anthropic"


def test_unrouted_flows_have_no_route() -> None:
    gateway = make_gateway()
    flow = make_flow("GET", "/v1/models")
    assert gateway.route(flow) is None
    record(flow, kind="models")
    assert gateway.route(flow) is None
    assert gateway.peek_exchange(flow) is None  # asking created nothing


async def test_a_replayed_saved_flow_has_its_route_read_back_from_metadata() -> None:
    gateway = make_gateway()
    flow = make_flow("POST", "/v1/messages", {"model": "my-corp/big", "max_tokens": 5,
                                              "messages": []})
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway))])
    live = gateway.route(flow)
    assert live is not None
    buffer = io.BytesIO()
    FlowWriter(buffer).add(flow)
    buffer.seek(0)
    [loaded] = list(FlowReader(buffer).stream())
    assert isinstance(loaded, http.HTTPFlow)

    fresh = make_gateway()  # a new session: no Exchange for the loaded flow
    assert fresh.route(loaded) is None  # not replayed: not routed
    loaded.is_replay = "request"
    saved = fresh.route(loaded)
    assert saved == live
    assert fresh.peek_exchange(loaded) is None


def test_a_replayed_flow_whose_provider_is_gone_keeps_its_saved_name() -> None:
    gateway = make_gateway("local: {enabled: false}\n")
    flow = make_flow()
    record(flow, kind="chat", client_format="anthropic", provider="retired",
           provider_format="responses", upstream_model="m", timeout=9.0)
    flow.is_replay = "request"
    route = gateway.route(flow)
    assert route == Route("retired", None, "m", "anthropic", "responses", 9.0)
    assert not route.is_local
