"""Open Responses conformance of every Responses answer mitmllm builds itself (issue 9).

A Responses client on a provider of another format gets answers mitmllm writes:
`chat_response_to_responses` (whole answers, from Chat or, through the hub, from Anthropic),
`ChatToResponsesStream` (streams, with their error endings) and the error ending that
`ResponsesPassthrough` adds to a provider's own stream. Each Response object and each event
is checked by two independent readers:

- our JSON Schema of what the spec requires (tests/support/open_responses_schema.py);
- the installed `openai` SDK's own types (`Response`, `ResponseStreamEvent`), validated.

A stream is also checked as a whole: `event:` equals `type`, `sequence_number` counts up by
one from 0, one terminal event whose Response has the matching status, `[DONE]` last, every
item event names an item that is open, and (where the content is the same) the final
Response equals the whole answer built for that content.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

import pytest
from openai.types.responses import Response, ResponseError, ResponseStreamEvent
from pydantic import TypeAdapter
from support.open_responses_schema import (
    EVENT_TYPES,
    EXTENSION_EVENT_TYPES,
    check,
    check_event,
    violations,
)

from mitmllm.translators import hub
from mitmllm.translators.anthropic.provider_answer import AnthropicToChatStream
from mitmllm.translators.errors import ErrorInfo
from mitmllm.translators.responses.client_answer import (
    ChatToResponsesStream,
    chat_response_to_responses,
)
from mitmllm.translators.responses.passthrough import ResponsesPassthrough
from mitmllm.translators.sse import SSEDecoder, SSEEvent
from mitmllm.translators.stream import StreamTranslator

VECTORS = Path(__file__).parent.parent / "vectors"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "agents"
STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
TERMINAL = {"response.completed": "completed", "response.incomplete": "incomplete",
            "response.failed": "failed"}
LOST = ErrorInfo(502, "upstream connection lost", code="upstream_disconnected")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    return data


def vectors(prefix: str, *keys: str) -> list[str]:
    """The vectors named `prefix*` that hold all of `keys`."""
    return [path.stem for path in sorted(VECTORS.glob(f"{prefix}*.json"))
            if all(key in json.loads(path.read_text()) for key in keys)]


# Streams a provider sent, by the provider's format. stream_39-41 are Chat streams (their
# anthropic_sse and responses_sse are expected outputs); stream_2x and stream_32 are
# Anthropic streams; stream_33-38 are Responses streams (their openai_sse is an output).
CHAT_STREAM_VECTORS = vectors("stream_", "openai_sse", "responses_events")
ANTHROPIC_STREAM_VECTORS = vectors("stream_", "anthropic_sse", "expected_accumulated")
RESPONSES_STREAM_VECTORS = vectors("stream_", "responses_sse", "expected_accumulated")


# -- the two readers ----------------------------------------------------------------------

# The openai SDK's types describe OpenAI's own API, which is stricter than Open Responses in
# two places a gateway cannot meet honestly: `input_tokens_details.cache_write_tokens`
# (required there; the Chat hub does not count cache writes apart) and the Response's
# `error.code` (a closed list of OpenAI's codes; a provider's failure, say Anthropic's
# `overloaded_error`, is none of them). The SDK itself reads answers without validating
# them. For its reading only, those two are filled with OpenAI's words; our schema reads
# the answer as it is.
SDK_ERROR_CODES = frozenset(get_args(ResponseError.model_fields["code"].annotation))


def sdk_view(value: Any) -> Any:
    if isinstance(value, list):
        return [sdk_view(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: sdk_view(item) for key, item in value.items()}
    details = out.get("input_tokens_details")
    if isinstance(details, dict):
        details.setdefault("cache_write_tokens", 0)
    if out.get("object") == "response" and isinstance(out.get("error"), dict) and \
            out["error"].get("code") not in SDK_ERROR_CODES:
        out["error"] = {**out["error"], "code": "server_error"}
    return out


def item_states_follow(response: dict[str, Any]) -> None:
    """Spec, "Items are state machines": an `incomplete` item is the last one and its
    Response is incomplete; a completed Response holds completed items."""
    states = [item["status"] for item in response["output"]]
    if response["status"] in ("completed", "incomplete"):
        assert set(states[:-1]) <= {"completed"}, states
    if response["status"] == "completed":
        assert set(states) <= {"completed"}, states


def conformant(response: dict[str, Any], *, extensions: bool = False) -> dict[str, Any]:
    """A Response object, checked by our schema and by the openai SDK."""
    check("ResponseResource", response, extensions=extensions)
    Response.model_validate(sdk_view(response))
    item_states_follow(response)
    return response


def item_events_are_in_order(payloads: list[dict[str, Any]]) -> None:
    """Spec, "Items are streamable": an item is announced by output_item.added, its events
    come before its output_item.done, at the output_index it was added at."""
    open_items: dict[str, int] = {}
    for payload in payloads:
        kind = payload["type"]
        if kind == "response.output_item.added":
            assert payload["item"]["status"] == "in_progress"
            open_items[payload["item"]["id"]] = payload["output_index"]
        elif kind == "response.output_item.done":
            assert open_items.pop(payload["item"]["id"]) == payload["output_index"]
        elif "item_id" in payload:
            assert open_items.get(payload["item_id"]) == payload["output_index"], payload


def conformant_stream(events: list[SSEEvent], *, extensions: bool = False,
                      first: int = 0) -> dict[str, Any]:
    """A whole Responses stream (or an ending that continues one from sequence number
    `first`), checked event by event and as a sequence; returns the final Response."""
    assert events and events[-1].is_done, "a Responses stream ends with data: [DONE]"
    assert not any(event.is_done for event in events[:-1])
    payloads = [event.json() for event in events[:-1]]
    for event, payload in zip(events, payloads, strict=False):
        assert event.event == payload["type"], "the SSE event name must equal `type`"
        check_event(payload, extensions=extensions)
        STREAM_EVENT.validate_python(sdk_view(payload))
    assert [payload["sequence_number"] for payload in payloads] == list(
        range(first, first + len(payloads)))
    terminal = [payload for payload in payloads if payload["type"] in TERMINAL]
    assert len(terminal) == 1 and terminal[0] is payloads[-1], "one terminal event, last"
    final: dict[str, Any] = terminal[0]["response"]
    assert final["status"] == TERMINAL[terminal[0]["type"]]
    item_states_follow(final)
    assert (final["completed_at"] is not None) == (final["status"] == "completed")
    assert (final["error"] is not None) == (final["status"] == "failed")
    assert (final["incomplete_details"] is not None) == (final["status"] == "incomplete")
    for payload in payloads:
        if payload["type"] in ("response.created", "response.in_progress"):
            assert payload["response"]["status"] == "in_progress"
        if "response" in payload:
            assert payload["response"]["id"] == final["id"]
    if first == 0:
        item_events_are_in_order(payloads)
        done = [payload["item"] for payload in payloads
                if payload["type"] == "response.output_item.done"]
        # Items that ended are the Response's output, in order; a failed one adds the item
        # that was open when the stream broke.
        assert final["output"][:len(done)] == done
        assert len(final["output"]) - len(done) <= (final["status"] == "failed")
    return final


def failed_ending(events: list[SSEEvent]) -> dict[str, Any]:
    """The error ending: `error`, then `response.failed`, then [DONE]."""
    assert [event.event for event in events[-3:-1]] == ["error", "response.failed"]
    failed: dict[str, Any] = events[-2].json()["response"]
    assert failed["status"] == "failed" and failed["error"]["message"]
    return failed


def normalized(response: dict[str, Any]) -> dict[str, Any]:
    """What two translations of the same content must agree on: not the response id (item
    ids derive from it) nor the times of the translation."""
    core = response["id"].removeprefix("resp_")
    same: dict[str, Any] = json.loads(json.dumps(response).replace(core, "ID"))
    same["created_at"] = 0
    same["completed_at"] = None if same["completed_at"] is None else 0
    return same


# -- driving streams ----------------------------------------------------------------------


def run(translator: StreamTranslator, data: bytes, *, finish: bool = True) -> list[SSEEvent]:
    decoder = SSEDecoder()
    out: list[SSEEvent] = []
    for event in [*decoder.decode(data), *decoder.flush()]:
        out += translator.feed(event)
    if finish:
        out += translator.finish()
    return out


def sse(frames: list[tuple[str | None, Any]]) -> bytes:
    body = b""
    for name, data in frames:
        text = data if isinstance(data, str) else json.dumps(data)
        body += (f"event: {name}\n" if name else "").encode() + f"data: {text}\n\n".encode()
    return body


def halves(text: str) -> list[str]:
    middle = len(text) // 2
    return [piece for piece in (text[:middle], text[middle:]) if piece]


# -- requests -----------------------------------------------------------------------------

WEATHER_PARAMETERS = {"type": "object", "properties": {"location": {"type": "string"}},
                      "required": ["location"]}

# What the Open Responses compliance suite sends: a function tool with no `strict`.
COMPLIANCE_REQUEST: dict[str, Any] = {
    "model": "gpt-4o", "input": [{"type": "message", "role": "user",
                                  "content": "What's the weather like in San Francisco?"}],
    "tools": [{"type": "function", "name": "get_weather",
               "description": "Get the current weather for a location",
               "parameters": WEATHER_PARAMETERS}]}

# Settings whose echo the spec shapes: a bare function tool, a json_schema format without
# description or strict, reasoning without summary, allowed_tools without mode.
SETTINGS_REQUEST: dict[str, Any] = {
    "model": "gpt-4o", "input": "hi", "instructions": "Be brief.",
    "tools": [{"type": "function", "name": "get_weather", "parameters": WEATHER_PARAMETERS,
               "strict": True},
              {"type": "function", "name": "ping"},
              {"type": "function", "name": "GetWeatherArgs"},
              {"type": "function", "name": "get_stock_price"}],
    "tool_choice": {"type": "allowed_tools", "tools": [{"type": "function",
                                                        "name": "get_weather"}]},
    "text": {"format": {"type": "json_schema", "name": "answer",
                        "schema": {"type": "object"}}},
    "reasoning": {"effort": "low"}, "prompt_cache_key": "cache-7", "metadata": {"k": "v"},
    "temperature": 0.2, "max_output_tokens": 500, "parallel_tool_calls": False,
    "user": "u-1", "store": False}

# What Codex sent (tests/fixtures/agents): function tools with strict, a freeform `custom`
# tool (apply_patch), hosted tools (tool_search, web_search), text with verbosity but no
# format, reasoning without summary, prompt_cache_key, include.
CODEX_REQUEST: dict[str, Any] = json.loads(
    (FIXTURES / "codex_0.171.0_gpt-5.5_apply_patch_round_trip_1.json").read_text())["body"]

# Codex's namespaced tools (docs/formats.md#tools).
NAMESPACE_REQUEST: dict[str, Any] = {
    "model": "gpt-4o", "input": "hi",
    "tools": [{"type": "namespace", "name": "crm", "description": "The CRM.",
               "tools": [{"type": "function", "name": "lookup",
                          "parameters": {"type": "object", "properties": {}}}]},
              {"type": "custom", "name": "apply_patch", "description": "Patch files."}]}


def declaring(*names: str) -> dict[str, Any]:
    """A request declaring function tools of these names, as clients often do: without
    `strict` (and the second without a description)."""
    tools = [{"type": "function", "name": name, "parameters": {"type": "object"},
              **({"description": f"The {name} tool."} if index == 0 else {})}
             for index, name in enumerate(dict.fromkeys(names))]
    return {"model": "gpt-4o", "input": "hi", **({"tools": tools} if tools else {})}


def called(message: dict[str, Any]) -> list[str]:
    return [call["function"]["name"] for call in message.get("tool_calls") or []]


# -- Chat answers: whole, and streamed as OpenAI streams them -----------------------------

USAGE = {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52,
         "prompt_tokens_details": {"cached_tokens": 8},
         "completion_tokens_details": {"reasoning_tokens": 5}}


def completion(message: dict[str, Any], finish: str | None,
               usage: dict[str, Any] | None = USAGE) -> dict[str, Any]:
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", **message},
                         "logprobs": None, "finish_reason": finish}]}
    return {**body, "usage": usage} if usage else body


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}}


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish}]}


def chat_stream(body: dict[str, Any], *, done: bool = True) -> bytes:
    """The same answer as an OpenAI stream: each text in two deltas, each call opened and
    then its arguments in two deltas, the finish chunk, the usage chunk, [DONE]."""
    message = body["choices"][0]["message"]
    frames: list[dict[str, Any]] = [chunk({"role": "assistant", "content": ""})]
    for key in ("reasoning_content", "reasoning"):
        frames += [chunk({key: piece}) for piece in halves(message.get(key) or "")]
    if message.get("reasoning_details"):
        frames.append(chunk({"reasoning_details": message["reasoning_details"]}))
    for key in ("content", "refusal"):
        frames += [chunk({key: piece}) for piece in halves(message.get(key) or "")]
    for index, tool_call in enumerate(message.get("tool_calls") or []):
        function = tool_call["function"]
        frames.append(chunk({"tool_calls": [{"index": index, "id": tool_call["id"],
                                             "type": "function",
                                             "function": {"name": function["name"],
                                                          "arguments": ""}}]}))
        frames += [chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                   for piece in halves(function["arguments"])]
    frames.append(chunk({}, body["choices"][0]["finish_reason"]))
    if body.get("usage"):
        frames.append({**chunk({}), "choices": [], "usage": body["usage"]})
    return sse([(None, frame) for frame in frames] + ([(None, "[DONE]")] if done else []))


PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi\n*** End Patch\n"
DETAILS = [{"type": "reasoning.encrypted", "data": "gAAAA-opaque", "id": "rs_1",
            "format": "openai-responses-v1", "index": 0}]

# name -> (answer, the client's request, whether OpenAI's custom tool extensions appear)
CHAT_ANSWERS: dict[str, tuple[dict[str, Any], dict[str, Any], bool]] = {
    "text": (completion({"content": "Hello there!"}, "stop"), COMPLIANCE_REQUEST, False),
    "text_without_usage": (completion({"content": "Hi."}, "stop", usage=None),
                           declaring(), False),
    "tool_call": (completion({"content": None, "tool_calls": [
        call("call_1", "get_weather", '{"location":"San Francisco, CA"}')]}, "tool_calls"),
        COMPLIANCE_REQUEST, False),
    "text_then_tool_call": (completion({"content": "Let me check.", "tool_calls": [
        call("call_1", "get_weather", '{"location":"Paris"}')]}, "tool_calls"),
        SETTINGS_REQUEST, False),
    "parallel_tool_calls": (completion({"content": None, "tool_calls": [
        call("call_1", "GetWeatherArgs", '{"city":"Edinburgh"}'),
        call("call_2", "get_stock_price", '{"ticker":"AAPL"}')]}, "tool_calls"),
        declaring("GetWeatherArgs", "get_stock_price"), False),
    "tool_call_without_arguments": (completion({"content": None, "tool_calls": [
        call("call_1", "ping", "")]}, "tool_calls"), SETTINGS_REQUEST, False),
    "reasoning_then_text": (completion({"reasoning_content": "The user greets me.",
                                        "content": "Hello!"}, "stop"), SETTINGS_REQUEST, False),
    "reasoning_field": (completion({"reasoning": "Think.", "content": "Done."}, "stop"),
                        declaring(), False),
    "encrypted_reasoning_then_call": (completion({
        "reasoning_details": [{"type": "reasoning.text", "text": "Check the weather.",
                               "index": 0}, *DETAILS],
        "content": None, "tool_calls": [call("call_1", "get_weather", '{"location":"Oslo"}')]},
        "tool_calls"), COMPLIANCE_REQUEST, False),
    "refusal": (completion({"content": None, "refusal": "I can't help with that."}, "stop"),
                declaring(), False),
    "text_and_refusal": (completion({"content": "Partly:", "refusal": "no more."}, "stop"),
                         declaring(), False),
    "length": (completion({"content": "Once upon a"}, "length"), SETTINGS_REQUEST, False),
    "length_inside_a_call": (completion({"content": None, "tool_calls": [
        call("call_1", "get_weather", '{"locat')]}, "length"), COMPLIANCE_REQUEST, False),
    "content_filter": (completion({"content": "I"}, "content_filter"), declaring(), False),
    "namespaced_call": (completion({"content": None, "tool_calls": [
        call("call_1", "crm__lookup", '{"id":7}')]}, "tool_calls"), NAMESPACE_REQUEST, True),
    "custom_call": (completion({"content": None, "tool_calls": [
        call("call_1", "apply_patch", json.dumps({"input": PATCH}))]}, "tool_calls"),
        CODEX_REQUEST, True),
    "codex_reasoning_then_custom_call": (completion({
        "reasoning_content": "Write the file.", "content": "Creating it.",
        "tool_calls": [call("call_1", "apply_patch", json.dumps({"input": PATCH})),
                       call("call_2", "exec_command", '{"cmd":"cat hello.txt"}')]},
        "tool_calls"), CODEX_REQUEST, True),
}


@pytest.mark.parametrize("name", list(CHAT_ANSWERS))
def test_whole_answer_from_chat(name: str) -> None:
    body, request, extensions = CHAT_ANSWERS[name]
    frozen = copy.deepcopy(request)
    response = conformant(hub.translate_response("responses", "openai", body, request),
                          extensions=extensions)
    assert request == frozen
    assert normalized(response) == normalized(chat_response_to_responses(body, request))
    # The echo of the client's settings is the client's (with the spec's required keys).
    assert response["prompt_cache_key"] == request.get("prompt_cache_key")
    assert [tool.get("name") for tool in response["tools"]] == [
        tool.get("name") for tool in request.get("tools") or []]


@pytest.mark.parametrize("name", list(CHAT_ANSWERS))
def test_streamed_answer_from_chat(name: str) -> None:
    body, request, extensions = CHAT_ANSWERS[name]
    translator = hub.stream_translator("responses", "openai", {**request, "stream": True},
                                       model="gpt-4o")
    final = conformant_stream(run(translator, chat_stream(body)), extensions=extensions)
    whole = chat_response_to_responses(body, {**request, "stream": True})
    assert normalized(final) == normalized(whole)


def test_a_call_cut_without_arguments_differs_whole_and_streamed() -> None:
    """Where the two paths knowingly differ: a call cut off by the limit before any argument
    came. The whole answer repairs it to "{}", the stream keeps what it had (""); both are
    conformant."""
    body = completion({"content": None, "tool_calls": [call("call_1", "get_weather", "")]},
                      "length")
    whole = conformant(chat_response_to_responses(body, COMPLIANCE_REQUEST))
    streamed = conformant_stream(run(ChatToResponsesStream(request=COMPLIANCE_REQUEST),
                                     chat_stream(body)))
    assert whole["output"][0]["arguments"] == "{}"
    assert streamed["output"][0]["arguments"] == ""


@pytest.mark.parametrize("name", vectors("nonstream_", "openai_response"))
def test_whole_answer_from_chat_vectors(name: str) -> None:
    body = load(name)["openai_response"]
    request = declaring(*called(body["choices"][0]["message"]))
    conformant(chat_response_to_responses(body, request))


@pytest.mark.parametrize("name", CHAT_STREAM_VECTORS)
def test_streamed_answer_from_chat_vectors(name: str) -> None:
    vector = load(name)
    accumulated = vector.get("openai_accumulated", {}).get("message", {})
    request = {**declaring(*called(accumulated)), "stream": True}
    translator = hub.stream_translator("responses", "openai", request, model="gpt-4o")
    events = run(translator, vector["openai_sse"].encode())
    final = conformant_stream(events)
    whole = chat_response_to_responses(hub_answer(vector["openai_sse"].encode()), request)
    assert normalized(final) == normalized(whole)


# -- a Chat stream read back as one answer (what the whole-answer path gets) ---------------


def hub_answer(hub_sse: bytes) -> dict[str, Any]:
    """The `chat.completion` a Chat stream adds up to."""
    message: dict[str, Any] = {"role": "assistant"}
    calls: dict[int, dict[str, Any]] = {}
    body: dict[str, Any] = {"object": "chat.completion", "created": 1_700_000_000}
    finish = None
    for event in [*SSEDecoder().decode(hub_sse)]:
        if event.is_done:
            continue
        payload = event.json()
        body["model"] = body.get("model") or payload.get("model")
        if payload.get("usage"):
            body["usage"] = payload["usage"]
        for choice in payload.get("choices") or []:
            finish = choice.get("finish_reason") or finish
            for key, value in (choice.get("delta") or {}).items():
                if key == "tool_calls":
                    for position, fragment in enumerate(value):
                        known = calls.setdefault(fragment.get("index", position), {
                            "id": "", "type": "function",
                            "function": {"name": "", "arguments": ""}})
                        known["id"] = fragment.get("id") or known["id"]
                        function = fragment.get("function") or {}
                        known["function"]["name"] += function.get("name") or ""
                        known["function"]["arguments"] += function.get("arguments") or ""
                elif key == "reasoning_details":
                    message.setdefault(key, []).extend(value)
                elif isinstance(value, str) and key != "role":
                    message[key] = (message.get(key) or "") + value
                elif value is not None:
                    message[key] = value
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    body["choices"] = [{"index": 0, "message": message, "finish_reason": finish}]
    return body


def hub_sse_of_anthropic(data: bytes) -> bytes:
    """What the hub makes of an Anthropic stream, as Chat SSE."""
    events = run(AnthropicToChatStream(include_usage=True), data)
    return b"".join(f"data: {event.data}\n\n".encode() for event in events)


# -- Anthropic answers: whole, and streamed as Anthropic streams them ---------------------

ANTHROPIC_USAGE = {"input_tokens": 30, "cache_read_input_tokens": 10,
                   "cache_creation_input_tokens": 0, "output_tokens": 14}


def message(content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
    return {"id": "msg_01", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": content, "stop_reason": stop,
            "stop_sequence": None, "usage": ANTHROPIC_USAGE}


def anthropic_stream(answer: dict[str, Any], *, stop_after_block: int | None = None) -> bytes:
    """The same answer as an Anthropic stream; `stop_after_block`: cut after that block."""
    start_usage = {**answer["usage"], "output_tokens": 1}
    frames: list[tuple[str | None, Any]] = [("message_start", {
        "type": "message_start", "message": {**answer, "content": [], "stop_reason": None,
                                             "usage": start_usage}})]
    for index, block in enumerate(answer["content"]):
        kind = block["type"]
        deltas: list[dict[str, Any]] = []
        start = block
        if kind == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in halves(block["text"])]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": piece}
                      for piece in halves(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        elif kind == "tool_use":
            start = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": piece}
                      for piece in halves(json.dumps(block["input"], separators=(",", ":")))]
        frames.append(("content_block_start", {"type": "content_block_start", "index": index,
                                               "content_block": start}))
        frames += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                            "delta": delta}) for delta in deltas]
        if stop_after_block == index:
            return sse(frames)
        frames.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    frames.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": answer["stop_reason"],
                                               "stop_sequence": None},
                                     "usage": {"output_tokens": answer["usage"]["output_tokens"]}}))
    frames.append(("message_stop", {"type": "message_stop"}))
    return sse(frames)


THINKING = {"type": "thinking", "thinking": "27 * 453 = 12,231.", "signature": "EqQBCgIYAh"}
TOOL_USE = {"type": "tool_use", "id": "toolu_01", "name": "get_weather",
            "input": {"location": "Paris"}}

# name -> (answer, the client's request, extensions)
ANTHROPIC_ANSWERS: dict[str, tuple[dict[str, Any], dict[str, Any], bool]] = {
    "text": (message([{"type": "text", "text": "Hello!"}], "end_turn"), COMPLIANCE_REQUEST,
             False),
    "thinking_then_text": (message([THINKING, {"type": "text", "text": "12,231"}], "end_turn"),
                           SETTINGS_REQUEST, False),
    "text_then_tool_use": (message([{"type": "text", "text": "Checking."}, TOOL_USE],
                                   "tool_use"), COMPLIANCE_REQUEST, False),
    "thinking_then_parallel_tool_use": (message([
        THINKING, {**TOOL_USE, "name": "GetWeatherArgs", "input": {"city": "Edinburgh"}},
        {**TOOL_USE, "id": "toolu_02", "name": "get_stock_price", "input": {"ticker": "AAPL"}}],
        "tool_use"), SETTINGS_REQUEST, False),
    "redacted_thinking": (message([{"type": "redacted_thinking", "data": "EmwKAhgBEgy3"},
                                   {"type": "text", "text": "Sure."}], "end_turn"),
                          declaring(), False),
    "max_tokens": (message([{"type": "text", "text": "Once upon a"}], "max_tokens"),
                   SETTINGS_REQUEST, False),
    "refusal": (message([{"type": "text", "text": "I can't."}], "refusal"), declaring(),
                False),
    "custom_call": (message([{**TOOL_USE, "name": "apply_patch", "input": {"input": PATCH}}],
                            "tool_use"), CODEX_REQUEST, True),
    "namespaced_call": (message([{**TOOL_USE, "name": "crm__lookup", "input": {"id": 7}}],
                                "tool_use"), NAMESPACE_REQUEST, True),
}


@pytest.mark.parametrize("name", list(ANTHROPIC_ANSWERS))
def test_whole_answer_from_anthropic(name: str) -> None:
    answer, request, extensions = ANTHROPIC_ANSWERS[name]
    conformant(hub.translate_response("responses", "anthropic", answer, request),
               extensions=extensions)


@pytest.mark.parametrize("name", list(ANTHROPIC_ANSWERS))
def test_streamed_answer_from_anthropic(name: str) -> None:
    answer, request, extensions = ANTHROPIC_ANSWERS[name]
    request = {**request, "stream": True}
    translator = hub.stream_translator("responses", "anthropic", request, model="claude")
    final = conformant_stream(run(translator, anthropic_stream(answer)), extensions=extensions)
    whole = hub.translate_response("responses", "anthropic", answer, request)
    assert normalized(final) == normalized(whole)


@pytest.mark.parametrize("name", vectors("nonstream_", "anthropic_response"))
def test_whole_answer_from_anthropic_vectors(name: str) -> None:
    answer = load(name)["anthropic_response"]
    names = [block["name"] for block in answer["content"] if block["type"] == "tool_use"]
    conformant(hub.translate_response("responses", "anthropic", answer, declaring(*names)))


@pytest.mark.parametrize("name", ANTHROPIC_STREAM_VECTORS)
def test_streamed_answer_from_anthropic_vectors(name: str) -> None:
    vector = load(name)
    request = {**declaring(*called(vector["expected_accumulated"]["message"])), "stream": True}
    data = vector["anthropic_sse"].encode()
    translator = hub.stream_translator("responses", "anthropic", request, model="claude")
    final = conformant_stream(run(translator, data))
    if "error" in vector["expected_accumulated"]:
        return  # stream_32 ends with an error: there is no whole answer to compare with
    whole = chat_response_to_responses(hub_answer(hub_sse_of_anthropic(data)), request)
    assert normalized(final) == normalized(whole)


# -- error endings --------------------------------------------------------------------------

def partial_chat(name: str) -> bytes:
    """CHAT_ANSWERS[name] streamed up to (not including) its finish chunk."""
    body = CHAT_ANSWERS[name][0]
    frames = [frame for frame in chat_stream(body, done=False).split(b"\n\n") if frame]
    finish = next(i for i, frame in enumerate(frames) if b'"finish_reason": "' in frame)
    return b"\n\n".join(frames[:finish]) + b"\n\n"


@pytest.mark.parametrize("name", ["text", "tool_call", "parallel_tool_calls",
                                  "reasoning_then_text", "encrypted_reasoning_then_call",
                                  "refusal", "custom_call", "namespaced_call",
                                  "codex_reasoning_then_custom_call"])
@pytest.mark.parametrize("how", ["fail", "cut"])
def test_chat_stream_broken_off(name: str, how: str) -> None:
    """The provider connection breaks (`fail`) or the body ends (`cut`) before the finish
    chunk: the open item goes into response.failed as it was."""
    _, request, extensions = CHAT_ANSWERS[name]
    translator = hub.stream_translator("responses", "openai", request, model="gpt-4o")
    events = run(translator, partial_chat(name), finish=how == "cut")
    if how == "fail":
        events += translator.fail(LOST)
    failed = failed_ending(events)
    assert failed["output"], "the answer so far is kept"
    assert conformant_stream(events, extensions=extensions) == failed


def test_chat_error_frame_mid_stream() -> None:
    error = load("errors_42_http_error_mapping")["responses_error"]["body"]
    data = partial_chat("text_then_tool_call") + sse([(None, error)])
    translator = hub.stream_translator("responses", "openai", SETTINGS_REQUEST, model="m")
    events = run(translator, data)
    failed = failed_ending(events)
    assert conformant_stream(events) == failed
    assert events[-3].json()["error"]["message"] == error["error"]["message"]


@pytest.mark.parametrize("data", [b"data: {not json\n\n",
                                  sse([(None, chunk({"tool_calls": [
                                      {"index": 0, "id": "a", "function": {"name": "f"}}]})),
                                       (None, chunk({"tool_calls": [
                                           {"index": 1, "id": "b", "function": {"name": "g"}}]})),
                                       (None, chunk({"tool_calls": [
                                           {"index": 0, "function": {"arguments": "{}"}}]}))])],
                         ids=["not_json", "interleaved_calls"])
def test_chat_stream_the_translator_cannot_read(data: bytes) -> None:
    translator = hub.stream_translator("responses", "openai", declaring("f", "g"), model="m")
    events = run(translator, data)
    failed_ending(events)
    conformant_stream(events)


def test_fail_before_anything_came() -> None:
    translator = hub.stream_translator("responses", "openai", CODEX_REQUEST, model="m")
    events = translator.fail(LOST)
    assert [event.event for event in events[:-1]] == [
        "response.created", "response.in_progress", "error", "response.failed"]
    conformant_stream(events, extensions=True)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_bare_ending(provider: str) -> None:
    """What the addon sends if the translator's own ending fails: still conformant."""
    translator = hub.stream_translator("responses", provider, SETTINGS_REQUEST, model="m")
    run(translator, partial_chat("text") if provider == "openai" else anthropic_stream(
        ANTHROPIC_ANSWERS["text"][0], stop_after_block=0), finish=False)
    events = translator.bare_ending(LOST)
    assert [event.event for event in events[:-1]] == ["error", "response.failed"]
    conformant_stream(events)


def test_anthropic_error_mid_stream_vector() -> None:
    vector = load("stream_32_anthropic_error_midstream")
    translator = hub.stream_translator("responses", "anthropic", declaring(), model="claude")
    events = run(translator, vector["anthropic_sse"].encode())
    failed = failed_ending(events)
    assert conformant_stream(events) == failed


@pytest.mark.parametrize("name", ["text", "thinking_then_text", "text_then_tool_use",
                                  "thinking_then_parallel_tool_use", "custom_call"])
@pytest.mark.parametrize("how", ["fail", "cut"])
def test_anthropic_stream_broken_off(name: str, how: str) -> None:
    answer, request, extensions = ANTHROPIC_ANSWERS[name]
    data = anthropic_stream(answer, stop_after_block=len(answer["content"]) - 1)
    translator = hub.stream_translator("responses", "anthropic", request, model="claude")
    events = run(translator, data, finish=how == "cut")
    if how == "fail":
        events += translator.fail(LOST)
    failed = failed_ending(events)
    assert conformant_stream(events, extensions=extensions) == failed


# -- the passthrough's error ending ----------------------------------------------------------


def provider_events(name: str) -> list[SSEEvent]:
    return [event for event in SSEDecoder().decode(load(name)["responses_sse"].encode())
            if not event.is_done]


@pytest.mark.parametrize("name", RESPONSES_STREAM_VECTORS)
@pytest.mark.parametrize("cut", [1, 2, 0.5, -1])
def test_passthrough_error_ending(name: str, cut: float) -> None:
    """A Responses provider's own stream breaks off after some of its events: the ending
    continues its sequence numbers and repeats its Response as failed. (The provider's
    Response may echo OpenAI's hosted tools, hence the extensions.)"""
    events = provider_events(name)
    seen = events[:int(cut * len(events)) if isinstance(cut, float) else cut]
    watcher = ResponsesPassthrough()
    for event in seen:
        assert watcher.feed(event) == []
    ending = watcher.fail(LOST)
    # The number after the provider's last one; a provider that numbers nothing (the docs
    # example) had as many events as the client got.
    last = seen[-1].json().get("sequence_number", len(seen) - 1)
    failed = failed_ending(ending)
    assert conformant_stream(ending, extensions=True, first=last + 1) == failed
    announced = [event.json()["response"] for event in seen if event.event in (
        "response.created", "response.in_progress")]
    assert {key: failed[key] for key in announced[-1] if key not in ("status", "error")} == {
        key: value for key, value in announced[-1].items() if key not in ("status", "error")}


def test_passthrough_error_ending_before_any_event() -> None:
    """Nothing came from the provider: the stream still opens with `response.created` and
    `response.in_progress` (docs/formats.md#how-a-stream-ends)."""
    ending = ResponsesPassthrough().fail(LOST)
    failed = failed_ending(ending)
    assert conformant_stream(ending) == failed
    assert [event.event for event in ending[:2]] == ["response.created",
                                                     "response.in_progress"]


def test_passthrough_bare_ending() -> None:
    watcher = ResponsesPassthrough()
    for event in provider_events("stream_34_responses_text_recorded")[:3]:
        watcher.feed(event)
    conformant_stream(watcher.bare_ending(LOST))


# -- the schema itself ----------------------------------------------------------------------


def test_these_streams_emit_every_event_the_schema_defines() -> None:
    """The cases above reach every event definition: none of the schema goes unused."""
    seen: set[str] = set()
    for body, request, _ in CHAT_ANSWERS.values():
        translator = hub.stream_translator("responses", "openai", request, model="m")
        seen |= {event.event or "" for event in run(translator, chat_stream(body))}
    translator = hub.stream_translator("responses", "openai", declaring(), model="m")
    seen |= {event.event or "" for event in translator.fail(LOST)}
    assert seen - {""} == EVENT_TYPES | EXTENSION_EVENT_TYPES


BAD: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("function tool without strict",
     lambda r: r["tools"][0].pop("strict"), "tools/0: 'strict' is a required property"),
    ("output_text without logprobs",
     lambda r: r["output"][0]["content"][0].pop("logprobs"),
     "output/0/content/0: 'logprobs' is a required property"),
    ("no completed_at", lambda r: r.pop("completed_at"),
     "<root>: 'completed_at' is a required property"),
    ("usage without details", lambda r: r["usage"].pop("output_tokens_details"),
     "usage: 'output_tokens_details' is a required property"),
    ("reasoning without summary", lambda r: r.update(reasoning={"effort": "low"}),
     "reasoning: 'summary' is a required property"),
    ("text without format", lambda r: r.update(text={"verbosity": "low"}),
     "text: 'format' is a required property"),
    ("a custom tool call", lambda r: r["output"].append({
        "type": "custom_tool_call", "id": "ctc_1", "call_id": "c", "name": "n", "input": "",
        "status": "completed"}), "output/1/type: 'custom_tool_call' is not one of"),
]


@pytest.mark.parametrize(("spoil", "expected"), [(b[1], b[2]) for b in BAD],
                         ids=[b[0] for b in BAD])
def test_the_schema_catches(spoil: Callable[[dict[str, Any]], None], expected: str) -> None:
    response = conformant(chat_response_to_responses(*CHAT_ANSWERS["text"][:2]))
    spoil(response)
    assert any(line.startswith(expected) for line in violations("ResponseResource", response))
