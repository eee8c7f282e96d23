"""Credentials: the request is pointed at the provider, the client's auth is dropped, the
provider's headers are added, and secret values stay out of the flow (only the Exchange's
`wire_headers` holds them), except on a replay, where they are redacted again at once."""

from __future__ import annotations

import io
import json

import pytest
from mitmproxy import http
from mitmproxy.io import FlowReader, FlowWriter
from mitmproxy.test import tflow, tutils
from support.addon_helpers import (
    ALL_SECRETS,
    ANTHROPIC_KEY,
    CORP_KEY,
    CORP_ORG_TOKEN,
    OPENAI_KEY,
    OPENROUTER_KEY,
    assert_anthropic_error,
    assert_openai_error,
    call,
    chat_body,
    make_flow,
    make_gateway,
    messages_body,
    run_request_hooks,
)

from mitmllm.addons.connections import Connections
from mitmllm.addons.credentials import REDACTED, Credentials, ReplaySecrets
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.router import Router
from mitmllm.addons.state import Gateway, info
from mitmllm.addons.translate import Translate

CLIENT_HEADERS = {"authorization": "Bearer sk-client-placeholder",
                  "x-api-key": "client-x-api-key", "openai-organization": "org-client",
                  "openai-project": "proj-client", "cookie": "session=abc"}


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MITMLLM_KEY_OPENAI", OPENAI_KEY)
    monkeypatch.setenv("MITMLLM_KEY_ANTHROPIC", ANTHROPIC_KEY)
    monkeypatch.setenv("MITMLLM_KEY_MY_CORP", CORP_KEY)
    monkeypatch.setenv("MITMLLM_KEY_MY_CORP_X_ORG_TOKEN", CORP_ORG_TOKEN)
    monkeypatch.setenv("MITMLLM_KEY_OPENROUTER", OPENROUTER_KEY)


def pipeline(gateway: Gateway) -> list[object]:
    return [Ingress(gateway), Router(gateway, Connections(gateway)), Translate(gateway),
            Credentials(gateway), ReplaySecrets(gateway)]


async def send(model: str, *, path: str = "/v1/chat/completions",
               headers: dict[str, str] | None = None,
               gateway: Gateway | None = None) -> tuple[http.HTTPFlow, Gateway]:
    gateway = gateway or make_gateway()
    body = messages_body(model) if path.endswith("/messages") else chat_body(model)
    flow = make_flow("POST", path, body, headers=headers or {})
    await run_request_hooks(flow, pipeline(gateway))
    return flow, gateway


def assert_no_secret_in(text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    for secret in ALL_SECRETS:
        assert secret.encode() not in data, secret


@pytest.mark.usefixtures("keys")
async def test_openai_provider_gets_its_key_on_the_wire_only() -> None:
    flow, gateway = await send("openai/gpt-4o", headers=CLIENT_HEADERS)
    assert flow.response is None
    request = flow.request
    assert (request.scheme, request.host, request.port) == ("https", "api.openai.com", 443)
    assert request.headers["host"] == "api.openai.com"
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == REDACTED
    for dropped in ("x-api-key", "openai-organization", "openai-project", "cookie"):
        assert dropped not in request.headers
    assert "sk-client-placeholder" not in str(request.headers)
    assert gateway.exchange(flow).wire_headers == {"authorization": f"Bearer {OPENAI_KEY}"}
    assert_no_secret_in(str(request.headers.fields))


@pytest.mark.usefixtures("keys")
async def test_custom_provider_scheme_port_host_plain_and_secret_headers() -> None:
    flow, gateway = await send("my-corp/big", headers=CLIENT_HEADERS)
    assert flow.response is None
    request = flow.request
    assert (request.scheme, request.host, request.port) == ("http", "llm.corp.example", 8080)
    assert request.headers["host"] == "llm.corp.example:8080"
    assert request.url == "http://llm.corp.example:8080/custom/api/v1/chat/completions"
    assert request.headers["X-Team"] == "blue"
    assert request.headers["X-Org-Token"] == REDACTED
    assert request.headers["authorization"] == REDACTED
    wire = gateway.exchange(flow).wire_headers
    assert wire == {"authorization": f"Bearer {CORP_KEY}", "X-Org-Token": CORP_ORG_TOKEN}
    assert_no_secret_in(str(request.headers.fields))


@pytest.mark.usefixtures("keys")
async def test_saved_flow_and_metadata_hold_no_secret() -> None:
    flow, _ = await send("my-corp/big", headers=CLIENT_HEADERS)
    assert_no_secret_in(json.dumps(flow.metadata))
    buffer = io.BytesIO()
    FlowWriter(buffer).add(flow)
    saved = buffer.getvalue()
    assert_no_secret_in(saved)
    assert REDACTED.encode() in saved
    buffer.seek(0)
    [loaded] = list(FlowReader(buffer).stream())
    assert loaded.metadata == flow.metadata


@pytest.mark.usefixtures("keys")
async def test_anthropic_provider_gets_x_api_key_and_version() -> None:
    flow, gateway = await send("anthropic/claude-x", headers=CLIENT_HEADERS)
    assert flow.response is None
    request = flow.request
    assert request.host == "api.anthropic.com"
    assert request.headers["x-api-key"] == REDACTED
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert gateway.exchange(flow).wire_headers == {"x-api-key": ANTHROPIC_KEY}


@pytest.mark.usefixtures("keys")
async def test_anthropic_clients_own_version_kept_for_anthropic_provider() -> None:
    flow, _ = await send("anthropic/claude-x", path="/v1/messages",
                         headers={"x-api-key": "sk-client", "anthropic-version": "2024-10-22",
                                  "anthropic-beta": "prompt-caching-2024-07-31"})
    assert flow.response is None
    assert flow.request.headers.get_all("anthropic-version") == ["2024-10-22"]
    assert flow.request.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert flow.request.headers["x-api-key"] == REDACTED


@pytest.mark.usefixtures("keys")
async def test_anthropic_clients_version_dropped_for_openai_provider() -> None:
    flow, _ = await send("openai/gpt-4o", path="/v1/messages",
                         headers={"x-api-key": "sk-client", "anthropic-version": "2024-10-22",
                                  "anthropic-beta": "prompt-caching-2024-07-31"})
    assert flow.response is None
    assert "anthropic-version" not in flow.request.headers
    assert "anthropic-beta" not in flow.request.headers
    assert "x-api-key" not in flow.request.headers
    assert flow.request.headers["authorization"] == REDACTED


@pytest.mark.usefixtures("keys")
async def test_openai_clients_anthropic_version_replaced_for_anthropic_provider() -> None:
    flow, _ = await send("anthropic/claude-x",
                         headers={"anthropic-version": "1999-01-01"})
    assert flow.request.headers.get_all("anthropic-version") == ["2023-06-01"]


async def test_missing_key_is_401_naming_set_key() -> None:
    flow, _ = await send("openai/gpt-4o", headers=CLIENT_HEADERS)
    error = assert_openai_error(flow.response, 401, code="missing_provider_key")
    assert "mitmllm providers set-key openai" in error["message"]
    assert "MITMLLM_KEY_OPENAI" in error["message"]
    assert "OPENAI_API_KEY" in error["message"]  # the preset's conventional variable


async def test_missing_key_for_anthropic_client_is_anthropic_shape() -> None:
    flow, _ = await send("anthropic/claude-x", path="/v1/messages")
    error = assert_anthropic_error(flow.response, 401, "authentication_error")
    assert "mitmllm providers set-key anthropic" in error["message"]


async def test_missing_secret_header_names_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MITMLLM_KEY_MY_CORP", CORP_KEY)
    flow, _ = await send("my-corp/big")
    error = assert_openai_error(flow.response, 401)
    assert "mitmllm providers set-key My Corp --header X-Org-Token" in error["message"]


async def test_preset_environment_variable_is_the_fallback(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-openai-api-key")
    flow, gateway = await send("openai/gpt-4o")
    assert flow.response is None
    assert gateway.exchange(flow).wire_headers == {
        "authorization": "Bearer sk-from-openai-api-key"}


async def test_auth_none_sends_no_auth_header() -> None:
    gateway = make_gateway("""\
providers:
  - name: ollama
    preset: custom
    host: localhost
    protocol: http
    port: 11434
local: {enabled: false}
""")
    flow, _ = await send("ollama/llama3", headers=CLIENT_HEADERS, gateway=gateway)
    assert flow.response is None
    assert "authorization" not in flow.request.headers
    assert "x-api-key" not in flow.request.headers
    assert flow.request.headers["host"] == "localhost:11434"
    assert gateway.exchange(flow).wire_headers == {}


@pytest.mark.usefixtures("keys")
async def test_second_request_uses_the_cached_secrets_synchronously() -> None:
    gateway = make_gateway()
    await send("openai/gpt-4o", gateway=gateway)
    flow = make_flow("POST", "/v1/chat/completions", chat_body("openai/gpt-4o"))
    addons = pipeline(gateway)
    await run_request_hooks(flow, addons[:3])
    credentials = addons[3]
    assert isinstance(credentials, Credentials)
    assert credentials.request(flow) is None  # no keychain read: applied at once
    assert flow.request.headers["authorization"] == REDACTED
    assert gateway.exchange(flow).wire_headers["authorization"] == f"Bearer {OPENAI_KEY}"


@pytest.mark.usefixtures("keys")
async def test_local_models_and_gateway_answers_are_not_touched() -> None:
    gateway = make_gateway()
    flow = make_flow("GET", "/v1/models", headers={"authorization": "Bearer sk-client"})
    Ingress(gateway).requestheaders(flow)
    await call(Credentials(gateway).request, flow)
    # No provider secret and no wire header: only ingress's marker for the client's key.
    assert flow.request.headers["authorization"] == REDACTED
    assert gateway.exchange(flow).wire_headers == {}
    assert flow.request.host == "127.0.0.1"


# --- replay --------------------------------------------------------------------------


@pytest.mark.usefixtures("keys")
async def test_replayed_flow_gets_secrets_on_the_request_and_redacted_again() -> None:
    flow, gateway = await send("my-corp/big")
    credentials = Credentials(gateway)
    flow.is_replay = "request"
    await call(credentials.request, flow)
    # Not yet: the update after the request hook shows the flow to mitmweb first.
    assert flow.request.headers["authorization"] == REDACTED
    assert flow.request.headers["X-Team"] == "blue"
    ReplaySecrets(gateway).update([flow])  # the last addon, after every flow list
    assert flow.request.headers["authorization"] == f"Bearer {CORP_KEY}"
    assert flow.request.headers["X-Org-Token"] == CORP_ORG_TOKEN

    flow.response = tutils.tresp()
    credentials.responseheaders(flow)
    assert flow.request.headers["authorization"] == REDACTED
    assert flow.request.headers["X-Org-Token"] == REDACTED
    assert_no_secret_in(str(flow.request.headers.fields))


@pytest.mark.usefixtures("keys")
async def test_replayed_flow_loaded_from_a_file_is_redacted_after_an_error() -> None:
    flow, _ = await send("openai/gpt-4o")
    buffer = io.BytesIO()
    FlowWriter(buffer).add(flow)
    buffer.seek(0)
    [loaded] = list(FlowReader(buffer).stream())
    assert isinstance(loaded, http.HTTPFlow)

    fresh = make_gateway()  # a new session: no Exchange for the loaded flow
    credentials = Credentials(fresh)
    loaded.is_replay = "request"
    loaded.live = True
    await call(credentials.request, loaded)
    ReplaySecrets(fresh).update([loaded])
    assert loaded.request.headers["authorization"] == f"Bearer {OPENAI_KEY}"

    loaded.error = tflow.terr()
    credentials.error(loaded)
    assert loaded.request.headers["authorization"] == REDACTED


@pytest.mark.usefixtures("keys")
@pytest.mark.parametrize("model", ["openai/gpt-4o", "my-corp/big"])
async def test_replay_through_the_whole_pipeline_reaches_the_provider(model: str) -> None:
    flow, gateway = await send(model)
    original_url = flow.request.url
    # What mitmproxy's `replay.client` does before the request hooks run again.
    flow.backup()
    flow.is_replay = "request"
    flow.response = None
    flow.error = None
    addons = pipeline(gateway)
    await run_request_hooks(flow, addons)
    assert flow.request.headers["authorization"] == REDACTED  # what mitmweb is shown
    for addon in addons:  # mitmproxy's `update` event after the request hook
        getattr(addon, "update", lambda flows: None)([flow])
    assert flow.response is None, flow.response.get_text() if flow.response else None
    assert flow.request.url == original_url
    assert flow.request.headers["authorization"].startswith("Bearer sk-")
    assert info(flow)["model"] == model


async def test_ipv6_provider_host_header_is_bracketed() -> None:
    gateway = make_gateway("""\
providers:
  - name: v6
    preset: custom
    host: "::1"
    protocol: http
    port: 11434
local: {enabled: false}
""")
    flow, _ = await send("v6/llama3", gateway=gateway)
    assert flow.response is None
    assert flow.request.headers["host"] == "[::1]:11434"
