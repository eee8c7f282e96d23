"""`@fails_closed`: an unexpected exception in a hook, sync or async, is logged once with the
flow id and answered in the client's format, instead of the flow going on unchanged."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Coroutine
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.test import taddons, tutils
from support.addon_helpers import (
    assert_anthropic_error,
    assert_openai_error,
    chat_body,
    make_flow,
    make_gateway,
    run_request_hooks,
)

from mitmllm.addons import translate_answer
from mitmllm.addons.connections import Connections
from mitmllm.addons.fail_closed import fails_closed
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.router import Router
from mitmllm.addons.state import record
from mitmllm.addons.translate import Translate
from mitmllm.addons.translate_answer import TranslateAnswer
from mitmllm.translators import hub
from mitmllm.translators.errors import ErrorInfo
from mitmllm.translators.formats import Format

LOGGER = __name__  # the decorator logs on the hook's own module logger


class Broken:
    """Hooks of every shape mitmproxy accepts, each failing after touching the flow."""

    def __init__(self) -> None:
        self.calls = 0

    @fails_closed("do the thing")
    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self.calls += 1
        flow.request.path = "/half-done"
        raise KeyError("boom")

    @fails_closed("wait for the thing")
    def request(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        self.calls += 1
        return self._later(flow)

    async def _later(self, flow: http.HTTPFlow) -> None:
        await asyncio.sleep(0)
        raise ValueError("late boom")

    @fails_closed("answer asynchronously")
    async def response(self, flow: http.HTTPFlow) -> None:
        self.calls += 1
        raise RuntimeError("async boom")


class Fine:
    @fails_closed("do nothing")
    def request(self, flow: http.HTTPFlow) -> None:
        return None

    @fails_closed("wait for nothing")
    def requestheaders(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        return asyncio.sleep(0)


def ours(client_format: Format = "openai") -> http.HTTPFlow:
    flow = make_flow("POST", "/v1/chat/completions", chat_body("m"))
    record(flow, kind="chat", client_format=client_format)
    return flow


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_a_sync_hook_that_raises_answers_a_500_and_logs_once(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    addon, flow = Broken(), ours()
    assert addon.requestheaders(flow) is None
    error = assert_openai_error(flow.response, 500, code="translation_failed")
    assert error["message"] == ("mitmllm could not do the thing (a bug: the proxy log has "
                                "the details).")
    assert error["type"] == "server_error"
    assert messages(caplog) == [f"flow {flow.id}: cannot do the thing"]
    assert caplog.records[0].exc_info is not None  # with the traceback
    assert addon.calls == 1


def test_the_answer_is_in_the_clients_format() -> None:
    flow = ours("anthropic")
    Broken().requestheaders(flow)
    error = assert_anthropic_error(flow.response, 500, "api_error")
    assert "a bug" in error["message"]


async def test_a_coroutine_returned_by_a_sync_hook_is_guarded(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger=LOGGER)
    flow = ours()
    pending = Broken().request(flow)
    assert pending is not None and inspect.isawaitable(pending)
    assert flow.response is None  # nothing failed yet
    await pending
    assert_openai_error(flow.response, 500, code="translation_failed")
    assert messages(caplog) == [f"flow {flow.id}: cannot wait for the thing"]


async def test_an_async_hook_stays_async_and_is_guarded() -> None:
    assert inspect.iscoroutinefunction(Broken.response)
    assert Broken.response.__name__ == "response"
    flow = ours()
    flow.response = tutils.tresp(status_code=200)
    await Broken().response(flow)
    error = assert_openai_error(flow.response, 500)
    assert "answer asynchronously" in error["message"]


async def test_hooks_that_do_not_fail_return_what_they_return() -> None:
    flow = ours()
    assert Fine().request(flow) is None
    pending = Fine().requestheaders(flow)
    assert pending is not None
    await pending
    assert flow.response is None


def test_a_custom_answer() -> None:
    class Upstreamish:
        @fails_closed("read the answer", answer=ErrorInfo(502, "Bad answer.",
                                                          code="bad_upstream_response"))
        def response(self, flow: http.HTTPFlow) -> None:
            raise RuntimeError("boom")

    flow = ours()
    flow.response = tutils.tresp(status_code=200)
    Upstreamish().response(flow)
    error = assert_openai_error(flow.response, 502, code="bad_upstream_response")
    assert error["message"] == "Bad answer."


async def test_cancellation_is_not_swallowed() -> None:
    class Cancelled:
        @fails_closed("be cancelled")
        async def request(self, flow: http.HTTPFlow) -> None:
            raise asyncio.CancelledError

    flow = ours()
    with pytest.raises(asyncio.CancelledError):
        await Cancelled().request(flow)
    assert flow.response is None


async def test_through_mitmproxys_addon_manager_the_flow_is_answered() -> None:
    addon, flow = Broken(), ours()
    with taddons.context(addon) as tctx:
        await tctx.master.addons.handle_lifecycle(HttpRequestHook(flow))
    assert_openai_error(flow.response, 500, code="translation_failed")


# --- the translate hooks keep the answers they gave before the decorator ----------------


async def test_a_bug_translating_the_request_is_a_500_saying_so(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("messages")

    monkeypatch.setattr(hub, "translate_request", broken)
    caplog.set_level(logging.ERROR, logger="mitmllm.addons.translate")
    gateway = make_gateway()
    flow = make_flow("POST", "/v1/chat/completions", chat_body("anthropic/claude-x"))
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway)),
                                   Translate(gateway)])
    error = assert_openai_error(flow.response, 500, code="translation_failed")
    assert error["message"] == ("mitmllm could not translate this request (a bug: the proxy "
                                "log has the details).")
    assert flow.request.path == "/v1/chat/completions"  # nothing sent on
    assert [r.getMessage() for r in caplog.records] == [
        f"flow {flow.id}: cannot translate the request"]


async def test_a_bug_translating_the_answer_is_a_502_bad_upstream_response(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("choices")

    gateway = make_gateway()
    flow = make_flow("POST", "/v1/chat/completions", chat_body("anthropic/claude-x"))
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway)),
                                   Translate(gateway)])
    monkeypatch.setattr(translate_answer.hub, "translate_response", broken)
    caplog.set_level(logging.ERROR, logger="mitmllm.addons.translate_answer")
    flow.response = tutils.tresp(status_code=200, content=b'{"type": "message"}')
    TranslateAnswer(gateway).response(flow)
    error = assert_openai_error(flow.response, 502, code="bad_upstream_response")
    assert error["message"] == ("mitmllm could not translate the provider's answer (the proxy "
                                "log has the details).")
    assert [r.getMessage() for r in caplog.records] == [
        f"flow {flow.id}: cannot translate the answer"]
