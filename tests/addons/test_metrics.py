"""Metrics: one observation per finished model request, labelled by route, with tokens
read back from the answer; model labels bounded; `GET /metrics` in Prometheus' format."""

from __future__ import annotations

import json

from mitmproxy.flow import Error
from mitmproxy.test import tutils
from prometheus_client.parser import text_string_to_metric_families
from support.addon_helpers import chat_body, make_flow, make_gateway, run_request_hooks

from mitmllm.addons import metrics as metrics_module
from mitmllm.addons.connections import Connections
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.metrics import Metrics
from mitmllm.addons.router import Router
from mitmllm.addons.usage_counts import body_tokens, stream_tokens

ROUTE = {"provider": "anthropic", "model": "claude-x", "client_format": "openai",
         "provider_format": "anthropic"}


def scraped(addon: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(addon.exposition().decode())
            for s in f.samples}


async def routed(gateway, model: str = "anthropic/claude-x"):  # type: ignore[no-untyped-def]
    flow = make_flow("POST", "/v1/chat/completions", chat_body(model))
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway))])
    return flow


async def test_a_whole_answer_counts_once_with_its_tokens() -> None:
    gateway = make_gateway()
    addon = Metrics(gateway)
    flow = await routed(gateway)
    flow.response = tutils.tresp(content=json.dumps({"object": "chat.completion", "usage": {
        "prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}).encode())
    addon.response(flow)
    addon.error(flow)  # a later error hook of the same flow is not a second request
    found = scraped(addon)
    route = frozenset(ROUTE.items())
    assert found[("mitmllm_requests_total", route | {("status", "200")})] == 1
    assert found[("mitmllm_tokens_total", route | {("direction", "in")})] == 11
    assert found[("mitmllm_tokens_total", route | {("direction", "out")})] == 7
    assert found[("mitmllm_request_duration_seconds_count", route)] == 1


async def test_failures_and_refusals_count_without_client_chosen_labels() -> None:
    gateway = make_gateway()
    addon = Metrics(gateway)
    lost = await routed(gateway)
    lost.error = Error("Client disconnected.")
    addon.error(lost)
    refused = await routed(gateway, "no-such/" + "x" * 40)
    addon.response(refused)
    found = scraped(addon)
    assert found[("mitmllm_requests_total",
                  frozenset(ROUTE.items()) | {("status", "error")})] == 1
    unrouted = {"provider": "-", "model": "-", "client_format": "openai",
                "provider_format": "-", "status": "404"}
    assert found[("mitmllm_requests_total", frozenset(unrouted.items()))] == 1
    assert "xxxx" not in addon.exposition().decode()


async def test_model_labels_are_bounded_per_provider(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(metrics_module, "MAX_MODELS", 2)
    gateway = make_gateway()
    addon = Metrics(gateway)
    for model in ("a", "b", "c", "d"):
        flow = await routed(gateway, f"anthropic/{model}")
        flow.response = tutils.tresp()
        addon.response(flow)
    models = {dict(key[1]).get("model") for key in scraped(addon)
              if key[0] == "mitmllm_requests_total"}
    assert models == {"a", "b", "other"}


async def test_metrics_endpoint_answers_in_prometheus_format() -> None:
    gateway = make_gateway()
    addon = Metrics(gateway)
    flow = make_flow("GET", "/metrics")
    await run_request_hooks(flow, [Ingress(gateway), addon])
    assert flow.response is not None and flow.response.status_code == 200
    assert flow.response.headers["content-type"].startswith("text/plain; version=")
    assert b"# TYPE mitmllm_requests_total counter" in (flow.response.content or b"")


def test_tokens_are_read_from_every_format() -> None:
    assert body_tokens(b'{"usage": {"input_tokens": 3, "cache_read_input_tokens": 2, '
                       b'"output_tokens": 4}}') == (5, 4)
    assert body_tokens(b'{"response": {"usage": {"input_tokens": 9, "output_tokens": 1}}}') \
        == (9, 1)
    assert body_tokens(b"not json") == (0, 0)
    anthropic = [b'event: message_start\ndata: {"type":"message_start","message":{"usage":'
                 b'{"input_tokens":25,"output_tokens":1}}}\n\n',
                 b'event: message_delta\ndata: {"type":"message_delta","usage":'
                 b'{"output_tokens":15}}\n\n']
    assert stream_tokens(anthropic) == (25, 15)
    assert stream_tokens([b'data: {"choices":[],"usage":{"prompt_tokens":5,'
                          b'"completion_tokens":2}}\n\ndata: [DONE]\n\n']) == (5, 2)
