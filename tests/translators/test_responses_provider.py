"""OpenAI Chat client -> Open Responses provider: the request (docs/formats.md#roles and the
request topics after it), docs/formats.md#stop-reasons, docs/formats.md#whole-answers,
docs/formats.md#usage and docs/formats.md#responses-stream-to-chat.

Expectations come from the vectors in tests/vectors or are written from the rules; every
stream is replayed whole, line by line and byte by byte through the real SSE decoder.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mitmllm.translators.errors import (
    ErrorInfo,
    InvalidRequestError,
    UnsupportedFieldError,
    UpstreamFormatError,
    chat_error_frame,
)
from mitmllm.translators.responses.provider_answer import (
    ResponseFailedError,
    ResponsesToChatStream,
    responses_response_to_chat,
)
from mitmllm.translators.responses.provider_request import chat_request_to_responses
from mitmllm.translators.sse import SSEDecoder, SSEEvent, encode_event

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8"))


# Only request vectors that have a Responses side: the others are for other translators.
REQUEST_VECTORS = sorted(path.stem for path in VECTORS.glob("req_*.json")
                         if "responses_request" in load(path.stem))
NONSTREAM_VECTORS = ["nonstream_13_responses_text_to_openai",
                     "nonstream_14_responses_function_call_to_openai"]
STREAM_VECTORS = ["stream_33_responses_text_docs", "stream_34_responses_text_recorded",
                  "stream_35_responses_function_call_recorded",
                  "stream_38_responses_incomplete_max_output_tokens"]

SPLITS: dict[str, Callable[[bytes], list[bytes]]] = {
    "whole": lambda raw: [raw],
    "lines": lambda raw: raw.splitlines(keepends=True),
    "bytes": lambda raw: [raw[i:i + 1] for i in range(len(raw))],
}

ROLE = ({"role": "assistant", "content": ""}, None)
DONE = "[DONE]"
USAGE = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 5,
         "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 15}
CHAT_USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
              "prompt_tokens_details": {"cached_tokens": 4},
              "completion_tokens_details": {"reasoning_tokens": 2}}


# Stream helpers.

def replay(raw: bytes, split: str, *, include_usage: bool = True) -> list[SSEEvent]:
    decoder = SSEDecoder()
    translator = ResponsesToChatStream(include_usage=include_usage)
    out: list[SSEEvent] = []
    for piece in SPLITS[split](raw):
        for event in decoder.decode(piece):
            out += translator.feed(event)
    for event in decoder.flush():
        out += translator.feed(event)
    return out + translator.finish()


def payloads(events: list[SSEEvent]) -> list[Any]:
    return [DONE if event.data == DONE else json.loads(event.data) for event in events]


def without(payload: Any, keys: list[str]) -> Any:
    return payload if isinstance(payload, str) else {
        k: v for k, v in payload.items() if k not in keys}


def replay_all(raw: bytes, *, include_usage: bool = True) -> list[SSEEvent]:
    """Replays in the three splits, checks they agree (ids aside), returns one of them."""
    runs = {split: replay(raw, split, include_usage=include_usage) for split in SPLITS}
    views = {split: [without(p, ["id", "created"]) for p in payloads(events)]
             for split, events in runs.items()}
    assert views["lines"] == views["whole"]
    assert views["bytes"] == views["whole"]
    return runs["whole"]


def accumulate(events: list[SSEEvent]) -> dict[str, Any]:
    """What an OpenAI client rebuilds from the chunks (the vectors' expected_accumulated)."""
    result: dict[str, Any] = {"finish_reason": None, "usage": None,
                              "terminated_with_done": False}
    role, texts, reasoning, refusal = None, [], [], []
    tools: dict[int, dict[str, Any]] = {}
    for payload in payloads(events):
        assert not result["terminated_with_done"] and "error" not in result, "frame after end"
        if payload == DONE:
            result["terminated_with_done"] = True
            continue
        if "error" in payload:
            result["error"] = payload["error"]
            continue
        if payload.get("usage"):
            result["usage"] = payload["usage"]
        for choice in payload["choices"]:
            delta = choice["delta"]
            role = delta.get("role", role)
            texts.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or "")
            refusal.append(delta.get("refusal") or "")
            for call in delta.get("tool_calls", []):
                if "id" in call:
                    assert call["index"] == len(tools), "tool indexes count from 0 up"
                    tools[call["index"]] = {"id": call["id"], "type": call["type"],
                                            "function": {"name": call["function"]["name"],
                                                         "arguments": ""}}
                tools[call["index"]]["function"]["arguments"] += call["function"]["arguments"]
            if choice["finish_reason"]:
                result["finish_reason"] = choice["finish_reason"]
    message: dict[str, Any] = {"role": role, "content": "".join(texts) or None}
    if "".join(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    if "".join(refusal):
        message["refusal"] = "".join(refusal)
    if tools:
        message["tool_calls"] = [tools[index] for index in sorted(tools)]
    result["message"] = message
    return result


def parsed_arguments(accumulated: dict[str, Any]) -> dict[str, Any]:
    """Tool arguments compared as parsed JSON (vectors README)."""
    result = copy.deepcopy(accumulated)
    for call in result["message"].get("tool_calls", []):
        call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return result


def deltas(events: list[SSEEvent]) -> list[Any]:
    """A compact view: (delta, finish_reason) per chunk, {"usage"}, {"error"}, or [DONE]."""
    view: list[Any] = []
    for payload in payloads(events):
        if payload == DONE or "error" in payload:
            view.append(payload)
        elif not payload["choices"]:
            view.append({"usage": payload["usage"]})
        else:
            choice = payload["choices"][0]
            view.append((choice["delta"], choice["finish_reason"]))
    return view


def sse(*events: dict[str, Any] | str) -> bytes:
    """Responses wire text: `event:` equal to `type` (docs/formats.md#server-sent-events);
    a str is sent as raw data."""
    return b"".join(encode_event(e) if isinstance(e, str) else
                    encode_event(json.dumps(e), e["type"]) for e in events)


def created(model: str = "gpt-test") -> dict[str, Any]:
    return {"type": "response.created",
            "response": {"id": "resp_1", "status": "in_progress", "model": model, "output": []}}


def message_added(output_index: int = 0) -> dict[str, Any]:
    return {"type": "response.output_item.added", "output_index": output_index,
            "item": {"id": f"msg_{output_index}", "type": "message", "role": "assistant",
                     "status": "in_progress", "content": []}}


def text(delta: str, output_index: int = 0) -> dict[str, Any]:
    return {"type": "response.output_text.delta", "item_id": f"msg_{output_index}",
            "output_index": output_index, "content_index": 0, "delta": delta}


def call_added(output_index: int, name: str, arguments: str = "") -> dict[str, Any]:
    return {"type": "response.output_item.added", "output_index": output_index,
            "item": {"id": f"fc_{output_index}", "type": "function_call",
                     "status": "in_progress", "call_id": f"call_{name}", "name": name,
                     "arguments": arguments}}


def args(delta: str, output_index: int, *, by_item: bool = True) -> dict[str, Any]:
    event = {"type": "response.function_call_arguments.delta", "output_index": output_index,
             "delta": delta}
    return {**event, "item_id": f"fc_{output_index}"} if by_item else event


def args_done(arguments: str, output_index: int) -> dict[str, Any]:
    return {"type": "response.function_call_arguments.done", "item_id": f"fc_{output_index}",
            "output_index": output_index, "arguments": arguments}


def completed(usage: dict[str, Any] | None = USAGE) -> dict[str, Any]:
    return {"type": "response.completed",
            "response": {"id": "resp_1", "status": "completed", "usage": usage}}


def incomplete(reason: str | None) -> dict[str, Any]:
    details = None if reason is None else {"reason": reason}
    return {"type": "response.incomplete",
            "response": {"id": "resp_1", "status": "incomplete", "usage": USAGE,
                         "incomplete_details": details}}


def header(index: int, name: str) -> tuple[dict[str, Any], None]:
    return ({"tool_calls": [{"index": index, "id": f"call_{name}", "type": "function",
                             "function": {"name": name, "arguments": ""}}]}, None)


def arg_chunk(index: int, fragment: str) -> tuple[dict[str, Any], None]:
    return ({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}, None)


def finish(reason: str) -> tuple[dict[str, Any], str]:
    return ({}, reason)


# Request: Chat -> Responses (docs/formats.md#roles and the request topics after it).

def test_request_vectors_are_the_ones_with_a_responses_side() -> None:
    # Guards the parametrization below: an empty or wrong glob would test nothing.
    assert [name[:6] for name in REQUEST_VECTORS] == [
        "req_01", "req_02", "req_03", "req_04", "req_05", "req_06", "req_09", "req_10"]


@pytest.mark.parametrize("name", REQUEST_VECTORS)
def test_request_vector(name: str) -> None:
    vector = load(name)
    original = copy.deepcopy(vector["openai_request"])
    translated = chat_request_to_responses(vector["openai_request"])
    expected = vector["responses_request"]
    if expected.get("store") is False:
        # The vectors predate it: without storage, the provider's reasoning survives a tool
        # loop only when asked for encrypted (docs/formats.md#reasoning).
        expected = {**expected, "include": ["reasoning.encrypted_content"]}
    assert translated.body == expected
    assert vector["openai_request"] == original


@pytest.mark.parametrize(("name", "dropped"), [
    ("req_01_plain_text_system_prompt", set()),
    ("req_09_reasoning_effort", {"temperature"}),
    # req_10 notes: stop, n, penalties and seed are dropped; `user` is absent upstream.
    ("req_10_sampling_stop_max_tokens",
     {"stop", "n", "presence_penalty", "frequency_penalty", "seed", "user"}),
])
def test_request_lists_dropped_fields(name: str, dropped: set[str]) -> None:
    assert set(chat_request_to_responses(load(name)["openai_request"]).dropped) == dropped


def test_request_lists_only_fields_that_asked_for_something() -> None:
    translated = chat_request_to_responses(request(logprobs=False, seed=None, stop=["x"]))
    assert translated.dropped == ("stop",)


@pytest.mark.parametrize("case", load("req_04_tools_and_tool_choice")["tool_choice_cases"],
                         ids=lambda case: json.dumps(case["openai"]))
def test_tool_choice_table(case: dict[str, Any]) -> None:
    request = {**load("req_04_tools_and_tool_choice")["openai_request"], **case["openai"]}
    body = chat_request_to_responses(request).body
    assert {key: body[key] for key in case["responses"]} == case["responses"]
    assert ("parallel_tool_calls" in body) == ("parallel_tool_calls" in case["openai"])


def user(content: Any = "Hi") -> dict[str, Any]:
    return {"role": "user", "content": content}


def request(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages) or [user()], **fields}


def input_text(role: str, text: str) -> dict[str, Any]:
    return {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}


def test_leading_system_messages_become_instructions_and_later_ones_stay_in_place() -> None:
    body = chat_request_to_responses(request(
        {"role": "system", "content": "A"},
        {"role": "developer", "content": [{"type": "text", "text": "B"}]},
        user("Q1"), {"role": "developer", "content": "C"}, {"role": "system", "content": "D"},
        user("Q2"))).body
    assert body["instructions"] == "A\n\nB"
    assert body["input"] == [input_text("user", "Q1"), input_text("developer", "C"),
                             input_text("system", "D"), input_text("user", "Q2")]


def test_assistant_text_comes_before_each_function_call() -> None:
    calls = [{"id": f"call_{n}", "type": "function",
              "function": {"name": n, "arguments": f'{{"n": "{n}"}}'}} for n in ("a", "b")]
    body = chat_request_to_responses(request(
        user(), {"role": "assistant", "content": "Let me look.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_a", "content": [{"type": "text", "text": "1"}]},
        {"role": "tool", "tool_call_id": "call_b", "content": "2"})).body
    assert body["input"][1:] == [
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "Let me look."}]},
        {"type": "function_call", "call_id": "call_a", "name": "a", "arguments": '{"n": "a"}'},
        {"type": "function_call", "call_id": "call_b", "name": "b", "arguments": '{"n": "b"}'},
        {"type": "function_call_output", "call_id": "call_a", "output": "1"},
        {"type": "function_call_output", "call_id": "call_b", "output": "2"},
    ]


def test_user_parts_map_to_input_parts() -> None:
    parts = [{"type": "text", "text": "see"},
             {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
             {"type": "file", "file": {"file_data": "data:application/pdf;base64,AA",
                                       "filename": "a.pdf"}},
             {"type": "file", "file": {"file_id": "file-1"}}]
    assert chat_request_to_responses(request(user(parts))).body["input"][0]["content"] == [
        {"type": "input_text", "text": "see"},
        {"type": "input_image", "image_url": "https://x/y.png", "detail": "auto"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,AA",
         "filename": "a.pdf"},
        {"type": "input_file", "file_id": "file-1"},
    ]


@pytest.mark.parametrize(("fields", "expected"), [
    ({"max_tokens": 5}, 16),  # minimum 16 (docs/formats.md#sampling-and-limits)
    ({"max_tokens": 100, "max_completion_tokens": 50}, 50),
    ({"max_completion_tokens": 16}, 16),
])
def test_max_output_tokens(fields: dict[str, Any], expected: int) -> None:
    assert chat_request_to_responses(request(**fields)).body["max_output_tokens"] == expected


def test_reasoning_drops_sampling_parameters() -> None:
    translated = chat_request_to_responses(request(reasoning_effort="low", temperature=0.3,
                                                   top_p=0.5))
    assert translated.body["reasoning"] == {"effort": "low", "summary": "auto"}
    assert "temperature" not in translated.body and "top_p" not in translated.body
    assert set(translated.dropped) == {"temperature", "top_p"}


def test_passthrough_fields_and_stream_options_consumed() -> None:
    body = chat_request_to_responses(request(
        temperature=0.3, top_p=0.5, parallel_tool_calls=False, metadata={"k": "v"},
        stream=True, stream_options={"include_usage": True})).body
    assert {k: body[k] for k in ("temperature", "top_p", "parallel_tool_calls", "metadata",
                                 "stream", "store")} == {
        "temperature": 0.3, "top_p": 0.5, "parallel_tool_calls": False, "metadata": {"k": "v"},
        "stream": True, "store": False}
    # Usage always comes with response.completed (docs/formats.md#usage).
    assert "stream_options" not in body


@pytest.mark.parametrize(("response_format", "expected"), [
    ({"type": "json_object"}, {"type": "json_object"}),
    ({"type": "json_schema", "json_schema": {"name": "p", "strict": True,
                                             "schema": {"type": "object"}}},
     {"type": "json_schema", "name": "p", "strict": True, "schema": {"type": "object"}}),
])
def test_response_format_becomes_text_format(response_format: dict[str, Any],
                                             expected: dict[str, Any]) -> None:
    body = chat_request_to_responses(request(response_format=response_format)).body
    assert body["text"] == {"format": expected}


def test_tools_keep_strict_true_and_share_nothing_with_the_input() -> None:
    schema = {"type": "object", "properties": {}, "additionalProperties": False}
    original = request(tools=[{"type": "function",
                               "function": {"name": "f", "parameters": schema,
                                            "strict": True}}])
    body = chat_request_to_responses(original).body
    assert body["tools"] == [{"type": "function", "name": "f", "parameters": schema,
                              "strict": True}]
    body["tools"][0]["parameters"]["properties"]["x"] = {}
    assert original["tools"][0]["function"]["parameters"]["properties"] == {}


@pytest.mark.parametrize(("fields", "param"), [
    ({"n": 2}, "n"),
    ({"messages": [user([{"type": "input_audio",
                          "input_audio": {"data": "AA", "format": "wav"}}])]},
     "messages[0].content[0]"),
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0]"),
    ({"tool_choice": {"type": "custom", "custom": {"name": "x"}}}, "tool_choice"),
])
def test_unsupported_fields_raise_naming_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedFieldError) as caught:
        chat_request_to_responses(request(**fields))
    assert caught.value.param == param
    assert caught.value.info().status == 400
    assert param in caught.value.message


@pytest.mark.parametrize("body", [
    {"model": "m"},
    {"model": "m", "messages": []},
    request({"role": "wizard", "content": "x"}),
    request(user(), {"role": "tool", "content": "x"}),
    request(user(None)),
    request(max_tokens="ten"),
    # Found by test_properties_bodies.py: a role that is a list was looked up in a set
    # (TypeError: unhashable type) instead of being refused.
    request({"role": ["system"], "content": "x"}),
    request(user(), {"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}),
])
def test_malformed_requests_raise_invalid_request(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        chat_request_to_responses(body)


# Whole answers: Responses -> chat.completion (docs/formats.md#whole-answers).

@pytest.mark.parametrize("name", NONSTREAM_VECTORS)
def test_nonstream_vector(name: str) -> None:
    vector = load(name)
    ignored = vector["compare"]["ignore_fields"]
    original = copy.deepcopy(vector["responses_response"])
    completion = responses_response_to_chat(vector["responses_response"])
    assert without(completion, ignored) == without(vector["openai_response"], ignored)
    assert vector["responses_response"] == original


def answer(*output: dict[str, Any], status: str = "completed",
           incomplete_details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "resp_1", "object": "response", "status": status, "model": "m",
            "output": list(output), "incomplete_details": incomplete_details, "usage": USAGE}


TEXT_ITEM = {"type": "message", "role": "assistant",
             "content": [{"type": "output_text", "text": "Hi", "annotations": []}]}
CALL_ITEM = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f",
             "arguments": '{"a":1}'}
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}


@pytest.mark.parametrize(("body", "message", "finish_reason"), [
    (answer(TEXT_ITEM, CALL_ITEM), {"role": "assistant", "content": "Hi", "tool_calls": [CALL]},
     "tool_calls"),
    (answer({"type": "message", "role": "assistant",
             "content": [{"type": "refusal", "refusal": "No."}]}),
     {"role": "assistant", "content": None, "refusal": "No."}, "stop"),
    (answer({"type": "reasoning", "id": "rs_1",
             "summary": [{"type": "summary_text", "text": "a"},
                         {"type": "summary_text", "text": "b"}]}, TEXT_ITEM),
     {"role": "assistant", "content": "Hi", "reasoning_content": "a\n\nb",
      # OpenRouter's shape, which a Chat client sends back (docs/formats.md#reasoning).
      "reasoning_details": [
          {"type": "reasoning.summary", "summary": "a", "format": "openai-responses-v1",
           "id": "rs_1", "index": 0},
          {"type": "reasoning.summary", "summary": "b", "format": "openai-responses-v1",
           "id": "rs_1", "index": 1}]}, "stop"),
    (answer(TEXT_ITEM, status="incomplete",
            incomplete_details={"reason": "max_output_tokens"}),
     {"role": "assistant", "content": "Hi"}, "length"),
    (answer(TEXT_ITEM, status="incomplete", incomplete_details={"reason": "content_filter"}),
     {"role": "assistant", "content": "Hi"}, "content_filter"),
    # A turn cut off at the limit is `length`, even with a function call in it
    # (docs/formats.md#stop-reasons).
    (answer(CALL_ITEM, status="incomplete", incomplete_details={"reason": "max_tokens"}),
     {"role": "assistant", "content": None, "tool_calls": [CALL]}, "length"),
    (answer(TEXT_ITEM, CALL_ITEM, status="cancelled"),
     {"role": "assistant", "content": "Hi", "tool_calls": [CALL]}, "stop"),
], ids=["text+call", "refusal", "reasoning", "max_output_tokens", "content_filter",
        "incomplete_call", "cancelled"])
def test_answer_rules(body: dict[str, Any], message: dict[str, Any], finish_reason: str) -> None:
    choice = responses_response_to_chat(body)["choices"][0]
    assert choice == {"index": 0, "message": message, "finish_reason": finish_reason}


def test_answer_usage_keeps_cached_tokens_inside_prompt_tokens() -> None:
    assert responses_response_to_chat(answer(TEXT_ITEM))["usage"] == CHAT_USAGE


def test_failed_answer_raises_with_the_upstream_code() -> None:
    body = {**answer(), "status": "failed",
            "error": {"code": "server_error", "message": "boom"}}
    with pytest.raises(ResponseFailedError) as caught:
        responses_response_to_chat(body)
    assert (caught.value.message, caught.value.code) == ("boom", "server_error")


@pytest.mark.parametrize("body", [{"error": "x"}, answer(status="in_progress"),
                                  answer("not an item")])
def test_unusable_answers_raise_upstream_format_error(body: dict[str, Any]) -> None:
    with pytest.raises(UpstreamFormatError):
        responses_response_to_chat(body)


# Streams: Responses SSE -> chat.completion.chunk (docs/formats.md#responses-stream-to-chat).

def include_usage(vector: dict[str, Any]) -> bool:
    return vector["compare"]["client_request_assumed"]["stream_options"]["include_usage"]


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", STREAM_VECTORS)
def test_stream_vector(name: str, split: str) -> None:
    vector = load(name)
    events = replay(vector["responses_sse"].encode(), split,
                    include_usage=include_usage(vector))
    assert parsed_arguments(accumulate(events)) == parsed_arguments(
        vector["expected_accumulated"])
    ignored = vector["compare"]["ignore_fields"]
    assert [without(p, ignored) for p in payloads(events)] == [
        without(c, ignored) for c in vector["openai_chunks"]]


@pytest.mark.parametrize("name", STREAM_VECTORS)
def test_stream_vector_same_output_in_every_split(name: str) -> None:
    replay_all(load(name)["responses_sse"].encode())


@pytest.mark.parametrize("name", STREAM_VECTORS)
def test_stream_chunks_share_one_envelope(name: str) -> None:
    vector = load(name)
    events = replay(vector["responses_sse"].encode(), "whole")
    chunks = [p for p in payloads(events) if p != DONE]
    assert all(event.event is None for event in events)
    assert all(event.data == DONE or event.data == json.dumps(
        json.loads(event.data), separators=(",", ":"), ensure_ascii=False) for event in events)
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({(c["id"], c["created"]) for c in chunks}) == 1
    # The model named by response.created (docs/formats.md#responses-stream-to-chat).
    assert [c["model"] for c in chunks] == [
        c["model"] for c in vector["openai_chunks"] if c != DONE]


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    vector = load("stream_33_responses_text_docs")
    events = replay_all(vector["responses_sse"].encode(), include_usage=False)
    expected = [c for c in vector["openai_chunks"] if c == DONE or c["choices"]]
    assert [without(p, ["id", "created", "model"]) for p in payloads(events)] == [
        without(c, ["model"]) for c in expected]


def test_stream_ending_after_completed_without_done_ends_normally() -> None:
    vector = load("stream_34_responses_text_recorded")
    assert DONE not in vector["responses_sse"]
    events = replay_all(vector["responses_sse"].encode())
    assert deltas(events)[-3:] == [
        finish("stop"), {"usage": vector["expected_accumulated"]["usage"]}, DONE]


def test_arguments_split_across_deltas_found_by_output_index() -> None:
    events = replay_all(sse(created(), call_added(0, "f"), args('{"a"', 0, by_item=False),
                            args(': 1}', 0, by_item=False), args_done('{"a": 1}', 0),
                            completed()))
    assert deltas(events) == [ROLE, header(0, "f"), arg_chunk(0, '{"a"'), arg_chunk(0, ": 1}"),
                              finish("tool_calls"), {"usage": CHAT_USAGE}, DONE]


def test_argument_deltas_found_by_item_id_alone() -> None:
    def by_item(delta: str, output_index: int) -> dict[str, Any]:
        return {"type": "response.function_call_arguments.delta",
                "item_id": f"fc_{output_index}", "delta": delta}

    events = replay_all(sse(created(), call_added(0, "a"), call_added(1, "b"),
                            by_item("{}", 1), by_item("{}", 0), completed()))
    assert deltas(events)[3:5] == [arg_chunk(1, "{}"), arg_chunk(0, "{}")]


def test_parallel_function_calls_keep_stable_indexes() -> None:
    events = replay_all(sse(created(), call_added(0, "a"), call_added(1, "b"),
                            args('{"y":', 1), args('{"x":', 0), args("2}", 1), args("1}", 0),
                            completed()))
    assert deltas(events) == [ROLE, header(0, "a"), header(1, "b"), arg_chunk(1, '{"y":'),
                              arg_chunk(0, '{"x":'), arg_chunk(1, "2}"), arg_chunk(0, "1}"),
                              finish("tool_calls"), {"usage": CHAT_USAGE}, DONE]
    calls = accumulate(events)["message"]["tool_calls"]
    assert [(c["id"], c["function"]["arguments"]) for c in calls] == [
        ("call_a", '{"x":1}'), ("call_b", '{"y":2}')]


def test_text_then_function_call() -> None:
    events = replay_all(sse(created(), message_added(0), text("Checking", 0), text(".", 0),
                            call_added(1, "f"), args("{}", 1), completed()))
    assert deltas(events) == [ROLE, ({"content": "Checking"}, None), ({"content": "."}, None),
                              header(0, "f"), arg_chunk(0, "{}"), finish("tool_calls"),
                              {"usage": CHAT_USAGE}, DONE]


def test_arguments_done_without_deltas_sends_the_whole_arguments_once() -> None:
    events = replay_all(sse(created(), call_added(0, "f"), args_done('{"a":1}', 0),
                            {"type": "response.output_item.done", "output_index": 0,
                             "item": {**CALL_ITEM, "id": "fc_0"}}, completed()))
    assert deltas(events)[1:3] == [header(0, "f"), arg_chunk(0, '{"a":1}')]
    assert deltas(events)[3] == finish("tool_calls")


def test_function_call_seen_only_in_output_item_done_is_not_lost() -> None:
    events = replay_all(sse(created(), {"type": "response.output_item.done",
                                        "output_index": 0, "item": CALL_ITEM}, completed()))
    assert deltas(events)[1] == ({"tool_calls": [{
        "index": 0, "id": "call_1", "type": "function",
        "function": {"name": "f", "arguments": '{"a":1}'}}]}, None)
    assert deltas(events)[2] == finish("tool_calls")


@pytest.mark.parametrize(("reason", "finish_reason"), [
    ("max_output_tokens", "length"), ("max_tokens", "length"), (None, "length"),
    ("content_filter", "content_filter")])
def test_incomplete_finish_reason(reason: str | None, finish_reason: str) -> None:
    events = replay_all(sse(created(), call_added(0, "f"), args('{"a', 0), incomplete(reason)))
    # Truncation wins over tool_calls (docs/formats.md#stop-reasons); the partial arguments
    # are not repaired.
    assert deltas(events)[-3:] == [finish(finish_reason), {"usage": CHAT_USAGE}, DONE]
    assert accumulate(events)["message"]["tool_calls"][0]["function"]["arguments"] == '{"a'


def test_reasoning_summary_parts_are_separated() -> None:
    def part(index: int) -> dict[str, Any]:
        return {"type": "response.reasoning_summary_part.added", "item_id": "rs_0",
                "output_index": 0, "summary_index": index,
                "part": {"type": "summary_text", "text": ""}}

    def thought(delta: str) -> dict[str, Any]:
        return {"type": "response.reasoning_summary_text.delta", "item_id": "rs_0",
                "output_index": 0, "summary_index": 0, "delta": delta}

    events = replay_all(sse(
        created(), {"type": "response.output_item.added", "output_index": 0,
                    "item": {"id": "rs_0", "type": "reasoning", "summary": []}},
        part(0), thought("A"), thought("B"), part(1), thought("C"), message_added(1),
        text("Hi", 1), completed()))
    assert accumulate(events)["message"] == {"role": "assistant", "content": "Hi",
                                             "reasoning_content": "AB\n\nC"}
    assert len(deltas(events)) == 1 + 3 + 1 + 3  # one chunk per upstream delta


def test_refusal_delta() -> None:
    events = replay_all(sse(created(), message_added(0),
                            {"type": "response.refusal.delta", "item_id": "msg_0",
                             "output_index": 0, "content_index": 0, "delta": "No."},
                            completed()))
    assert deltas(events)[1] == ({"refusal": "No."}, None)


def test_unknown_and_extension_events_are_ignored() -> None:
    plain = [created(), message_added(0), text("Hi"), completed()]
    noisy = [created(), {"type": "response.in_progress", "response": {}},
             {"type": "acme:trace_event", "span": 1}, message_added(0),
             {"type": "response.content_part.added", "item_id": "msg_0", "output_index": 0,
              "content_index": 0, "part": {"type": "output_text", "text": ""}},
             text("Hi"), {"type": "response.output_text.done", "item_id": "msg_0",
                          "output_index": 0, "content_index": 0, "text": "Hi"},
             {"type": "response.output_item.done", "output_index": 0, "item": TEXT_ITEM},
             completed(), DONE]
    assert deltas(replay_all(sse(*noisy))) == deltas(replay_all(sse(*plain)))


def test_role_chunk_comes_first_even_without_response_created() -> None:
    assert deltas(replay_all(sse(text("Hi"), completed())))[:2] == [
        ROLE, ({"content": "Hi"}, None)]


NESTED_ERROR = {"type": "error", "sequence_number": 4,
                "error": {"type": "invalid_request_error", "code": "context_length_exceeded",
                          "message": "Too long.", "param": "input"}}
FLAT_ERROR = {"type": "error", "sequence_number": 4, "code": "rate_limit_exceeded",
              "message": "Slow down.", "param": None}


@pytest.mark.parametrize(("error_event", "expected"), [
    (NESTED_ERROR, {"message": "Too long.", "type": "invalid_request_error", "param": "input",
                    "code": "context_length_exceeded"}),
    (FLAT_ERROR, {"message": "Slow down.", "param": None, "code": "rate_limit_exceeded"}),
], ids=["nested", "flat"])
def test_error_event_gives_one_error_frame_and_stops(error_event: dict[str, Any],
                                                     expected: dict[str, Any]) -> None:
    failed = {"type": "response.failed",
              "response": {"status": "failed", "error": {"code": "x", "message": "y"}}}
    events = replay_all(sse(created(), message_added(0), text("Hi"), error_event, failed,
                            text("more"), completed(), DONE))
    view = deltas(events)
    assert view[:2] == [ROLE, ({"content": "Hi"}, None)] and len(view) == 3
    error = view[2]["error"]
    assert {key: error[key] for key in expected} == expected
    assert isinstance(error["type"], str) and error["type"]


def test_error_event_with_the_errors_42_payload_reaches_the_client_unchanged() -> None:
    body = load("errors_42_http_error_mapping")["responses_error"]["body"]
    events = replay_all(sse(created(), {"type": "error", **body}))
    assert payloads(events)[-1] == body


def test_failed_without_error_event_builds_the_frame_from_response_error() -> None:
    events = replay_all(sse(created(), message_added(0), text("Hi"), {
        "type": "response.failed",
        "response": {"status": "failed", "error": {"code": "server_error",
                                                   "message": "The model crashed."}}}))
    view = deltas(events)
    assert view[:2] == [ROLE, ({"content": "Hi"}, None)] and len(view) == 3
    assert (view[2]["error"]["message"], view[2]["error"]["code"]) == (
        "The model crashed.", "server_error")


def test_stream_cut_before_completed_ends_with_an_error_frame() -> None:
    events = replay_all(sse(created(), message_added(0), text("Hel")))
    view = deltas(events)
    assert view[:2] == [ROLE, ({"content": "Hel"}, None)] and len(view) == 3
    assert set(view[2]) == {"error"} and view[2]["error"]["message"]
    # An upstream [DONE] is no terminal event (docs/formats.md#how-a-stream-ends): the same
    # cut, the same frame.
    assert deltas(replay_all(sse(created(), message_added(0), text("Hel"), DONE))) == view


@pytest.mark.parametrize("data", ['{"type": "response.output_text.delta", "delta": "x"',
                                  '["response.output_text.delta"]'])
def test_malformed_json_gives_an_error_frame_instead_of_raising(data: str) -> None:
    events = replay_all(sse(created(), data, text("Hi"), completed()))
    view = deltas(events)
    assert view[0] == ROLE and len(view) == 2 and set(view[1]) == {"error"}


def test_wrongly_typed_fields_do_not_raise() -> None:
    odd = [created(), {"type": "response.output_item.added", "item": "x", "output_index": "a"},
           {"type": "response.output_text.delta", "delta": 5},
           {"type": "response.function_call_arguments.delta", "item_id": 3, "delta": "x"},
           {"type": "response.completed", "response": "x"}]
    events = replay_all(b"".join(encode_event(json.dumps(e)) for e in odd))
    assert deltas(events) == [ROLE, finish("stop"), DONE]


def test_fail_sends_one_error_frame_and_then_nothing() -> None:
    translator = ResponsesToChatStream(include_usage=True)
    assert len(translator.feed(SSEEvent(json.dumps(created()), "response.created"))) == 1
    info = ErrorInfo(504, "upstream timed out", type="server_error", code="timeout")
    assert translator.fail(info) == [chat_error_frame(info)]
    assert translator.feed(SSEEvent(json.dumps(text("late")))) == []
    assert translator.finish() == []
    assert translator.fail(info) == []


def test_finish_after_completed_sends_nothing_more() -> None:
    translator = ResponsesToChatStream(include_usage=False)
    out = translator.feed(SSEEvent(json.dumps(completed())))
    assert [e.data for e in out][-1] == DONE
    assert translator.finish() == []


@pytest.mark.parametrize(("thinking", "effort"), [
    ({"type": "enabled", "budget_tokens": 12000}, "high"),
    ({"type": "enabled", "budget_tokens": 2048}, "low"),
    ({"type": "enabled", "budget_tokens": -1}, "high"),
])
def test_a_chat_clients_anthropic_thinking_becomes_an_effort(thinking: dict[str, Any],
                                                            effort: str) -> None:
    # aider and other LiteLLM-style clients send Anthropic's `thinking` on a Chat request; a
    # Responses provider refuses the field itself.
    translated = chat_request_to_responses(request(thinking=thinking, top_k=5))
    assert translated.body["reasoning"]["effort"] == effort
    assert "thinking" not in translated.body and "top_k" not in translated.body
    assert "top_k" in translated.dropped
