"""Inspect: each routed flow is labelled for mitmweb and logged in one line, without
header values or bodies."""

from __future__ import annotations

import logging

import pytest
from mitmproxy.test import tutils
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


async def test_a_users_own_comment_is_kept_and_gateway_answers_are_not_labelled() -> None:
    gateway = make_gateway()
    flow = make_flow("POST", "/v1/chat/completions", chat_body("openai/gpt-4o"))
    flow.comment = "mine"
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway)),
                                   Inspect(gateway)])
    assert flow.comment == "mine"

    flow = make_flow("GET", "/v1/models")
    await run_request_hooks(flow, [Ingress(gateway), Inspect(gateway)])
    assert flow.comment == ""


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
