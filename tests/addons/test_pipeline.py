"""The pipeline list as mitmproxy runs it: every addon of `pipeline()` loaded in a
`taddons` context, hooks dispatched by mitmproxy's own addon manager, in list order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.proxy.layers.http import (
    HttpRequestHeadersHook,
    HttpRequestHook,
    HttpResponseHeadersHook,
    HttpResponseHook,
)
from mitmproxy.test import taddons, tutils
from support.addon_helpers import (
    ANTHROPIC_KEY,
    PROVIDERS_YAML,
    chat_body,
    json_body,
    make_flow,
)

from mitmllm.addons import pipeline
from mitmllm.addons.admin import Admin
from mitmllm.addons.config_watch import ConfigWatcher
from mitmllm.addons.connections import Connections
from mitmllm.addons.credentials import REDACTED, Credentials, ReplaySecrets
from mitmllm.addons.drain import Drain
from mitmllm.addons.head import HeadRequests
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.inspect import Inspect
from mitmllm.addons.local import Local
from mitmllm.addons.metrics import Metrics
from mitmllm.addons.models_endpoint import ModelsEndpoint
from mitmllm.addons.providers_page import ProvidersPage
from mitmllm.addons.router import Router
from mitmllm.addons.state import Gateway
from mitmllm.addons.translate import Translate
from mitmllm.addons.translate_answer import TranslateAnswer
from mitmllm.addons.upstream import UpstreamErrors
from mitmllm.addons.views import MitmllmViews


def test_pipeline_order_is_the_designs() -> None:
    assert [type(a) for a in pipeline()] == [
        ConfigWatcher, UpstreamErrors, Ingress, Router, Admin, ProvidersPage, Local, Translate,
        TranslateAnswer, Credentials, Connections, ModelsEndpoint, Metrics, Drain, HeadRequests,
        Inspect, MitmllmViews, ReplaySecrets]


async def dispatch(tctx: taddons.context, flow: http.HTTPFlow) -> None:
    await tctx.master.addons.handle_lifecycle(HttpRequestHeadersHook(flow))
    await tctx.master.addons.handle_lifecycle(HttpRequestHook(flow))


async def test_whole_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MITMLLM_KEY_ANTHROPIC", ANTHROPIC_KEY)
    config = tmp_path / "config.yaml"
    config.write_text(PROVIDERS_YAML, encoding="utf-8")
    gateway = Gateway()
    addons = pipeline(gateway)
    with taddons.context(*addons) as tctx:
        tctx.configure(addons[0], mitmllm_config=str(config))
        assert [p.name for p in gateway.config.providers][:2] == ["openai", "anthropic"]

        health = make_flow("GET", "/health")
        await dispatch(tctx, health)
        assert health.response is not None and json_body(health.response) == {"status": "ok"}

        admin = make_flow("GET", "/admin/providers")
        await dispatch(tctx, admin)
        assert admin.response is not None
        states = {row["name"]: row["state"] for row in json_body(admin.response)}
        assert states["anthropic"] == "connecting" and states["sleepy"] == "disabled"
        assert states["local"] == "disabled"

        models = make_flow("GET", "/v1/models")
        await dispatch(tctx, models)
        assert models.response is not None
        assert "my-corp/corp-fixed" in [m["id"] for m in json_body(models.response)["data"]]

        flow = make_flow("POST", "/v1/chat/completions",
                         chat_body("anthropic/claude-haiku", stream=True),
                         headers={"authorization": "Bearer sk-client"})
        await dispatch(tctx, flow)
        assert flow.response is None
        assert flow.request.url == "https://api.anthropic.com/v1/messages"
        assert json_body(flow.request)["model"] == "claude-haiku"
        assert flow.request.headers["x-api-key"] == REDACTED
        assert "authorization" not in flow.request.headers
        assert gateway.exchange(flow).wire_headers == {"x-api-key": ANTHROPIC_KEY}
        assert flow.comment == "anthropic · claude-haiku · openai → anthropic"
        assert ANTHROPIC_KEY not in json.dumps(flow.get_state(), default=repr)

        flow.response = tutils.tresp(headers=http.Headers(content_type="text/event-stream"),
                                     content=b"")
        await tctx.master.addons.handle_lifecycle(HttpResponseHeadersHook(flow))
        stream = flow.response.stream
        assert callable(stream)
        sse = (b'event: message_start\ndata: {"type":"message_start","message":{"id":"m",'
               b'"type":"message","role":"assistant","content":[],"model":"claude-haiku",'
               b'"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
               b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
               b'"content_block":{"type":"text","text":""}}\n\n'
               b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
               b'"delta":{"type":"text_delta","text":"Hi!"}}\n\n'
               b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
               b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
               b'"end_turn"},"usage":{"output_tokens":2}}\n\n'
               b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
        out = stream(sse)
        out = (out if isinstance(out, bytes) else b"".join(out)) + stream(b"")
        assert b'"content":"Hi!"' in out
        assert out.rstrip().endswith(b"data: [DONE]")
        await tctx.master.addons.handle_lifecycle(HttpResponseHook(flow))
        assert flow.response.raw_content == out
