"""Translate: the provider's endpoint and body on the way out (byte-preserving when the
formats match), and the client's format on the way back, whole or streamed."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.flow import Error
from mitmproxy.test import tutils
from support.addon_helpers import (
    PROVIDERS_YAML,
    assert_anthropic_error,
    assert_openai_error,
    chat_body,
    json_body,
    make_flow,
    make_gateway,
    messages_body,
    run_request_hooks,
)

from mitmllm.addons.connections import Connections
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.router import Router
from mitmllm.addons.state import Gateway, info
from mitmllm.addons.streaming import StreamAdapter
from mitmllm.addons.translate import Translate
from mitmllm.addons.translate_answer import TranslateAnswer

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def vector(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


async def translated(model: str | None = None, *, path: str = "/v1/chat/completions",
                     body: Any = None, content: bytes | None = None,
                     headers: dict[str, str] | None = None,
                     yaml_text: str = PROVIDERS_YAML) -> tuple[http.HTTPFlow, Gateway]:
    gateway = make_gateway(yaml_text)
    if body is None and content is None:
        assert model is not None
        body = messages_body(model) if "/messages" in path else chat_body(model)
    flow = make_flow("POST", path, body, content=content, headers=headers or {})
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway)),
                                   Translate(gateway)])
    return flow, gateway


def answer(flow: http.HTTPFlow, status: int, content: bytes,
           content_type: str = "application/json", **extra: str) -> http.Response:
    headers = http.Headers([(b"content-type", content_type.encode()),
                            (b"content-length", str(len(content)).encode()),
                            *((k.encode(), v.encode()) for k, v in extra.items())])
    flow.response = tutils.tresp(status_code=status, headers=headers, content=content)
    return flow.response


# --- request ---------------------------------------------------------------------------


async def test_same_format_passthrough_changes_only_the_model_bytes() -> None:
    original = (b'{"model" : "openrouter/openai/gpt-4o",  "messages":[{"role":"user",'
                b'"content":"caf\xc3\xa9 \\u00e9"}], "x":1.0, "temperature": 1e-1,'
                b' "cache_control": {"type": "ephemeral"}}')
    flow, _ = await translated(content=original, headers={"accept-encoding": "gzip, br"})
    assert flow.response is None
    expected = original.replace(b'"openrouter/openai/gpt-4o"', b'"openai/gpt-4o"')
    assert flow.request.content == expected
    assert flow.request.headers["content-length"] == str(len(expected))
    assert flow.request.path == "/api/v1/chat/completions"  # OpenRouter's base path
    assert flow.request.headers["accept-encoding"] == "identity"
    assert flow.request.headers["content-type"] == "application/json"


async def test_same_format_with_unchanged_model_keeps_every_byte() -> None:
    original = b'{ "model":"corp-big" ,"messages":[] ,"n":1.50}'
    flow, _ = await translated(content=original)
    assert flow.response is None
    assert flow.request.content == original
    assert flow.request.path == "/custom/api/v1/chat/completions"


async def test_same_format_anthropic_passthrough() -> None:
    body = messages_body("anthropic/claude-x", thinking={"type": "enabled",
                                                         "budget_tokens": 1024})
    original = json.dumps(body, indent=2).encode()
    flow, _ = await translated(path="/v1/messages", content=original)
    assert flow.response is None
    assert flow.request.content == original.replace(b'"anthropic/claude-x"', b'"claude-x"')
    assert flow.request.path == "/v1/messages"


async def test_query_string_is_kept_only_when_the_format_is_the_same() -> None:
    same, _ = await translated("anthropic/claude-x", path="/v1/messages?beta=true")
    assert same.request.path == "/v1/messages?beta=true"
    other, _ = await translated("openai/gpt-4o", path="/v1/messages?beta=true")
    assert other.request.path == "/v1/chat/completions"


async def test_curl_form_content_type_is_corrected() -> None:
    flow, _ = await translated("openai/gpt-4o",
                               headers={"content-type": "application/x-www-form-urlencoded"})
    assert flow.request.headers["content-type"] == "application/json"


async def test_openai_client_to_anthropic_provider_rewrites_body_and_path() -> None:
    body = {"model": "anthropic/claude-sonnet-4-5", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"}], "temperature": 0.2}
    flow, _ = await translated(body=body, headers={"accept-encoding": "gzip"})
    assert flow.response is None
    assert flow.request.path == "/v1/messages"
    sent = json_body(flow.request)
    assert sent["model"] == "claude-sonnet-4-5"
    assert sent["max_tokens"] == 4096
    assert sent["system"] == "Be brief."
    assert sent["messages"] == [{"role": "user", "content": "Hi"}]
    assert sent["temperature"] == 0.2
    assert flow.request.headers["accept-encoding"] == "identity"
    assert flow.request.headers["content-length"] == str(len(flow.request.content or b""))
    assert info(flow)["dropped"] == []
    assert json.loads(json.dumps(flow.metadata)) == flow.metadata


async def test_provider_max_tokens_default_is_used() -> None:
    yaml_text = PROVIDERS_YAML.replace("    preset: anthropic\n",
                                       "    preset: anthropic\n    max_tokens_default: 777\n")
    flow, _ = await translated("anthropic/claude-x", yaml_text=yaml_text)
    assert json_body(flow.request)["max_tokens"] == 777


async def test_anthropic_client_to_openai_provider() -> None:
    body = messages_body("openai/gpt-4o", system="Be brief.")
    flow, _ = await translated(path="/v1/messages", body=body)
    assert flow.response is None
    assert flow.request.path == "/v1/chat/completions"
    sent = json_body(flow.request)
    assert sent["model"] == "gpt-4o"
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["messages"][-1]["role"] == "user"


async def test_responses_client_to_anthropic_provider() -> None:
    body = {"model": "anthropic/claude-x", "input": "Hello", "instructions": "Be brief."}
    flow, _ = await translated(path="/v1/responses", body=body)
    assert flow.response is None
    assert flow.request.path == "/v1/messages"
    sent = json_body(flow.request)
    assert sent["system"] == "Be brief."
    assert sent["model"] == "claude-x"


async def test_untranslatable_field_is_400_naming_it() -> None:
    flow, _ = await translated(body=chat_body("anthropic/claude-x", n=2))
    error = assert_openai_error(flow.response, 400, param="n")
    assert "'n'" in error["message"]
    assert flow.request.path == "/v1/chat/completions"  # nothing sent on


async def test_a_refusal_toward_anthropic_keeps_its_code() -> None:
    """mitmllm's own answer is not read back as the provider's error (in an Anthropic
    provider's vocabulary, `unsupported_parameter` would become its error type)."""
    flow, gateway = await translated(body=chat_body("anthropic/claude-x", n=2))
    before = flow.response.content  # type: ignore[union-attr]
    TranslateAnswer(gateway).response(flow)
    assert flow.response.content == before  # type: ignore[union-attr]
    assert_openai_error(flow.response, 400, param="n", code="unsupported_parameter")


async def test_untranslatable_field_from_anthropic_client_is_anthropic_400() -> None:
    body = messages_body("openai/gpt-4o", messages="not a list")
    flow, _ = await translated(path="/v1/messages", body=body)
    assert_anthropic_error(flow.response, 400, "invalid_request_error")


async def test_count_tokens_only_for_anthropic_providers() -> None:
    flow, _ = await translated("anthropic/claude-x", path="/v1/messages/count_tokens")
    assert flow.response is None
    assert flow.request.path == "/v1/messages/count_tokens"

    flow, _ = await translated("openai/gpt-4o", path="/v1/messages/count_tokens")
    error = assert_anthropic_error(flow.response, 501)
    assert "count_tokens" in error["message"]


# --- answer headers: streams -----------------------------------------------------------


async def test_event_stream_gets_a_translating_adapter_and_no_content_length() -> None:
    flow, gateway = await translated("anthropic/claude-x")
    answer(flow, 200, b"", "text/event-stream")
    flow.response.headers["content-length"] = "12345"  # type: ignore[union-attr]
    TranslateAnswer(gateway).responseheaders(flow)
    response = flow.response
    assert response is not None
    assert isinstance(response.stream, StreamAdapter)
    assert response.stream.translator is not None
    assert gateway.exchange(flow).stream is response.stream
    assert "content-length" not in response.headers
    assert response.headers["content-type"].startswith("text/event-stream")


async def test_same_format_event_stream_gets_a_passthrough_adapter() -> None:
    flow, gateway = await translated("openai/gpt-4o")
    answer(flow, 200, b"", "text/event-stream; charset=utf-8")
    TranslateAnswer(gateway).responseheaders(flow)
    assert isinstance(flow.response.stream, StreamAdapter)  # type: ignore[union-attr]
    assert not flow.response.stream.translator.REWRITES  # type: ignore[union-attr]
    chunk = b'data: {"x": 1}\n\n'
    assert flow.response.stream(chunk) == chunk  # type: ignore[union-attr]


@pytest.mark.parametrize(("status", "content_type"), [(200, "application/json"),
                                                      (429, "text/event-stream"),
                                                      (500, "text/event-stream")])
async def test_errors_and_json_stay_buffered(status: int, content_type: str) -> None:
    flow, gateway = await translated("anthropic/claude-x")
    answer(flow, status, b"{}", content_type)
    TranslateAnswer(gateway).responseheaders(flow)
    assert not flow.response.stream  # type: ignore[union-attr]
    assert gateway.exchange(flow).stream is None


async def test_streamed_answer_is_translated_and_a_copy_kept_for_inspection() -> None:
    flow, gateway = await translated("anthropic/claude-x")
    addon = TranslateAnswer(gateway)
    answer(flow, 200, b"", "text/event-stream")
    addon.responseheaders(flow)
    adapter = flow.response.stream  # type: ignore[union-attr]
    sse = vector("stream_20_anthropic_text_docs.json")["anthropic_sse"].encode()
    out = b""
    for piece in (sse[:100], sse[100:]):
        result = adapter(piece)
        out += result if isinstance(result, bytes) else b"".join(result)
    out += adapter(b"")
    assert b"event:" not in out
    assert out.rstrip().endswith(b"data: [DONE]")
    addon.response(flow)
    assert flow.response.raw_content == out  # type: ignore[union-attr]
    meta = info(flow)
    assert meta["answer_end"] == "complete"
    assert meta["provider_answer"]["body"] == sse.decode()  # the provider's own events
    assert [offset for _, offset in meta["provider_answer"]["marks"]] == [100, len(sse)]
    assert meta["client_answer"]["marks"][-1][1] == len(out)


def stream_to_the_end(flow: http.HTTPFlow, gateway: Gateway, upto: int | None = None) -> bytes:
    addon = TranslateAnswer(gateway)
    answer(flow, 200, b"", "text/event-stream")
    addon.responseheaders(flow)
    adapter = flow.response.stream  # type: ignore[union-attr]
    sse = vector("stream_20_anthropic_text_docs.json")["anthropic_sse"].encode()
    result = adapter(sse[:upto])
    return result if isinstance(result, bytes) else b"".join(result)


async def test_a_client_leaving_after_the_terminator_is_a_normal_end() -> None:
    # The openai SDK closes the connection as soon as it has read `data: [DONE]`, before
    # the provider's body has ended.
    flow, gateway = await translated("anthropic/claude-x")
    out = stream_to_the_end(flow, gateway)
    assert out.rstrip().endswith(b"data: [DONE]")
    flow.error = Error("Client disconnected.")
    TranslateAnswer(gateway).error(flow)
    assert flow.error is None
    assert flow.response is not None and flow.response.raw_content == out
    assert info(flow)["answer_end"] == "client left after the end"


async def test_a_client_leaving_mid_stream_keeps_what_it_got_marked_as_cut() -> None:
    flow, gateway = await translated("anthropic/claude-x")
    out = stream_to_the_end(flow, gateway, upto=600)
    assert b"[DONE]" not in out
    flow.error = Error("Client disconnected.")
    TranslateAnswer(gateway).error(flow)
    assert flow.error is not None  # still an error: the answer is incomplete
    assert flow.response is not None and flow.response.raw_content == out
    assert info(flow)["answer_end"] == "client left mid-stream"
    sse = vector("stream_20_anthropic_text_docs.json")["anthropic_sse"].encode()
    assert info(flow)["provider_answer"]["body"] == sse[:600].decode()


async def test_the_clients_request_and_what_was_defaulted_are_kept() -> None:
    body = chat_body("anthropic/claude-x", reasoning_effort="high", logit_bias={"1": 2})
    flow, _ = await translated(body=body)
    meta = info(flow)
    assert json.loads(meta["client_request"]["body"]) == body
    assert meta["client_request"]["cut"] == 0
    assert any("logit_bias" in item for item in meta["dropped"])
    assert any("max_tokens" in item for item in meta["defaulted"])
    assert any("thinking" in item for item in meta["defaulted"])
    assert json.loads(json.dumps(flow.metadata)) == flow.metadata  # plain data only


async def test_whole_answers_keep_the_providers_body_beside_the_clients() -> None:
    case = vector("nonstream_11_anthropic_text_to_openai.json")
    flow, gateway = await translated("anthropic/claude-haiku")
    raw = json.dumps(case["anthropic_response"]).encode()
    answer(flow, 200, raw)
    TranslateAnswer(gateway).response(flow)
    meta = info(flow)
    assert json.loads(meta["provider_answer"]["body"]) == case["anthropic_response"]
    assert json_body(flow.response)["object"] == "chat.completion"  # type: ignore[arg-type]

    flow, gateway = await translated("openai/gpt-4o")
    answer(flow, 200, b'{"id":"x"}')
    TranslateAnswer(gateway).response(flow)
    assert info(flow)["provider_answer"] == {"same_as_client": True}


async def test_nothing_is_kept_when_the_option_says_zero() -> None:
    body = chat_body("anthropic/claude-x")
    gateway = make_gateway(PROVIDERS_YAML)
    gateway.keep_bytes = 0
    flow = make_flow("POST", "/v1/chat/completions", body)
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway)),
                                   Translate(gateway)])
    case = vector("nonstream_11_anthropic_text_to_openai.json")
    answer(flow, 200, json.dumps(case["anthropic_response"]).encode())
    TranslateAnswer(gateway).response(flow)
    meta = info(flow)
    assert "client_request" not in meta and "provider_answer" not in meta


# --- whole answers -----------------------------------------------------------------------


async def test_whole_anthropic_answer_becomes_chat_completion() -> None:
    case = vector("nonstream_11_anthropic_text_to_openai.json")
    flow, gateway = await translated("anthropic/claude-haiku")
    answer(flow, 200, json.dumps(case["anthropic_response"]).encode())
    TranslateAnswer(gateway).response(flow)
    response = flow.response
    assert response is not None and response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content or b""))
    body = json_body(response)
    expected = case["openai_response"]
    assert body["object"] == "chat.completion"
    assert body["choices"] == expected["choices"]
    assert body["usage"] == expected["usage"]


async def test_whole_openai_answer_becomes_anthropic_message() -> None:
    flow, gateway = await translated(path="/v1/messages", body=messages_body("openai/gpt-4o"))
    completion = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                  "model": "gpt-4o", "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant",
                                                              "content": "Hello!"}}],
                  "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    answer(flow, 200, json.dumps(completion).encode())
    TranslateAnswer(gateway).response(flow)
    body = json_body(flow.response)  # type: ignore[arg-type]
    assert body["type"] == "message"
    assert body["content"] == [{"type": "text", "text": "Hello!"}]
    assert body["stop_reason"] == "end_turn"
    assert body["usage"]["input_tokens"] == 5 and body["usage"]["output_tokens"] == 2


async def test_same_format_answer_is_left_byte_identical() -> None:
    flow, gateway = await translated("openai/gpt-4o")
    raw = b'{"id":"x", "object":"chat.completion" , "choices":[]}'
    answer(flow, 200, raw)
    TranslateAnswer(gateway).response(flow)
    assert flow.response.content == raw  # type: ignore[union-attr]


async def test_non_json_2xx_from_other_format_is_502() -> None:
    flow, gateway = await translated("anthropic/claude-x")
    answer(flow, 200, b"<html>oops</html>", "text/html")
    TranslateAnswer(gateway).response(flow)
    error = assert_openai_error(flow.response, 502, code="bad_upstream_response")
    assert "JSON" in error["message"]


async def test_upstream_429_anthropic_error_becomes_openai_shape() -> None:
    flow, gateway = await translated("anthropic/claude-x")
    upstream = {"type": "error", "error": {"type": "rate_limit_error",
                                           "message": "Number of request tokens has "
                                                      "exceeded your per-minute rate limit"},
                "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    extra = {"request-id": "req_011CSHoEeqs5C35K2UUqR7Fy", "retry-after": "7"}
    answer(flow, 429, json.dumps(upstream).encode(), **extra)
    TranslateAnswer(gateway).response(flow)
    error = assert_openai_error(flow.response, 429)
    assert error["message"] == upstream["error"]["message"]
    assert error["type"] == "rate_limit_error"
    assert flow.response.headers["retry-after"] == "7"  # type: ignore[union-attr]
    assert flow.response.headers["x-request-id"] == "req_011CSHoEeqs5C35K2UUqR7Fy"  # type: ignore[union-attr]


async def test_upstream_html_503_becomes_openai_shape() -> None:
    flow, gateway = await translated("openai/gpt-4o")
    html = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
    answer(flow, 503, html, "text/html")
    TranslateAnswer(gateway).response(flow)
    error = assert_openai_error(flow.response, 503)
    assert "Service Temporarily Unavailable" in error["message"]
    assert flow.response.headers["content-type"] == "application/json"  # type: ignore[union-attr]


async def test_upstream_empty_error_names_the_provider() -> None:
    flow, gateway = await translated("my-corp/big")
    answer(flow, 500, b"", "text/plain")
    TranslateAnswer(gateway).response(flow)
    error = assert_openai_error(flow.response, 500)
    assert "My Corp" in error["message"]


async def test_same_format_openai_error_is_left_byte_identical() -> None:
    flow, gateway = await translated("openai/gpt-4o")
    raw = (b'{\n  "error": {\n    "message": "Invalid value for temperature",\n'
           b'    "type": "invalid_request_error", "param": "temperature", "code": null}}')
    answer(flow, 400, raw)
    TranslateAnswer(gateway).response(flow)
    assert flow.response.status_code == 400  # type: ignore[union-attr]
    assert flow.response.content == raw  # type: ignore[union-attr]


async def test_openai_error_to_anthropic_client_is_anthropic_shape() -> None:
    flow, gateway = await translated(path="/v1/messages", body=messages_body("openai/gpt-4o"))
    raw = json.dumps({"error": {"message": "Rate limit reached", "type": "rate_limit_error",
                                "param": None, "code": "rate_limit_exceeded"}}).encode()
    answer(flow, 429, raw)
    TranslateAnswer(gateway).response(flow)
    error = assert_anthropic_error(flow.response, 429, "rate_limit_error")
    assert error["message"] == "Rate limit reached"


async def test_answers_of_unrouted_flows_are_not_touched() -> None:
    gateway = make_gateway()
    flow = make_flow("GET", "/v1/models")
    Ingress(gateway).requestheaders(flow)
    answer(flow, 500, b"<html/>", "text/html")
    TranslateAnswer(gateway).response(flow)
    assert flow.response.content == b"<html/>"  # type: ignore[union-attr]


async def test_same_format_gzip_body_stays_gzip_with_the_model_replaced() -> None:
    original = json.dumps(chat_body("openai/gpt-4o")).encode()
    flow, _ = await translated(content=gzip.compress(original),
                               headers={"content-encoding": "gzip"})
    assert flow.response is None
    assert flow.request.headers["content-encoding"] == "gzip"
    raw = flow.request.raw_content or b""
    assert flow.request.headers["content-length"] == str(len(raw))
    assert gzip.decompress(raw) == original.replace(b'"openai/gpt-4o"', b'"gpt-4o"')


async def test_translated_gzip_body_is_sent_plain() -> None:
    original = json.dumps(chat_body("anthropic/claude-x")).encode()
    flow, _ = await translated(content=gzip.compress(original),
                               headers={"content-encoding": "gzip"})
    assert flow.response is None
    assert "content-encoding" not in flow.request.headers
    assert json.loads(flow.request.raw_content or b"")["model"] == "claude-x"




async def test_gzip_whole_answer_is_translated_and_sent_plain() -> None:
    case = vector("nonstream_11_anthropic_text_to_openai.json")
    flow, gateway = await translated("anthropic/claude-haiku")
    answer(flow, 200, gzip.compress(json.dumps(case["anthropic_response"]).encode()),
           **{"content-encoding": "gzip"})
    TranslateAnswer(gateway).response(flow)
    response = flow.response
    assert response is not None and response.status_code == 200
    assert "content-encoding" not in response.headers
    body = json.loads(response.raw_content or b"")
    assert body["choices"] == case["openai_response"]["choices"]


async def test_gzip_error_answer_is_translated_and_sent_plain() -> None:
    flow, gateway = await translated("anthropic/claude-x")
    upstream = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    answer(flow, 529, gzip.compress(json.dumps(upstream).encode()),
           **{"content-encoding": "gzip"})
    TranslateAnswer(gateway).response(flow)
    response = flow.response
    assert response is not None and response.status_code == 503
    assert "content-encoding" not in response.headers
    assert json.loads(response.raw_content or b"")["error"]["message"] == "Overloaded"


async def test_same_format_answer_that_is_not_json_is_502() -> None:
    flow, gateway = await translated("openai/gpt-4o")
    answer(flow, 200, b"<html>maintenance</html>", "text/html")
    TranslateAnswer(gateway).response(flow)
    error = assert_openai_error(flow.response, 502)
    assert "not JSON" in error["message"]


async def test_a_streamed_request_answered_without_a_stream_is_502() -> None:
    flow, gateway = await translated(path="/v1/messages",
                                     body=messages_body("anthropic/claude-x", stream=True))
    answer(flow, 200, b"event: message_start\ndata: {}\n\n", "text/html")
    TranslateAnswer(gateway).responseheaders(flow)
    TranslateAnswer(gateway).response(flow)
    error = assert_anthropic_error(flow.response, 502, "api_error")
    assert "text/html, not an event stream" in error["message"]


@pytest.mark.parametrize(("model", "status"), [("anthropic/claude-x", 400),
                                               ("openai/gpt-4o", None)])
async def test_deep_nesting_is_a_400_when_it_must_be_translated(model: str,
                                                                 status: int | None) -> None:
    schema = '{"x": ' * 700 + "1" + "}" * 700  # parses, but is walked recursively
    tool = ('{"type": "function", "function": {"name": "f", "parameters": {"type": '
            '"object", "properties": {"a": ' + schema + '}}}}')
    content = ('{"model": "' + model + '", "messages": [{"role": "user", "content": "hi"}], '
               '"tools": [' + tool + ']}').encode()
    flow, _ = await translated(content=content)
    if status is None:
        assert flow.response is None  # same format: the provider decides
        assert flow.request.content == content.replace(model.encode(), b"gpt-4o")
    else:
        error = assert_openai_error(flow.response, status)
        assert "nested too deeply" in error["message"]


async def test_a_lone_surrogate_stays_an_escape_through_translation() -> None:
    content = b'{"model": "anthropic/claude-x", "messages": [{"role": "user", ' \
              b'"content": "\\ud800 hi"}]}'
    flow, gateway = await translated(content=content)
    assert flow.response is None
    assert b'"\\ud800 hi"' in (flow.request.content or b"")
    assert json_body(flow.request)["messages"][0]["content"] == "\ud800 hi"

    answer(flow, 200, json.dumps({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "text", "text": "\ud800 back"}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 1}}).encode())
    TranslateAnswer(gateway).response(flow)
    assert flow.response is not None and flow.response.status_code == 200
    assert json_body(flow.response)["choices"][0]["message"]["content"] == "\ud800 back"
