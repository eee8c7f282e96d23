"""Inspect: each routed flow is labelled for mitmweb and logged in one line, without
header values or bodies."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mitmproxy.exceptions import OptionsError
from mitmproxy.flow import Error
from mitmproxy.test import taddons, tutils
from support.addon_helpers import (
    chat_body,
    make_flow,
    make_gateway,
    messages_body,
    run_request_hooks,
)

from mitmllm.addons.connections import Connections
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.inspect import Inspect
from mitmllm.addons.router import Router


async def test_label_names_provider_upstream_model_and_formats() -> None:
    gateway = make_gateway()
    flow = make_flow("POST", "/v1/chat/completions", chat_body("anthropic/claude-x"))
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway)),
                                   Inspect(gateway)])
    assert flow.comment == "anthropic · claude-x · openai → anthropic"

    flow = make_flow("POST", "/v1/messages", messages_body("anthropic/claude-x"))
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway)),
                                   Inspect(gateway)])
    assert flow.comment == "anthropic · claude-x · anthropic"


async def test_a_users_own_comment_is_kept_and_gateway_answers_are_labelled() -> None:
    gateway = make_gateway()
    flow = make_flow("POST", "/v1/chat/completions", chat_body("openai/gpt-4o"))
    flow.comment = "mine"
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway)),
                                   Inspect(gateway)])
    assert flow.comment == "mine"

    flow = make_flow("GET", "/v1/models?limit=5")
    await run_request_hooks(flow, [Ingress(gateway), Inspect(gateway)])
    assert flow.comment == "mitmllm · GET /v1/models"


async def test_failed_flows_say_why_in_their_label() -> None:
    gateway = make_gateway()
    flow = make_flow("POST", "/v1/chat/completions", chat_body("nobody/gpt-4o"))
    flow.request.host, flow.client_conn.sockname = "mitmllm.invalid", ("127.0.0.1", 1337)
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway)),
                                   Inspect(gateway)])
    Inspect(gateway).response(flow)
    assert flow.response is not None and flow.response.status_code == 404
    assert flow.comment == "mitmllm · POST /v1/chat/completions · 404 model_not_found"
    # Answered here: the Path column shows where the client sent it, not the placeholder.
    assert (flow.request.host, flow.request.port) == ("127.0.0.1", 1337)

    flow = make_flow("POST", "/v1/chat/completions", chat_body("openai/gpt-4o"))
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway)),
                                   Inspect(gateway)])
    flow.error = Error("Client disconnected.")
    Inspect(gateway).error(flow)
    assert flow.comment == "openai · gpt-4o · openai · Client disconnected."

    flow = make_flow("POST", "/v1/chat/completions", chat_body("openai/gpt-4o"))
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway)),
                                   Inspect(gateway)])
    flow.response = tutils.tresp()
    flow.metadata["mitmllm"]["answer_end"] = "client left after the end"
    Inspect(gateway).response(flow)
    assert flow.comment == "openai · gpt-4o · openai"  # a normal end


async def test_the_keep_option_is_checked(tmp_path: Path) -> None:
    gateway = make_gateway()
    inspect = Inspect(gateway)
    with taddons.context(inspect) as tctx:
        assert gateway.keep_bytes == 2 * 1024 * 1024
        tctx.configure(inspect, mitmllm_keep_mb=0.5)
        assert gateway.keep_bytes == 512 * 1024
        with pytest.raises(OptionsError, match="mitmllm_keep_mb must be 0 or more"):
            tctx.configure(inspect, mitmllm_keep_mb=-1)


async def test_one_log_line_per_routed_flow_without_secrets(
        caplog: pytest.LogCaptureFixture) -> None:
    gateway = make_gateway()
    flow = make_flow("POST", "/v1/chat/completions",
                     chat_body("openrouter/openai/gpt-4o", stream=True),
                     headers={"authorization": "Bearer sk-client-secret"})
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway))])
    flow.response = tutils.tresp(status_code=201)
    caplog.set_level(logging.INFO, logger="mitmllm")
    Inspect(gateway).response(flow)
    lines = [r.getMessage() for r in caplog.records if r.name == "mitmllm"]
    assert len(lines) == 1
    line = lines[0]
    for part in ("openrouter/openai/gpt-4o", "openrouter", "openai/gpt-4o", "201", "stream"):
        assert part in line
    assert "sk-client-secret" not in line
    assert "Hi" not in line  # no body


async def test_errors_are_logged_and_gateway_answers_are_not(
        caplog: pytest.LogCaptureFixture) -> None:
    gateway = make_gateway()
    caplog.set_level(logging.INFO, logger="mitmllm")
    flow = make_flow("POST", "/v1/chat/completions", chat_body("openai/gpt-4o"))
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway))])
    Inspect(gateway).error(flow)
    models = make_flow("GET", "/v1/models")
    Ingress(gateway).requestheaders(models)
    models.response = tutils.tresp()
    Inspect(gateway).response(models)
    lines = [r.getMessage() for r in caplog.records if r.name == "mitmllm"]
    assert len(lines) == 1
    assert "error" in lines[0] and "gpt-4o" in lines[0]


async def test_a_keep_set_before_the_addon_loads_is_applied() -> None:
    # `mitmllm run` sets mitmllm_keep_mb=0 with update_defer, before the pipeline exists.
    from mitmproxy import options
    from mitmproxy.addons import core
    from mitmproxy.master import Master

    from mitmllm.addons import pipeline
    from mitmllm.addons.state import Gateway

    opts = options.Options()
    master = Master(opts)
    master.addons.add(core.Core())
    opts.update_defer(mitmllm_keep_mb=0)
    gateway = Gateway()
    master.addons.add(*pipeline(gateway))
    opts.update(listen_port=1)  # any later change of options
    assert gateway.keep_bytes == 0
