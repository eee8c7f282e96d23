"""Ingress: classification of every endpoint, malformed input answered in the client's
format, the listen token, the body size limit, and the parsed body in the Exchange."""

from __future__ import annotations

import copy
import gzip
import json

import pytest
from support.addon_helpers import (
    assert_anthropic_error,
    assert_openai_error,
    chat_body,
    make_flow,
    make_gateway,
    messages_body,
    run_request_hooks,
)

from mitmllm.addons.ingress import Ingress
from mitmllm.addons.state import METADATA_KEY, REDACTED, Gateway, info

TOKEN_YAML = "listen: {token: s3cret-listen-token}\n"

ENDPOINTS = [
    ("POST", "/chat/completions", "chat", "openai", chat_body("openai/gpt-4o")),
    ("POST", "/messages", "messages", "anthropic", messages_body("anthropic/claude")),
    ("POST", "/messages/count_tokens", "count_tokens", "anthropic",
     messages_body("anthropic/claude")),
    ("POST", "/responses", "responses", "responses", {"model": "openai/gpt-4o", "input": "Hi"}),
    ("GET", "/models", "models", "openai", None),
    ("GET", "/models/openai%2Fgpt-4o", "model", "openai", None),
    ("GET", "/models/openai/gpt-4o", "model", "openai", None),
    ("GET", "/health", "health", "openai", None),
    ("GET", "/admin/providers", "admin", "openai", None),
]


@pytest.mark.parametrize("prefix", ["/v1", ""], ids=["v1", "bare"])
@pytest.mark.parametrize(("method", "path", "kind", "fmt", "body"), ENDPOINTS,
                         ids=[e[1] for e in ENDPOINTS])
async def test_every_endpoint_is_classified_with_and_without_v1(
        prefix: str, method: str, path: str, kind: str, fmt: str, body: object) -> None:
    gateway = make_gateway("")
    flow = make_flow(method, prefix + path, body)
    await run_request_hooks(flow, [Ingress(gateway)])
    assert flow.response is None
    assert info(flow)["kind"] == kind
    assert info(flow)["client_format"] == fmt
    if body is not None:
        assert gateway.exchange(flow).body == body


@pytest.mark.parametrize("path", ["/v1/chat/completions/", "/v1/chat/completions?x=1",
                                  "/chat/completions/?stream=1"])
async def test_trailing_slash_and_query_are_ignored(path: str) -> None:
    flow = make_flow("POST", path, chat_body("m"))
    await run_request_hooks(flow, [Ingress(make_gateway(""))])
    assert flow.response is None
    assert info(flow)["kind"] == "chat"


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/embeddings", "/v2", "/v2/chat",
                                  "/v1/files/abc"])
async def test_unknown_endpoint_is_404_in_openai_shape(path: str) -> None:
    flow = make_flow("POST", path, chat_body("m"))
    await run_request_hooks(flow, [Ingress(make_gateway(""))])
    error = assert_openai_error(flow.response, 404, code="unknown_url")
    assert path in error["message"]
    assert "/v1/chat/completions" in error["message"]  # says what is served


async def test_unknown_endpoint_below_messages_answers_in_anthropic_shape() -> None:
    flow = make_flow("POST", "/v1/messages/batches", messages_body("m"))
    await run_request_hooks(flow, [Ingress(make_gateway(""))])
    assert_anthropic_error(flow.response, 404)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/v1/chat/completions", "POST"),
    ("PUT", "/v1/messages", "POST"),
    ("GET", "/responses", "POST"),
    ("POST", "/v1/models", "GET, HEAD"),
    ("DELETE", "/v1/models/openai%2Fgpt-4o", "GET, HEAD"),
    ("POST", "/health", "GET, HEAD"),
    ("POST", "/admin/providers", "GET, HEAD"),
    ("HEAD", "/v1/messages", "POST"),
])
async def test_wrong_method_is_405_with_allow(method: str, path: str, allowed: str) -> None:
    flow = make_flow(method, path, chat_body("m") if method != "GET" else None)
    await run_request_hooks(flow, [Ingress(make_gateway(""))])
    assert flow.response is not None
    assert flow.response.status_code == 405
    assert flow.response.headers["allow"] == allowed


async def test_wrong_method_on_messages_is_answered_in_anthropic_shape() -> None:
    flow = make_flow("GET", "/v1/messages")
    await run_request_hooks(flow, [Ingress(make_gateway(""))])
    assert_anthropic_error(flow.response, 405)
    assert flow.response is not None and flow.response.headers["allow"] == "POST"


async def test_malformed_json_on_chat_is_400_openai_shape() -> None:
    flow = make_flow("POST", "/v1/chat/completions", content=b'{"model": "m", "messages": [')
    await run_request_hooks(flow, [Ingress(make_gateway(""))])
    error = assert_openai_error(flow.response, 400, code="invalid_json")
    assert error["type"] == "invalid_request_error"
    assert "JSON" in error["message"]


async def test_malformed_json_on_messages_is_400_anthropic_shape() -> None:
    flow = make_flow("POST", "/v1/messages", content=b"{not json")
    await run_request_hooks(flow, [Ingress(make_gateway(""))])
    error = assert_anthropic_error(flow.response, 400, "invalid_request_error")
    assert "JSON" in error["message"]
    assert flow.response is not None
    assert set(json.loads(flow.response.content or b"")) <= {"type", "error", "request_id"}


@pytest.mark.parametrize("content", [
    b'{"model": "\xff\xfe"}',
    b'{"model": "m\xed\xa0\x80"}',  # a lone surrogate's UTF-8 bytes: json.loads takes them
    '{"model": "m"}'.encode("utf-16")], ids=["invalid", "encoded-surrogate", "utf-16"])
async def test_a_body_not_in_utf8_is_400_not_a_crash(content: bytes) -> None:
    """JSON between systems is UTF-8 (RFC 8259); a passthrough edits the body as UTF-8."""
    flow = make_flow("POST", "/v1/chat/completions", content=content)
    await run_request_hooks(flow, [Ingress(make_gateway(""))])
    assert assert_openai_error(flow.response, 400, code="invalid_json")


@pytest.mark.parametrize("content", [b"[1, 2]", b'"just a string"', b"42", b"null"])
async def test_body_that_is_not_an_object_is_400(content: bytes) -> None:
    flow = make_flow("POST", "/v1/chat/completions", content=content)
    await run_request_hooks(flow, [Ingress(make_gateway(""))])
    error = assert_openai_error(flow.response, 400)
    assert "object" in error["message"]


@pytest.mark.parametrize("body", [{"messages": []}, {"model": ""}, {"model": "   "},
                                  {"model": 5}, {"model": None}])
async def test_missing_model_is_400_with_param_model(body: dict[str, object]) -> None:
    flow = make_flow("POST", "/v1/chat/completions", body)
    await run_request_hooks(flow, [Ingress(make_gateway(""))])
    error = assert_openai_error(flow.response, 400, param="model", code="missing_model")
    assert "/v1/models" in error["message"]


async def test_missing_model_on_messages_is_anthropic_shape() -> None:
    flow = make_flow("POST", "/v1/messages", {"max_tokens": 5, "messages": []})
    await run_request_hooks(flow, [Ingress(make_gateway(""))])
    error = assert_anthropic_error(flow.response, 400, "invalid_request_error")
    assert "model" in error["message"]


async def test_declared_content_length_over_limit_is_413_before_the_body() -> None:
    gateway = make_gateway("listen: {max_body_mb: 0.001}\n")  # 1048 bytes
    flow = make_flow("POST", "/v1/chat/completions", chat_body("m"),
                     headers={"content-length": "5000"})
    Ingress(gateway).requestheaders(flow)
    error = assert_openai_error(flow.response, 413, code="request_too_large")
    assert "max_body_mb" in error["message"]


async def test_chunked_body_over_limit_is_413() -> None:
    gateway = make_gateway("listen: {max_body_mb: 0.001}\n")
    body = chat_body("m", padding="x" * 2000)
    flow = make_flow("POST", "/v1/chat/completions", body,
                     headers={"transfer-encoding": "chunked"})
    await run_request_hooks(flow, [Ingress(gateway)])
    assert_openai_error(flow.response, 413, code="request_too_large")
    assert gateway.peek_exchange(flow) is None or gateway.exchange(flow).body is None


async def test_body_under_limit_passes() -> None:
    gateway = make_gateway("listen: {max_body_mb: 0.001}\n")
    flow = make_flow("POST", "/v1/chat/completions", chat_body("m"))
    await run_request_hooks(flow, [Ingress(gateway)])
    assert flow.response is None


async def test_missing_listen_token_is_401() -> None:
    flow = make_flow("POST", "/v1/chat/completions", chat_body("m"))
    await run_request_hooks(flow, [Ingress(make_gateway(TOKEN_YAML))])
    error = assert_openai_error(flow.response, 401, code="invalid_api_key")
    assert "Bearer" in error["message"] and "x-api-key" in error["message"]
    assert "s3cret-listen-token" not in error["message"]


@pytest.mark.parametrize("headers", [{"authorization": "Bearer wrong"},
                                     {"x-api-key": "wrong"},
                                     {"authorization": "s3cret-listen-token"},
                                     {"authorization": "Basic s3cret-listen-token"}])
async def test_wrong_listen_token_is_401(headers: dict[str, str]) -> None:
    flow = make_flow("POST", "/v1/chat/completions", chat_body("m"), headers=headers)
    await run_request_hooks(flow, [Ingress(make_gateway(TOKEN_YAML))])
    assert_openai_error(flow.response, 401)


@pytest.mark.parametrize("headers", [{"authorization": "Bearer s3cret-listen-token"},
                                     {"Authorization": "bearer s3cret-listen-token"},
                                     {"x-api-key": "s3cret-listen-token"}],
                         ids=["bearer", "bearer-lowercase", "x-api-key"])
async def test_listen_token_accepted_in_both_header_forms(headers: dict[str, str]) -> None:
    flow = make_flow("POST", "/v1/chat/completions", chat_body("m"), headers=headers)
    await run_request_hooks(flow, [Ingress(make_gateway(TOKEN_YAML))])
    assert flow.response is None
    assert info(flow)["model"] == "m"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/chat/completions", chat_body("m")),  # accepted, then routed
    ("GET", "/v1/nowhere", None),  # a 404 that goes no further
    ("GET", "/health", None),  # no token needed, still hidden
])
async def test_the_clients_own_secrets_are_never_shown(method: str, path: str,
                                                       body: dict[str, object] | None) -> None:
    secrets = {"Authorization": "Bearer s3cret-listen-token", "x-api-key": "s3cret-listen-token",
               "api-key": "azure-style", "cookie": "session=abc",
               "proxy-authorization": "Basic dXNlcjpwYXNz"}
    flow = make_flow(method, path, body, headers=secrets)
    await run_request_hooks(flow, [Ingress(make_gateway(TOKEN_YAML))])
    assert flow.response is None or flow.response.status_code != 401  # checked first
    for name in secrets:
        assert flow.request.headers[name] == REDACTED
    assert "s3cret" not in str(flow.get_state())


async def test_missing_token_on_messages_is_anthropic_authentication_error() -> None:
    flow = make_flow("POST", "/v1/messages", messages_body("m"))
    await run_request_hooks(flow, [Ingress(make_gateway(TOKEN_YAML))])
    assert_anthropic_error(flow.response, 401, "authentication_error")


async def test_health_needs_no_token_but_admin_and_models_do() -> None:
    gateway = make_gateway(TOKEN_YAML)
    health = make_flow("GET", "/health")
    admin = make_flow("GET", "/admin/providers")
    models = make_flow("GET", "/v1/models")
    for flow in (health, admin, models):
        await run_request_hooks(flow, [Ingress(gateway)])
    assert health.response is None and info(health)["kind"] == "health"
    assert_openai_error(admin.response, 401)
    assert_openai_error(models.response, 401)


async def test_parsed_body_lands_in_exchange_and_metadata_is_plain_data() -> None:
    gateway = make_gateway("")
    body = chat_body("openrouter/openai/gpt-4o", stream=True, temperature=0.5)
    flow = make_flow("POST", "/v1/chat/completions", body)
    await run_request_hooks(flow, [Ingress(gateway)])
    assert flow.response is None
    assert gateway.exchange(flow).body == body
    meta = info(flow)
    assert meta["model"] == "openrouter/openai/gpt-4o"
    assert meta["stream"] is True
    copied = copy.deepcopy(flow.metadata)
    assert copied == flow.metadata
    assert json.loads(json.dumps(flow.metadata[METADATA_KEY])) == meta
    # the body is parsed once, into the Exchange, never into the saved metadata
    assert "messages" not in json.dumps(flow.metadata)


async def test_stream_flag_only_for_literal_true() -> None:
    gateway = make_gateway("")
    flow = make_flow("POST", "/v1/chat/completions", chat_body("m", stream="yes"))
    await run_request_hooks(flow, [Ingress(gateway)])
    assert info(flow)["stream"] is False


async def test_gzip_encoded_body_is_parsed() -> None:
    gateway = make_gateway("")
    body = chat_body("m")
    flow = make_flow("POST", "/v1/chat/completions",
                     content=gzip.compress(json.dumps(body).encode()),
                     headers={"content-encoding": "gzip"})
    await run_request_hooks(flow, [Ingress(gateway)])
    assert flow.response is None
    assert gateway.exchange(flow).body == body


async def test_get_endpoints_do_not_parse_bodies() -> None:
    gateway = make_gateway("")
    flow = make_flow("GET", "/v1/models", content=b"not json at all")
    await run_request_hooks(flow, [Ingress(gateway)])
    assert flow.response is None
    assert gateway.peek_exchange(flow) is None


async def test_already_answered_flow_is_left_alone() -> None:
    gateway: Gateway = make_gateway("")
    flow = make_flow("GET", "/nope")
    flow.response = None
    flow.live = False  # e.g. a flow loaded from a file
    await run_request_hooks(flow, [Ingress(gateway)])
    assert flow.response is None
    assert METADATA_KEY not in flow.metadata


async def test_json_nested_beyond_python_is_a_400_not_a_crash() -> None:
    content = b'{"model": "m", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    flow = make_flow("POST", "/v1/chat/completions", content=content)
    await run_request_hooks(flow, [Ingress(make_gateway())])
    error = assert_openai_error(flow.response, 400, code="invalid_json")
    assert "nested too deeply" in error["message"]


async def test_a_token_header_that_is_not_utf8_is_a_401_not_a_crash() -> None:
    flow = make_flow("POST", "/v1/chat/completions", chat_body("m"))
    flow.request.headers[b"authorization"] = b"Bearer \xff\xfe"
    await run_request_hooks(flow, [Ingress(make_gateway(TOKEN_YAML))])
    assert_openai_error(flow.response, 401)
