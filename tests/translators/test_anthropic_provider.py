"""OpenAI Chat client → Anthropic Messages provider (`translators/anthropic/provider_*.py`).

Expectations come from the shared vectors in tests/vectors (docs/formats.md#test-vectors) or
are written from the rule of docs/formats.md each test names, never from this translator's
output.
Every stream is replayed whole, line by line and byte by byte through `SSEDecoder`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mitmllm.translators.anthropic.provider_answer import (
    AnthropicToChatStream,
    anthropic_response_to_chat,
)
from mitmllm.translators.anthropic.provider_request import chat_request_to_anthropic
from mitmllm.translators.chat.models import openai_model, parse_model_page
from mitmllm.translators.chat.types import RequestOptions
from mitmllm.translators.errors import (
    ErrorInfo,
    InvalidRequestError,
    UnsupportedFieldError,
    UpstreamFormatError,
    parse_error_body,
    render_error,
)
from mitmllm.translators.sse import SSEDecoder, SSEEvent, encode

VECTORS = Path(__file__).resolve().parent.parent / "vectors"

REQUEST_VECTORS = [f"req_{n:02d}" for n in range(1, 11)]
NONSTREAM_VECTORS = ["nonstream_11", "nonstream_12"]
STREAM_VECTORS = ["stream_20", "stream_21", "stream_23", "stream_24", "stream_27",
                  "stream_28", "stream_32"]

# docs/formats.md#stop-reasons, written out here so the test does not read the table it
# checks.
STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
ANTHROPIC_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


def load(prefix: str) -> dict[str, Any]:
    (path,) = VECTORS.glob(f"{prefix}_*.json")
    vector: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return vector


def strip(value: Any, ignore: list[str]) -> Any:
    """A copy without the fields a vector's `compare.ignore_fields` names, at any depth."""
    if isinstance(value, dict):
        return {k: strip(v, ignore) for k, v in value.items() if k not in ignore}
    if isinstance(value, list):
        return [strip(v, ignore) for v in value]
    return value


def chat(messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"model": "claude-test", "messages": messages, **fields}


USER = {"role": "user", "content": "Hi"}


# --- requests (docs/formats.md#roles and the request topics after it) ------------------


@pytest.mark.parametrize("prefix", REQUEST_VECTORS)
def test_request_vector(prefix: str) -> None:
    vector = load(prefix)
    # req_08's `anthropic_request` is the docs request; the translation of its OpenAI
    # request is `anthropic_request_from_openai` (same content, other key order).
    expected = vector.get("anthropic_request_from_openai", vector["anthropic_request"])
    assert chat_request_to_anthropic(vector["openai_request"]).body == expected


@pytest.mark.parametrize("prefix", REQUEST_VECTORS)
def test_request_is_not_mutated_nor_aliased(prefix: str) -> None:
    original = load(prefix)["openai_request"]
    body = copy.deepcopy(original)
    translated = chat_request_to_anthropic(body).body
    assert body == original
    for tool in translated.get("tools", []):
        tool["input_schema"]["mutated"] = True
    for message in translated["messages"]:
        if isinstance(message["content"], list):
            for block in message["content"]:
                block["mutated"] = True
                if isinstance(block.get("input"), dict):
                    block["input"]["mutated"] = True
    assert body == original


def test_req_10_drops_are_listed() -> None:
    # req_10 notes: penalties and seed are dropped; stream_options is consumed, not lost.
    translated = chat_request_to_anthropic(load("req_10")["openai_request"])
    assert {"presence_penalty", "frequency_penalty", "seed"} <= set(translated.dropped)
    assert "stream_options" not in translated.dropped
    assert "stream_options" not in translated.body


def test_req_09_thinking_constraints() -> None:
    translated = chat_request_to_anthropic(load("req_09")["openai_request"])
    body = translated.body
    assert body["max_tokens"] > body["thinking"]["budget_tokens"]
    assert "temperature" not in body
    assert {"temperature", "tool_choice"} <= set(translated.dropped)


@pytest.mark.parametrize("case", load("req_04")["tool_choice_cases"],
                         ids=lambda c: json.dumps(c["openai"]))
def test_tool_choice_table(case: dict[str, Any]) -> None:
    vector = load("req_04")
    request = {**vector["openai_request"], **case["openai"]}
    assert chat_request_to_anthropic(request).body["tool_choice"] == case[
        "anthropic_tool_choice"]


def test_parallel_tool_calls_false_without_choice_and_with_none() -> None:
    tools = load("req_04")["openai_request"]["tools"]
    body = chat_request_to_anthropic(chat([USER], tools=tools, parallel_tool_calls=False)).body
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    body = chat_request_to_anthropic(
        chat([USER], tools=tools, tool_choice="none", parallel_tool_calls=False)).body
    assert body["tool_choice"] == {"type": "none"}


def test_tool_without_parameters_gets_empty_object_schema() -> None:
    tools = [{"type": "function", "function": {"name": "now"}}]
    body = chat_request_to_anthropic(chat([USER], tools=tools)).body
    assert body["tools"] == [{"name": "now",
                              "input_schema": {"type": "object", "properties": {}}}]


@pytest.mark.parametrize("n", [2, 5])
def test_n_above_one_is_rejected_naming_n(n: int) -> None:
    with pytest.raises(UnsupportedFieldError) as caught:
        chat_request_to_anthropic(chat([USER], n=n))
    assert caught.value.param == "n"
    assert caught.value.info().status == 400


@pytest.mark.parametrize("part,name", [
    ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, "input_audio"),
    ({"type": "video_url", "video_url": {"url": "https://x/v.mp4"}}, "video_url"),
    ({"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}, "image_url"),
    ({"type": "file", "file": {"file_id": "file-abc"}}, "file"),
])
def test_unsupported_parts_are_rejected_not_dropped(part: dict[str, Any], name: str) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}, part]}]
    with pytest.raises(UnsupportedFieldError) as caught:
        chat_request_to_anthropic(chat(messages))
    assert caught.value.param is not None
    assert caught.value.param.startswith("messages[0].content[1]")
    assert name in caught.value.param


@pytest.mark.parametrize("body", [
    {"model": "m"},
    {"model": "m", "messages": "hello"},
    {"model": "m", "messages": []},
    {"model": "m", "messages": [{"role": "system", "content": "only a system prompt"}]},
    {"model": "m", "messages": [{"role": "narrator", "content": "x"}]},
])
def test_malformed_messages_are_invalid_requests(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        chat_request_to_anthropic(body)


@pytest.mark.parametrize("message", [
    {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
    {"role": "function", "name": "f", "content": "42"},
])
def test_legacy_function_messages_are_rejected(message: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedFieldError) as caught:
        chat_request_to_anthropic(chat([USER, message]))
    assert caught.value.param == "messages[1]"


@pytest.mark.parametrize("field", ["functions", "function_call", "audio"])
def test_legacy_and_audio_fields_are_rejected(field: str) -> None:
    with pytest.raises(UnsupportedFieldError) as caught:
        chat_request_to_anthropic(chat([USER], **{field: {"name": "x"}}))
    assert caught.value.param == field


def test_all_system_and_developer_messages_are_hoisted_in_order() -> None:
    cached = {"type": "ephemeral"}
    messages = [
        {"role": "system", "content": "one"},
        USER,
        {"role": "developer", "content": [{"type": "text", "text": "two",
                                           "cache_control": cached}]},
        {"role": "assistant", "content": "Hello"},
        {"role": "system", "content": "three"},
        {"role": "user", "content": "Bye"},
    ]
    body = chat_request_to_anthropic(chat(messages)).body
    assert body["system"] == [{"type": "text", "text": "one"},
                              {"type": "text", "text": "two", "cache_control": cached},
                              {"type": "text", "text": "three"}]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_empty_text_parts_are_dropped() -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": ""},
                                             {"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": [{"type": "text", "text": ""}]}]
    body = chat_request_to_anthropic(chat(messages)).body
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_pdf_file_data_becomes_a_document() -> None:
    part = {"type": "file", "file": {"filename": "a.pdf",
                                     "file_data": "data:application/pdf;base64,JVBERi0="}}
    body = chat_request_to_anthropic(chat([{"role": "user", "content": [part]}])).body
    assert body["messages"][0]["content"] == [{"type": "document", "source": {
        "type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}]


def test_stop_whitespace_only_entries_are_dropped() -> None:
    body = chat_request_to_anthropic(chat([USER], stop=["\n", "END", "  "])).body
    assert body["stop_sequences"] == ["END"]
    body = chat_request_to_anthropic(chat([USER], stop=" ")).body
    assert "stop_sequences" not in body


def test_max_tokens_precedence_and_default() -> None:
    both = chat([USER], max_tokens=100, max_completion_tokens=60)
    assert chat_request_to_anthropic(both).body["max_tokens"] == 60
    assert chat_request_to_anthropic(chat([USER], max_tokens=100)).body["max_tokens"] == 100
    assert chat_request_to_anthropic(chat([USER]), RequestOptions(max_tokens_default=777)).body[
        "max_tokens"] == 777


@pytest.mark.parametrize("effort,budget", [("low", 1024), ("medium", 2048), ("high", 4096)])
def test_reasoning_effort_budgets(effort: str, budget: int) -> None:
    body = chat_request_to_anthropic(chat([USER], reasoning_effort=effort,
                                          max_tokens=30000)).body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert body["max_tokens"] == 30000


@pytest.mark.parametrize("effort", ["extreme", ["high"], {"type": "text"}])
def test_an_unknown_reasoning_effort_is_an_invalid_request(effort: Any) -> None:
    # Found by test_properties_bodies.py: a list or object was looked up in the budget table
    # (TypeError: unhashable type) instead of being refused.
    with pytest.raises(InvalidRequestError) as caught:
        chat_request_to_anthropic(chat([USER], reasoning_effort=effort))
    assert caught.value.param == "reasoning_effort"


def test_reasoning_effort_none_omits_thinking() -> None:
    body = chat_request_to_anthropic(chat([USER], reasoning_effort="none",
                                          temperature=0.5)).body
    assert "thinking" not in body
    assert body["temperature"] == 0.5


def test_small_max_tokens_is_raised_above_the_budget() -> None:
    body = chat_request_to_anthropic(chat([USER], reasoning_effort="medium",
                                          max_tokens=500)).body
    assert body["max_tokens"] > body["thinking"]["budget_tokens"] == 2048


@pytest.mark.parametrize("given,sent", [(1.7, 1.0), (2, 1.0), (0.3, 0.3), (0, 0)])
def test_temperature_is_clamped_to_one(given: float, sent: float) -> None:
    assert chat_request_to_anthropic(chat([USER], temperature=given)).body[
        "temperature"] == sent


@pytest.mark.parametrize("top_p,kept", [(0.9, False), (0.97, True), (1, True)])
def test_thinking_drops_temperature_and_out_of_range_top_p(top_p: float, kept: bool) -> None:
    translated = chat_request_to_anthropic(chat(
        [USER], thinking={"type": "enabled", "budget_tokens": 2000}, max_tokens=8000,
        temperature=0.7, top_p=top_p))
    assert "temperature" not in translated.body
    assert "temperature" in translated.dropped
    assert ("top_p" in translated.body) is kept
    assert ("top_p" in translated.dropped) is not kept


def test_assistant_text_comes_before_tool_use() -> None:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "f", "arguments": '{"a": 1}'}}
    messages = [USER, {"role": "assistant", "content": "Let me look.", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "42"}]
    body = chat_request_to_anthropic(chat(messages)).body
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}}]


def test_tool_results_then_user_text_share_one_user_message() -> None:
    calls = [{"id": f"call_{k}", "type": "function",
              "function": {"name": "f", "arguments": "{}"}} for k in (1, 2)]
    messages = [USER, {"role": "assistant", "content": None, "tool_calls": calls},
                {"role": "tool", "tool_call_id": "call_1", "content": "a"},
                {"role": "tool", "tool_call_id": "call_2",
                 "content": [{"type": "text", "text": "b"}]},
                {"role": "user", "content": "and now?"}]
    body = chat_request_to_anthropic(chat(messages)).body
    assert len(body["messages"]) == 3
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "a"},
        {"type": "tool_result", "tool_use_id": "call_2",
         "content": [{"type": "text", "text": "b"}]},
        {"type": "text", "text": "and now?"}]}


def test_leading_assistant_gets_a_user_turn_first() -> None:
    messages = [{"role": "system", "content": "s"}, {"role": "assistant", "content": "Hi!"},
                {"role": "user", "content": "Hello"}]
    first, second, third = chat_request_to_anthropic(chat(messages)).body["messages"]
    assert first["role"] == "user" and first["content"]
    assert second == {"role": "assistant", "content": "Hi!"}
    assert third == {"role": "user", "content": "Hello"}


def test_bad_tool_ids_are_rewritten_the_same_way_on_both_sides() -> None:
    ids = ["functions.get:0", "functions.get.0", "call_ok-1"]
    calls = [{"id": i, "type": "function", "function": {"name": "get", "arguments": "{}"}}
             for i in ids]
    results = [{"role": "tool", "tool_call_id": i, "content": "r"} for i in ids]
    body = chat_request_to_anthropic(chat(
        [USER, {"role": "assistant", "tool_calls": calls}, *results])).body
    used = [b["id"] for b in body["messages"][1]["content"]]
    answered = [b["tool_use_id"] for b in body["messages"][2]["content"]]
    assert used == answered
    assert all(ANTHROPIC_TOOL_ID.match(i) for i in used)
    assert len(set(used)) == 3
    assert used[2] == "call_ok-1"  # ids that fit pass unchanged (docs/formats.md#tools)


def test_bad_tool_arguments_are_a_400() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{"}}
    with pytest.raises(InvalidRequestError) as caught:
        chat_request_to_anthropic(chat([USER, {"role": "assistant", "tool_calls": [call]}]))
    assert caught.value.param is not None and "arguments" in caught.value.param


def test_echoed_thinking_blocks_are_replayed_first() -> None:
    thinking = {"type": "thinking", "thinking": "hmm", "signature": "sig=="}
    call = {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    assistant = {"role": "assistant", "content": "Checking.", "reasoning_content": "hmm",
                 "thinking_blocks": [thinking], "tool_calls": [call]}
    body = chat_request_to_anthropic(chat([USER, assistant])).body
    assert body["messages"][1]["content"] == [
        thinking, {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]


def test_reasoning_without_signature_is_not_sent_but_listed() -> None:
    assistant = {"role": "assistant", "content": "42", "reasoning_content": "thought"}
    translated = chat_request_to_anthropic(chat([USER, assistant, USER]))
    assert translated.body["messages"][1] == {"role": "assistant", "content": "42"}
    assert any("reasoning" in d for d in translated.dropped)


@pytest.mark.parametrize("user,forwarded", [
    ("user-1234", True), ("a.person@example.com", False), ("+1 (555) 010-9999", False)])
def test_user_becomes_metadata_unless_personal(user: str, forwarded: bool) -> None:
    translated = chat_request_to_anthropic(chat([USER], user=user))
    assert ("metadata" in translated.body) is forwarded
    if forwarded:
        assert translated.body["metadata"] == {"user_id": user}
    else:
        assert "user" in translated.dropped


def test_json_schema_response_format_becomes_output_config() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    body = chat_request_to_anthropic(chat([USER], response_format=fmt)).body
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


@pytest.mark.parametrize("field,value", [
    ("logit_bias", {"50256": -100}), ("logprobs", True), ("top_logprobs", 2)])
def test_unmappable_sampling_fields_are_dropped_and_listed(field: str, value: Any) -> None:
    translated = chat_request_to_anthropic(chat([USER], **{field: value}))
    assert field not in translated.body
    assert field in translated.dropped


# --- whole responses (docs/formats.md#whole-answers; stop reasons, usage) -------------


@pytest.mark.parametrize("prefix", NONSTREAM_VECTORS)
def test_response_vector(prefix: str) -> None:
    vector = load(prefix)
    ignore = vector["compare"]["ignore_fields"]
    got = anthropic_response_to_chat(copy.deepcopy(vector["anthropic_response"]))
    assert got["object"] == "chat.completion"
    assert isinstance(got["created"], int)
    assert strip(parsed_arguments(got), ignore) == strip(
        parsed_arguments(vector["openai_response"]), ignore)


def parsed_arguments(completion: dict[str, Any]) -> dict[str, Any]:
    """Arguments compared as parsed JSON (the vectors' `compare.arguments`)."""
    result = copy.deepcopy(completion)
    for call in result["choices"][0]["message"].get("tool_calls", []):
        call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return result


def message(content: list[dict[str, Any]], stop_reason: str = "end_turn",
            usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
            "content": content, "stop_reason": stop_reason, "stop_sequence": None,
            "usage": usage or {"input_tokens": 1, "output_tokens": 1}}


@pytest.mark.parametrize("stop_reason,finish", STOP_REASONS.items())
def test_response_stop_reasons(stop_reason: str, finish: str) -> None:
    got = anthropic_response_to_chat(message([{"type": "text", "text": "x"}], stop_reason))
    assert got["choices"][0]["finish_reason"] == finish


@pytest.mark.parametrize("stop_reason", [[None], {"type": None}, 7])
def test_response_stop_reason_that_is_not_a_string_is_a_stop(stop_reason: Any) -> None:
    # Found by test_properties_bodies.py: TypeError (unhashable type) in
    # finish_reason_from_anthropic.
    got = anthropic_response_to_chat(message([{"type": "text", "text": "x"}], stop_reason))
    assert got["choices"][0]["finish_reason"] == "stop"


def test_response_thinking_text_and_usage() -> None:
    usage = {"input_tokens": 10, "cache_creation_input_tokens": 20,
             "cache_read_input_tokens": 30, "output_tokens": 50,
             "output_tokens_details": {"thinking_tokens": 40}}
    content = [{"type": "thinking", "thinking": "a", "signature": "s1"},
               {"type": "redacted_thinking", "data": "opaque"},
               {"type": "text", "text": "Hello "}, {"type": "text", "text": "world"}]
    got = anthropic_response_to_chat(message(content, usage=usage))
    msg = got["choices"][0]["message"]
    assert msg["content"] == "Hello world"
    assert msg["reasoning_content"] == "a"
    assert "tool_calls" not in msg
    assert got["usage"] == {"prompt_tokens": 60, "completion_tokens": 50, "total_tokens": 110,
                            "prompt_tokens_details": {"cached_tokens": 30},
                            "completion_tokens_details": {"reasoning_tokens": 40}}


def test_response_without_text_has_null_content() -> None:
    content = [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
               {"type": "tool_use", "id": "toolu_2", "name": "g", "input": {"b": [1]}}]
    got = anthropic_response_to_chat(message(content, "tool_use"))
    msg = got["choices"][0]["message"]
    assert msg["content"] is None
    assert [(c["id"], json.loads(c["function"]["arguments"])) for c in msg["tool_calls"]] == [
        ("toolu_1", {}), ("toolu_2", {"b": [1]})]


@pytest.mark.parametrize("body", [
    {"type": "message"}, {"content": "text"}, [],
    # Found by test_properties_bodies.py: "".join raised TypeError on a text that is a list.
    message([{"type": "text", "text": [{}, None]}]),
    message([{"type": "thinking", "thinking": {"a": 1}, "signature": "s"}]),
])
def test_malformed_response_is_an_upstream_error(body: Any) -> None:
    with pytest.raises(UpstreamFormatError):
        anthropic_response_to_chat(body)


# --- streams (docs/formats.md#anthropic-stream-to-chat) --------------------------------

Splitter = Callable[[bytes], list[bytes]]
SPLITS: dict[str, Splitter] = {
    "whole": lambda raw: [raw],
    "lines": lambda raw: raw.splitlines(keepends=True),
    "bytes": lambda raw: [raw[i:i + 1] for i in range(len(raw))],
}


def replay(raw: bytes, split: Splitter, *, include_usage: bool = True, finish: bool = True,
           **options: Any) -> list[SSEEvent]:
    decoder = SSEDecoder()
    translator = AnthropicToChatStream(include_usage=include_usage, **options)
    out: list[SSEEvent] = []
    for piece in split(raw):
        for event in decoder.decode(piece):
            out += translator.feed(event)
    for event in decoder.flush():
        out += translator.feed(event)
    if finish:
        out += translator.finish()
    return out


def standard(chunks: list[Any]) -> list[Any]:
    """Chunks without the extension-only ones (`reasoning_details`, `thinking_blocks`), which
    the vectors list apart as `optional_extension_chunks`."""
    extensions = ({"reasoning_details"}, {"thinking_blocks"})
    return [c for c in chunks if c == "[DONE]" or not c.get("choices")
            or set(c["choices"][0].get("delta", {})) not in extensions]


def payloads(events: list[SSEEvent]) -> list[Any]:
    """Chunks as parsed JSON, `[DONE]` as the string; checks the OpenAI framing
    (docs/formats.md#server-sent-events)."""
    out: list[Any] = []
    for event in events:
        assert event.event is None  # OpenAI streams carry no `event:` lines
        if event.data == "[DONE]":
            out.append("[DONE]")
            continue
        parsed = json.loads(event.data)
        assert event.data == json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)
        out.append(parsed)
    return out


def accumulate(items: list[Any]) -> dict[str, Any]:
    """What a client rebuilds from the chunks, in the shape of `expected_accumulated`."""
    msg: dict[str, Any] = {}
    calls: dict[int, dict[str, Any]] = {}
    result: dict[str, Any] = {"finish_reason": None, "usage": None,
                              "terminated_with_done": False}
    for item in items:
        assert not result["terminated_with_done"] and "error" not in result, "sent after end"
        if item == "[DONE]":
            result["terminated_with_done"] = True
        elif "error" in item:
            result["error"] = item["error"]
        else:
            if item.get("usage"):
                result["usage"] = item["usage"]
            for choice in item["choices"]:
                apply_delta(msg, calls, choice["delta"])
                result["finish_reason"] = choice["finish_reason"] or result["finish_reason"]
    # Tool indexes 0, 1, … (docs/formats.md#anthropic-stream-to-chat).
    assert sorted(calls) == list(range(len(calls)))
    if calls:
        msg["tool_calls"] = [calls[i] for i in sorted(calls)]
    return {"message": msg, **result}


def apply_delta(msg: dict[str, Any], calls: dict[int, dict[str, Any]],
                delta: dict[str, Any]) -> None:
    if "role" in delta:
        msg["role"] = delta["role"]
    for key in ("content", "reasoning_content"):
        if delta.get(key) is not None:
            msg[key] = msg.get(key, "") + delta[key]
    for call in delta.get("tool_calls", []):
        slot = calls.setdefault(call["index"], {"function": {"arguments": ""}})
        if "id" in call:
            assert "id" not in slot, "a tool call was opened twice"
            slot.update(id=call["id"], type=call["type"])
        function = call.get("function", {})
        if "name" in function:
            slot["function"]["name"] = function["name"]
        slot["function"]["arguments"] += function.get("arguments", "")


def with_parsed_arguments(accumulated: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(accumulated)
    for call in result["message"].get("tool_calls", []):
        call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return result


def vector_stream(prefix: str) -> tuple[dict[str, Any], bytes]:
    vector = load(prefix)
    return vector, vector["anthropic_sse"].encode()


@pytest.mark.parametrize("prefix", STREAM_VECTORS)
def test_stream_replays_agree(prefix: str) -> None:
    _, raw = vector_stream(prefix)
    outputs = [strip(payloads(replay(raw, split)), ["created"]) for split in SPLITS.values()]
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("prefix", STREAM_VECTORS)
def test_stream_vector_accumulated(prefix: str, split: str) -> None:
    vector, raw = vector_stream(prefix)
    got = accumulate(payloads(replay(raw, SPLITS[split])))
    assert with_parsed_arguments(got) == with_parsed_arguments(vector["expected_accumulated"])


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("prefix", STREAM_VECTORS)
def test_stream_vector_chunks(prefix: str, split: str) -> None:
    vector, raw = vector_stream(prefix)
    ignore = vector["compare"]["ignore_fields"]
    got = payloads(replay(raw, SPLITS[split]))
    assert strip(standard(got), ignore) == strip(vector["openai_chunks"], ignore)
    # The rendered wire text of the vector decodes to the same frames as ours.
    ours = [e.data for e in SSEDecoder().decode(b"".join(encode(e) for e in replay(
        raw, SPLITS[split])))]
    theirs = [e.data for e in SSEDecoder().decode(vector["openai_sse"].encode())]
    assert strip(standard([d if d == "[DONE]" else json.loads(d) for d in ours]), ignore) == strip(
        [d if d == "[DONE]" else json.loads(d) for d in theirs], ignore)


@pytest.mark.parametrize("prefix", STREAM_VECTORS)
def test_stream_vector_without_include_usage(prefix: str) -> None:
    # No usage chunk unless the client asked for it; everything else is unchanged
    # (docs/formats.md#usage).
    vector, raw = vector_stream(prefix)
    ignore = vector["compare"]["ignore_fields"]
    expected = [c for c in vector["openai_chunks"] if c == "[DONE]" or "usage" not in c]
    got = payloads(replay(raw, SPLITS["whole"], include_usage=False))
    assert strip(standard(got), ignore) == strip(expected, ignore)


def test_stream_28_thinking_blocks_extension() -> None:
    vector, raw = vector_stream("stream_28")
    ignore = vector["compare"]["ignore_fields"]
    got = strip(payloads(replay(raw, SPLITS["bytes"], thinking_blocks=True)), ignore)
    (extension,) = strip(vector["optional_extension_chunks"], ignore)
    assert extension in got
    got.remove(extension)
    assert standard(got) == strip(vector["openai_chunks"], ignore)


def test_stream_28_reasoning_details_carry_the_signed_block() -> None:
    # The thinking block, signature and all, as OpenRouter's `reasoning_details`: what a
    # Chat client sends back so the next tool turn keeps its thinking (docs/formats.md#reasoning).
    vector, raw = vector_stream("stream_28")
    got = payloads(replay(raw, SPLITS["bytes"]))
    (details,) = [c["choices"][0]["delta"]["reasoning_details"] for c in got
                  if c != "[DONE]" and c["choices"] and "reasoning_details" in c[
                      "choices"][0]["delta"]]
    signature = vector["optional_extension_chunks"][0]["choices"][0]["delta"][
        "thinking_blocks"][0]["signature"]
    assert details == [{"type": "reasoning.text", "format": "anthropic-claude-v1", "index": 0,
                        "text": vector["expected_accumulated"]["message"]["reasoning_content"],
                        "signature": signature}]


def sse(*events: dict[str, Any]) -> bytes:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


def start(**usage: int) -> dict[str, Any]:
    return {"type": "message_start", "message": {
        "id": "msg_t", "type": "message", "role": "assistant", "model": "claude-test",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": usage or {"input_tokens": 5, "output_tokens": 1}}}


def text_block(index: int, *texts: str) -> list[dict[str, Any]]:
    return [{"type": "content_block_start", "index": index,
             "content_block": {"type": "text", "text": ""}},
            *({"type": "content_block_delta", "index": index,
               "delta": {"type": "text_delta", "text": t}} for t in texts),
            {"type": "content_block_stop", "index": index}]


def tool_block(index: int, call_id: str, *fragments: str,
               stop: bool = True) -> list[dict[str, Any]]:
    return [{"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": call_id, "name": "lookup", "input": {}}},
            *({"type": "content_block_delta", "index": index,
               "delta": {"type": "input_json_delta", "partial_json": f}} for f in fragments),
            *([{"type": "content_block_stop", "index": index}] if stop else [])]


def end(stop_reason: str, **usage: int) -> list[dict[str, Any]]:
    return [{"type": "message_delta", "delta": {"stop_reason": stop_reason,
                                                 "stop_sequence": None},
             "usage": usage or {"output_tokens": 7}},
            {"type": "message_stop"}]


def run_all_splits(raw: bytes, **options: Any) -> list[Any]:
    results = [payloads(replay(raw, split, **options)) for split in SPLITS.values()]
    assert strip(results[0], ["created"]) == strip(results[1], ["created"]) == strip(
        results[2], ["created"])
    return results[0]


def deltas(items: list[Any]) -> list[dict[str, Any]]:
    return [i["choices"][0]["delta"] for i in items if isinstance(i, dict) and i.get("choices")]


def test_tool_arguments_split_across_many_deltas() -> None:
    arguments = {"query": "naïve café ☕", "limit": [1, 2, 3], "nested": {"x": None}}
    text = json.dumps(arguments, ensure_ascii=False)
    fragments = ["", *text]  # one character per delta, after the usual empty one
    items = run_all_splits(sse(start(), *tool_block(0, "toolu_a", *fragments),
                               *end("tool_use")))
    arg_chunks = [d["tool_calls"][0]["function"]["arguments"] for d in deltas(items)
                  if "tool_calls" in d and "id" not in d["tool_calls"][0]]
    assert arg_chunks == list(text)  # one chunk per non-empty fragment, none for ""
    got = accumulate(items)
    assert json.loads(got["message"]["tool_calls"][0]["function"]["arguments"]) == arguments
    assert got["finish_reason"] == "tool_calls"


def test_text_then_tool_call_keeps_order_and_counts_tools_only() -> None:
    items = run_all_splits(sse(start(), *text_block(0, "Looking", " it up."),
                               *tool_block(1, "toolu_a", '{"q": 1}'), *end("tool_use")))
    kinds = ["content" if "content" in d else "tool" for d in deltas(items)[1:]
             if d.get("content") or "tool_calls" in d]
    assert kinds == ["content", "content", "tool", "tool"]
    got = accumulate(items)
    assert got["message"]["content"] == "Looking it up."
    assert got["message"]["tool_calls"][0]["id"] == "toolu_a"


def test_max_tokens_mid_tool_call_is_length_with_partial_arguments() -> None:
    items = run_all_splits(sse(start(), *tool_block(0, "toolu_a", '{"city": "Par',
                                                    stop=False), *end("max_tokens")))
    got = accumulate(items)
    # Never tool_calls for a truncated turn (docs/formats.md#stop-reasons).
    assert got["finish_reason"] == "length"
    assert got["message"]["tool_calls"][0]["function"]["arguments"] == '{"city": "Par'
    assert got["terminated_with_done"]


def test_tool_without_arguments_gets_empty_object() -> None:
    items = run_all_splits(sse(start(), *tool_block(0, "toolu_a", ""),
                               *tool_block(1, "toolu_b"), *end("tool_use")))
    calls = accumulate(items)["message"]["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == ["{}", "{}"]
    assert [c["id"] for c in calls] == ["toolu_a", "toolu_b"]


@pytest.mark.parametrize("stop_reason,finish", STOP_REASONS.items())
def test_stream_stop_reasons(stop_reason: str, finish: str) -> None:
    items = run_all_splits(sse(start(), *text_block(0, "x"), *end(stop_reason)))
    finishes = [i["choices"][0]["finish_reason"] for i in items
                if isinstance(i, dict) and i.get("choices")]
    assert [f for f in finishes if f] == [finish]  # exactly one finish chunk
    assert items[-1] == "[DONE]"


def test_cache_tokens_and_cumulative_usage() -> None:
    # prompt = input + cache_read + cache_creation; message_delta values are cumulative and
    # override message_start's (docs/formats.md#usage).
    raw = sse(start(input_tokens=3, cache_creation_input_tokens=0,
                    cache_read_input_tokens=0, output_tokens=1),
              *text_block(0, "ok"),
              *end("end_turn", input_tokens=100, cache_creation_input_tokens=30,
                   cache_read_input_tokens=50, output_tokens=20))
    usage = accumulate(run_all_splits(raw))["usage"]
    assert usage == {"prompt_tokens": 180, "completion_tokens": 20, "total_tokens": 200,
                     "prompt_tokens_details": {"cached_tokens": 50}}


def test_thinking_tokens_become_reasoning_tokens() -> None:
    raw = sse(start(), *text_block(0, "ok"), {"type": "message_delta", "delta": {
        "stop_reason": "end_turn"}, "usage": {"output_tokens": 30,
                                             "output_tokens_details": {"thinking_tokens": 12}}},
              {"type": "message_stop"})
    usage = accumulate(run_all_splits(raw))["usage"]
    assert usage["completion_tokens"] == 30
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 12}


def test_include_usage_false_sends_no_usage_chunk() -> None:
    items = run_all_splits(sse(start(), *text_block(0, "x"), *end("end_turn")),
                           include_usage=False)
    assert all("usage" not in i for i in items if isinstance(i, dict))
    assert items[-1] == "[DONE]"


def test_stream_cut_without_message_stop_ends_with_one_error_frame() -> None:
    raw = sse(start(), *text_block(0, "partial"))
    items = run_all_splits(raw)
    assert "[DONE]" not in items
    assert items[-1]["error"]["type"] == "api_error"
    assert sum(1 for i in items if isinstance(i, dict) and "error" in i) == 1
    assert accumulate(items)["message"]["content"] == "partial"


def test_cut_after_message_delta_is_still_an_error() -> None:
    items = run_all_splits(sse(start(), *text_block(0, "x"), end("end_turn")[0]))
    assert "[DONE]" not in items
    assert "error" in items[-1]


def test_nothing_after_the_end() -> None:
    translator = AnthropicToChatStream(include_usage=True)
    events = [SSEEvent(json.dumps(e), e["type"])
              for e in [start(), *text_block(0, "x"), *end("end_turn")]]
    out = [o for e in events for o in translator.feed(e)]
    assert out[-1].data == "[DONE]"
    assert translator.feed(events[2]) == []
    assert translator.finish() == []
    assert translator.fail(ErrorInfo(502, "late")) == []


def test_error_event_mid_stream_ends_the_stream() -> None:
    vector, raw = vector_stream("stream_32")
    translator = AnthropicToChatStream(include_usage=True)
    events = SSEDecoder().decode(raw + sse(*text_block(1, "more"), *end("end_turn")))
    out = [o for e in events for o in translator.feed(e)]
    assert out[-1].json() == {"error": vector["expected_accumulated"]["error"]}
    assert translator.finish() == []


def test_ping_and_unknown_events_are_ignored() -> None:
    plain = [start(), *text_block(0, "a", "b"), *end("end_turn")]
    noisy = [plain[0], {"type": "ping"}, *plain[1:3],
             {"type": "content_block_mystery", "index": 0, "what": 1},
             *plain[3:], {"type": "ping"}]
    assert strip(run_all_splits(sse(*noisy)), ["created"]) == strip(
        run_all_splits(sse(*plain)), ["created"])


@pytest.mark.parametrize("bad", [
    b"event: content_block_delta\ndata: {not json\n\n",
    b"event: content_block_delta\ndata: [1, 2]\n\n",
    b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0}\n\n',
])
def test_malformed_upstream_event_becomes_an_error_frame(bad: bytes) -> None:
    raw = sse(start(), *text_block(0, "x")[:2]) + bad + sse(*end("end_turn"))
    items = run_all_splits(raw)
    assert items[-1]["error"]["code"] == "bad_upstream_response"
    assert "[DONE]" not in items


def test_fail_sends_one_error_frame_in_openai_format() -> None:
    translator = AnthropicToChatStream(include_usage=True)
    translator.feed(SSEEvent(json.dumps(start()), "message_start"))
    out = translator.fail(ErrorInfo(504, "upstream timed out", type="timeout_error",
                                    origin="anthropic"))
    assert len(out) == 1
    assert out[0].json()["error"]["message"] == "upstream timed out"
    assert translator.feed(SSEEvent(json.dumps(end("end_turn")[1]), "message_stop")) == []
    assert translator.finish() == []


# --- models (docs/formats.md#model-lists) and errors (docs/formats.md#errors) ----------


def test_models_vector() -> None:
    vector = load("models_43")
    page = parse_model_page(vector["anthropic_models"])
    got = [openai_model(entry.id, "anthropic", entry.created or 0) for entry in page.entries]
    assert got == vector["anthropic_models_as_openai"]["data"]
    # `display_name` is kept for Anthropic clients' lists (docs/formats.md#model-lists).
    assert [e.display_name for e in page.entries] == [
        m["display_name"] for m in vector["anthropic_models"]["data"]]


def test_models_pages_say_whether_more_follow() -> None:
    first = parse_model_page({"data": [{"type": "model", "id": "a",
                                         "created_at": "2025-01-01T00:00:00Z"}],
                              "has_more": True, "last_id": "a"})
    second = parse_model_page({"data": [{"type": "model", "id": "b",
                                          "created_at": "2025-01-02T01:00:00+01:00"}],
                               "has_more": False, "last_id": "b"})
    assert (first.has_more, first.last_id) == (True, "a")
    assert not second.has_more
    assert [(e.id, e.created) for e in (*first.entries, *second.entries)] == [
        ("a", 1735689600), ("b", 1735689600 + 86400)]


def test_errors_42_anthropic_error_as_openai() -> None:
    vector = load("errors_42")
    source, expected = vector["anthropic_error"], vector["anthropic_error_as_openai"]
    info = parse_error_body("anthropic", source["http_status"],
                            json.dumps(source["body"]).encode(),
                            request_id=source["body"]["request_id"])
    assert render_error("openai", info) == (expected["http_status"], expected["body"])
    assert info.request_id == expected["headers"]["x-request-id"]


def _status_rows() -> list[Any]:
    return [pytest.param(row, id=str(row["anthropic_status"]))
            for row in load("errors_42")["status_table"]]


@pytest.mark.parametrize("row", _status_rows())
def test_errors_42_status_table(row: dict[str, Any]) -> None:
    body = {"type": "error", "error": {"type": row["anthropic_type"], "message": "m"}}
    info = parse_error_body("anthropic", row["anthropic_status"], json.dumps(body).encode())
    status, rendered = render_error("openai", info)
    assert status == row["openai_status"]
    assert rendered["error"]["type"] == row["openai_type"]
    code = row.get("openai_code")
    if code and " " not in code:  # 404's code depends on the path ("when it was a model")
        assert rendered["error"]["code"] == code


def test_a_whitespace_part_is_dropped_and_its_cache_breakpoint_moves_back() -> None:
    # Cline ends a user message with a " " part that carries cache_control.
    user = {"role": "user", "content": [
        {"type": "text", "text": "Hello"},
        {"type": "text", "text": " ", "cache_control": {"type": "ephemeral"}}]}
    body = chat_request_to_anthropic(chat([user])).body
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Hello", "cache_control": {"type": "ephemeral"}}]


def test_signed_thinking_inside_the_content_goes_back_first() -> None:
    # openai-agents puts Anthropic's blocks into the assistant message's content.
    assistant = {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "plan", "signature": "sig"},
        {"type": "text", "text": "calling"}],
        "tool_calls": [{"id": "toolu_1", "type": "function",
                        "function": {"name": "f", "arguments": "{}"}}]}
    tool = {"role": "tool", "tool_call_id": "toolu_1", "content": "ok"}
    body = chat_request_to_anthropic(chat([USER, assistant, tool], reasoning_effort="low")).body
    blocks = body["messages"][1]["content"]
    assert blocks[0] == {"type": "thinking", "thinking": "plan", "signature": "sig"}
    assert [b["type"] for b in blocks] == ["thinking", "text", "tool_use"]
    assert body["thinking"]["type"] == "enabled"


@pytest.mark.parametrize(("model", "adaptive"), [
    ("claude-opus-4-7", True), ("claude-sonnet-5", True), ("claude-opus-5-5-20270101", True),
    ("claude-sonnet-4-5", False), ("claude-3-7-sonnet-latest", False), ("gpt-4o", False)])
def test_newer_claude_models_get_adaptive_thinking_with_an_effort(model: str,
                                                                  adaptive: bool) -> None:
    body = chat_request_to_anthropic(chat([USER], model=model, reasoning_effort="xhigh")).body
    if adaptive:
        assert body["thinking"] == {"type": "adaptive"}
        assert body["output_config"] == {"effort": "max"}
    else:
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 8192}
        assert "output_config" not in body
