"""End to end: the real `mitmllm run` on loopback, a fake OpenAI-compatible provider, and the
real `openai` SDK as the client. What a user of a custom provider (Ollama, LM Studio, vLLM,
a corporate gateway) sees: model listing, chat streamed and not, secrets and headers
injected, base path applied, errors in OpenAI shape, states, hot reload, clean shutdown.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import openai
import pytest
from openai import OpenAI
from support.fake_provider import FakeProvider, Hang, Json, ProviderThread, Sse
from support.proxy import MitmllmProcess

pytestmark = pytest.mark.e2e

API_KEY = "sk-provider-secret-1234"
ORG_TOKEN = "org-token-secret-5678"
CLIENT_KEY = "sk-client-placeholder"


def chat_completion(model: str, text: str) -> dict[str, object]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}


def chunk(content: str | None = None, finish: str | None = None) -> bytes:
    delta = {} if content is None else {"content": content}
    payload = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1,
               "model": "m1", "choices": [{"index": 0, "delta": delta,
                                           "finish_reason": finish}]}
    return f"data: {json.dumps(payload)}\n\n".encode()


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeProvider, str]]:
    server = ProviderThread(base_path="/custom/api/v1")
    with server as provider:
        provider.models = ["m1", "m2"]
        yield provider, server.url


@pytest.fixture(scope="module")
def proxy(fake: tuple[FakeProvider, str], tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[MitmllmProcess]:
    _, url = fake
    port = url.rsplit(":", 1)[1]
    config = f"""\
# my gateway
listen: {{host: 127.0.0.1}}
providers:
  - name: My Corp
    host: 127.0.0.1
    protocol: http
    port: {port}
    base_path: /custom/api/v1
    auth: api_key
    headers: {{X-Team: blue}}
    secret_headers: [X-Org-Token]
  - name: slowpoke
    host: 127.0.0.1
    protocol: http
    port: {port}
    base_path: /custom/api/v1
    timeout: 1
    auto_connect: false
    models: [slow-*]
  - name: down
    host: 127.0.0.1
    protocol: http
    port: 9
    models: [down-model]
  - name: offline
    host: 127.0.0.1
    protocol: http
    port: {port}
    enabled: false
local: {{enabled: false}}
"""
    env = {"MITMLLM_KEY_MY_CORP": API_KEY, "MITMLLM_KEY_MY_CORP_X_ORG_TOKEN": ORG_TOKEN}
    process = MitmllmProcess(tmp_path_factory.mktemp("gateway"), config, env=env)
    with process:
        process.wait_for("My Corp", "connected")
        yield process
        assert process.stop() == 0, process.log()
        log = process.log()
        assert API_KEY not in log and ORG_TOKEN not in log


@pytest.fixture
def client(proxy: MitmllmProcess) -> OpenAI:
    return OpenAI(base_url=proxy.url + "/v1", api_key=CLIENT_KEY, max_retries=0, timeout=10)


def test_models_lists_every_connected_provider_with_prefix(client: OpenAI) -> None:
    models = {m.id: m.owned_by for m in client.models.list()}
    assert models["my-corp/m1"] == "My Corp"
    assert models["my-corp/m2"] == "My Corp"
    assert "slowpoke/slow-*" not in models  # a glob routes, but is no model id
    assert not any(m.startswith("offline/") for m in models)
    assert client.models.retrieve("my-corp/m2").owned_by == "My Corp"


def test_chat_reaches_the_provider_with_its_own_headers(
        client: OpenAI, fake: tuple[FakeProvider, str]) -> None:
    provider, url = fake
    provider.reply("/chat/completions", Json(200, chat_completion("m1", "Hello there")))
    sent: list[httpx.Request] = []
    recording = OpenAI(base_url=client.base_url, api_key=CLIENT_KEY, max_retries=0,
                       http_client=httpx.Client(event_hooks={"request": [sent.append]}),
                       default_headers={"x-api-key": CLIENT_KEY,
                                        "OpenAI-Organization": "org-client"})
    answer = recording.chat.completions.create(
        model="my-corp/m1", messages=[{"role": "user", "content": "Hi"}], temperature=0.5)
    assert answer.choices[0].message.content == "Hello there"
    assert answer.usage is not None and answer.usage.total_tokens == 11

    received = provider.requests_to("/chat/completions")[-1]
    assert received.path == "/custom/api/v1/chat/completions"
    assert received.headers["host"] == f"127.0.0.1:{url.rsplit(':', 1)[1]}"
    assert received.headers["authorization"] == f"Bearer {API_KEY}"
    assert received.headers["x-team"] == "blue"
    assert received.headers["x-org-token"] == ORG_TOKEN
    assert "x-api-key" not in received.headers and "openai-organization" not in received.headers
    assert CLIENT_KEY not in str(received.headers)
    # Untouched but for the model: the exact bytes the SDK sent, with the prefix gone.
    client_body = sent[-1].content
    assert received.body == client_body.replace(b'"my-corp/m1"', b'"m1"')
    assert received.json()["model"] == "m1"


def test_bare_model_id_routes_through_the_catalog(
        client: OpenAI, fake: tuple[FakeProvider, str]) -> None:
    provider, _ = fake
    provider.reply("/chat/completions", Json(200, chat_completion("m2", "via catalog")))
    answer = client.chat.completions.create(model="m2", messages=[{"role": "user",
                                                                   "content": "x"}])
    assert answer.choices[0].message.content == "via catalog"
    assert provider.requests_to("/chat/completions")[-1].json()["model"] == "m2"


def test_stream_arrives_chunk_by_chunk(client: OpenAI,
                                       fake: tuple[FakeProvider, str]) -> None:
    provider, _ = fake
    reply = Sse([chunk("Hel"), chunk("lo"), chunk(", world"), chunk(finish="stop"),
                 b"data: [DONE]\n\n"], delay=0.15)
    provider.reply("/chat/completions", reply)
    started = time.monotonic()
    arrivals: list[float] = []
    pieces: list[str] = []
    finish = None
    with client.chat.completions.create(model="my-corp/m1", stream=True, messages=[
            {"role": "user", "content": "Hi"}]) as stream:
        for part in stream:
            if part.choices and part.choices[0].delta.content:
                pieces.append(part.choices[0].delta.content)
                arrivals.append(time.monotonic() - started)
            if part.choices and part.choices[0].finish_reason:
                finish = part.choices[0].finish_reason
    assert "".join(pieces) == "Hello, world"
    assert finish == "stop"
    # Each piece arrived when the provider sent it, not all at the end.
    assert arrivals[-1] - arrivals[0] >= 0.25
    assert provider.requests_to("/chat/completions")[-1].json()["stream"] is True


def test_unknown_model_is_404_listing_what_exists(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-model",
                                       messages=[{"role": "user", "content": "x"}])
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert "my-corp/m1" in error["message"]


def test_disabled_provider_says_so(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="disabled"):
        client.chat.completions.create(model="offline/m1",
                                       messages=[{"role": "user", "content": "x"}])


def test_malformed_json_is_400_in_openai_shape(proxy: MitmllmProcess) -> None:
    answer = httpx.post(proxy.url + "/v1/chat/completions", content=b'{"model": "m1",',
                        headers={"content-type": "application/json"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and "not valid JSON" in error["message"]


def test_unreachable_provider_is_502_naming_it(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="down-model",
                                       messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert "'down'" in caught.value.message and "127.0.0.1:9" in caught.value.message


def test_slow_provider_times_out_with_504(client: OpenAI,
                                          fake: tuple[FakeProvider, str]) -> None:
    provider, _ = fake
    provider.reply("/chat/completions", Hang(5))
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="slow-one",
                                       messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 504
    assert "slowpoke" in caught.value.message
    assert time.monotonic() - started < 3


def test_stream_that_stalls_ends_with_an_error_event(
        client: OpenAI, fake: tuple[FakeProvider, str]) -> None:
    provider, _ = fake
    provider.reply("/chat/completions", Sse([chunk("partial")], hang_after=5))
    pieces: list[str] = []
    with pytest.raises(openai.APIError, match="did not answer within"):
        with client.chat.completions.create(model="slow-model", stream=True, messages=[
                {"role": "user", "content": "x"}]) as stream:
            for part in stream:
                if part.choices and part.choices[0].delta.content:
                    pieces.append(part.choices[0].delta.content)
    assert pieces == ["partial"]


def test_upstream_error_keeps_status_and_message(
        client: OpenAI, fake: tuple[FakeProvider, str]) -> None:
    provider, _ = fake
    provider.reply("/chat/completions", Json(429, {"error": {
        "message": "Rate limit reached for m1", "type": "rate_limit_error", "param": None,
        "code": "rate_limit_exceeded"}}))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="my-corp/m1",
                                       messages=[{"role": "user", "content": "x"}])
    assert caught.value.message.endswith("Rate limit reached for m1")
    assert caught.value.code == "rate_limit_exceeded"


def test_upstream_html_error_becomes_openai_shape(
        client: OpenAI, fake: tuple[FakeProvider, str]) -> None:
    provider, _ = fake
    provider.reply("/chat/completions", Json(503, None, raw=b"<html>upstream down</html>",
                                             headers={"content-type": "text/html"}))
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="my-corp/m1",
                                       messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 503
    assert "upstream down" in caught.value.message


def test_admin_providers_shows_states(proxy: MitmllmProcess) -> None:
    rows = proxy.providers()
    assert rows["My Corp"]["state"] == "connected"
    assert rows["My Corp"]["models"] == ["m1", "m2"]
    assert rows["My Corp"]["format"] == "openai"
    assert rows["offline"]["state"] == "disabled"
    assert rows["slowpoke"]["state"] == "disconnected"
    down = proxy.wait_for("down", "error")
    assert "127.0.0.1:9" in down["error"]
    assert proxy.get("/health") == {"status": "ok"}


def test_config_edit_is_picked_up_without_restart(
        proxy: MitmllmProcess, fake: tuple[FakeProvider, str]) -> None:
    provider, url = fake
    text = proxy.config.read_text()
    proxy.config.write_text(text.replace("  - name: offline\n", f"""\
  - name: late
    host: 127.0.0.1
    protocol: http
    port: {url.rsplit(':', 1)[1]}
    base_path: /custom/api/v1
    models: [late-model]
  - name: offline
"""))
    try:
        proxy.wait_for("late", "connected", timeout=5)
        provider.reply("/chat/completions", Json(200, chat_completion("late-model", "new")))
        answer = OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0) \
            .chat.completions.create(model="late/late-model",
                                     messages=[{"role": "user", "content": "x"}])
        assert answer.choices[0].message.content == "new"
    finally:
        proxy.config.write_text(text)
        deadline = time.monotonic() + 5
        while "late" in proxy.providers() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert "late" not in proxy.providers()


def test_invalid_config_edit_keeps_the_proxy_running(proxy: MitmllmProcess) -> None:
    text = proxy.config.read_text()
    proxy.config.write_text(text + "  - name: broken\n    port: [not a port]\n")
    try:
        time.sleep(1.5)
        assert proxy.get("/health") == {"status": "ok"}
        assert "broken" not in proxy.providers()
        assert "config not reloaded" in proxy.log()
    finally:
        proxy.config.write_text(text)


def test_listen_token_is_required_when_configured(tmp_path: Path,
                                                  fake: tuple[FakeProvider, str]) -> None:
    provider, url = fake
    config = f"""\
listen: {{token: gate-token}}
providers:
  - {{name: p, host: 127.0.0.1, protocol: http, port: {url.rsplit(':', 1)[1]},
     base_path: /custom/api/v1}}
local: {{enabled: false}}
"""
    with MitmllmProcess(tmp_path, config) as proxy:
        denied = OpenAI(base_url=proxy.url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            denied.models.list()
        allowed = OpenAI(base_url=proxy.url + "/v1", api_key="gate-token", max_retries=0)
        provider.reply("/chat/completions", Json(200, chat_completion("m1", "ok")))
        answer = allowed.chat.completions.create(model="p/m1", messages=[
            {"role": "user", "content": "x"}])
        assert answer.choices[0].message.content == "ok"
        # The listen token is the gateway's, never the provider's.
        assert "gate-token" not in str(provider.requests_to("/chat/completions")[-1].headers)
