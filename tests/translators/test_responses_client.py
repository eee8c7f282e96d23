"""Open Responses clients on the Chat hub: `translators/responses/client_*.py`.

Expectations come from the vectors in tests/vectors (stream_39-41 `responses_events`,
req_* read in reverse, nonstream_13/14 read in reverse, errors_42) or from the rules of
docs/formats.md linked next to each test. The strongest proof is the real `openai` SDK:
its `responses.stream()` accumulator raises unless the events come in full order, so every
stream is also fed to it through an in-memory transport.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from mitmllm.translators.chat.types import RequestOptions
from mitmllm.translators.errors import (
    ErrorInfo,
    InvalidRequestError,
    UnsupportedFieldError,
    UpstreamFormatError,
)
from mitmllm.translators.responses.client_answer import (
    ChatToResponsesStream,
    chat_response_to_responses,
)
from mitmllm.translators.responses.client_request import responses_request_to_chat
from mitmllm.translators.sse import DONE, SSEDecoder, SSEEvent, encode

VECTORS = Path(__file__).parent.parent / "vectors"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / f"{name}.json").read_text())
    return data


def names(prefix: str) -> list[str]:
    return sorted(path.stem for path in VECTORS.glob(f"{prefix}*.json"))


# -- helpers: driving the translator -------------------------------------------------------

Split = Callable[[bytes], list[bytes]]
CHUNKINGS: dict[str, Split] = {
    "whole": lambda data: [data],
    "lines": lambda data: data.splitlines(keepends=True),
    "bytes": lambda data: [data[i : i + 1] for i in range(len(data))],
}


def translator(request: dict[str, Any] | None = None) -> ChatToResponsesStream:
    """Fixed id and clock, so that replays can be compared byte for byte."""
    return ChatToResponsesStream(request=request or {"model": "gpt-4o"}, id="resp_TEST",
                                 clock=lambda: 1_700_000_000)


def run(stream: ChatToResponsesStream, data: bytes, split: Split = CHUNKINGS["whole"],
        *, finish: bool = True) -> list[SSEEvent]:
    decoder = SSEDecoder()
    out: list[SSEEvent] = []
    for piece in split(data):
        for event in decoder.decode(piece):
            out += stream.feed(event)
    for event in decoder.flush():
        out += stream.feed(event)
    if finish:
        out += stream.finish()
    return out


def payloads(events: list[SSEEvent]) -> list[Any]:
    """Events as the vectors write them: parsed JSON, or the string "[DONE]"."""
    return [DONE if event.is_done else event.json() for event in events]


def types(events: list[SSEEvent]) -> list[str]:
    return [DONE if event.is_done else event.json()["type"] for event in events]


def render(events: list[SSEEvent]) -> bytes:
    return b"".join(encode(event) for event in events)


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o", "choices": [{"index": 0, "delta": delta or {},
                                            "logprobs": None, "finish_reason": finish}]}


def usage_chunk(prompt: int, completion: int, *, cached: int = 0,
                reasoning: int = 0) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "gpt-4o", "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion,
                      "prompt_tokens_details": {"cached_tokens": cached},
                      "completion_tokens_details": {"reasoning_tokens": reasoning}}}


def call_open(index: int, call_id: str, name: str) -> dict[str, Any]:
    return {"tool_calls": [{"index": index, "id": call_id, "type": "function",
                            "function": {"name": name, "arguments": ""}}]}


def call_args(index: int, fragment: str) -> dict[str, Any]:
    return {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}


def chat_sse(*frames: dict[str, Any], done: bool = True) -> bytes:
    body = b"".join(b"data: " + json.dumps(frame).encode() + b"\n\n" for frame in frames)
    return body + (b"data: [DONE]\n\n" if done else b"")


TEXT_THEN_TOOL = chat_sse(
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me "}),
    chunk({"content": "check."}),
    chunk(call_open(0, "call_A", "get_weather")),
    chunk(call_args(0, '{"city":')),
    chunk(call_args(0, '"Paris"}')),
    chunk(finish="tool_calls"),
    usage_chunk(20, 9),
)


# -- helpers: the real openai SDK as the client --------------------------------------------


def sdk_client(upstream_sse: bytes, seen: dict[str, Any] | None = None) -> openai.OpenAI:
    """An SDK client whose transport plays the gateway: it translates the SDK's real
    request, then answers with `upstream_sse` translated back, split byte by byte."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        chat = responses_request_to_chat(body).body
        if seen is not None:
            seen["request"], seen["chat"] = body, chat
        events = run(ChatToResponsesStream(request=body), upstream_sse, CHUNKINGS["bytes"])
        return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                               content=render(events))

    return openai.OpenAI(api_key="test", base_url="http://gateway.test/v1", max_retries=0,
                         http_client=httpx2.Client(transport=httpx2.MockTransport(handle)))


def sdk_stream(upstream_sse: bytes, **params: Any) -> tuple[list[Any], Any]:
    """All events the SDK's `responses.stream()` yields, and its final Response if any."""
    client = sdk_client(upstream_sse)
    params.setdefault("model", "gpt-4o")
    params.setdefault("input", "hello")
    with client.responses.stream(**params) as stream:
        events = list(stream)
        try:
            final = stream.get_final_response()
        except RuntimeError:  # the SDK's answer when no response.completed came
            final = None
    return events, final


def function_calls(output: list[Any]) -> list[tuple[str, str, Any]]:
    return [(item.call_id, item.name, json.loads(item.arguments))
            for item in output if item.type == "function_call"]


# -- stream vectors: stream_39, stream_40, stream_41 ---------------------------------------

STREAM_VECTORS = ["stream_39_openai_parallel_tool_calls_reverse",
                  "stream_40_openai_text_usage_reverse",
                  "stream_41_openai_length_reverse"]


def ignored(vector: dict[str, Any]) -> set[str]:
    """The vector's `compare.ignore_fields`, by last path component ("item.id" -> "id"):
    ids, timestamps, model and sequence numbers differ per run and are checked apart."""
    return {path.rsplit(".", 1)[-1] for path in vector["compare"]["ignore_fields"]}


def strip(value: Any, drop: set[str]) -> Any:
    if isinstance(value, dict):
        return {key: strip(item, drop) for key, item in value.items() if key not in drop}
    if isinstance(value, list):
        return [strip(item, drop) for item in value]
    return value


def comparable(actual: list[Any], expected: list[Any], drop: set[str]) -> list[Any]:
    """`actual` shaped for comparison with `expected`. The vectors show a minimal Response
    object while docs/formats.md#chat-stream-to-responses requires every non-nullable field
    (the request's echo, docs/formats.md#whole-answers), so a `response` is compared on the
    fields the vector shows; every other field exactly."""
    shaped = []
    for got, want in zip(actual, expected, strict=False):
        if isinstance(got, dict) and isinstance(want, dict) and "response" in want:
            got = {**got, "response": {key: got["response"].get(key, "<missing>")
                                       for key in want["response"]}}
        shaped.append(strip(got, drop))
    return shaped + [strip(got, drop) for got in actual[len(expected):]]


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("name", STREAM_VECTORS)
def test_stream_vector_events(name: str, chunking: str) -> None:
    vector = load(name)
    events = run(translator(), vector["openai_sse"].encode(), CHUNKINGS[chunking])
    expected = vector["responses_events"]
    drop = ignored(vector)
    assert comparable(payloads(events), expected, drop) == strip(expected, drop)


@pytest.mark.parametrize("name", STREAM_VECTORS)
def test_stream_vector_sse_framing(name: str) -> None:
    """The rendered bytes decode to the vector's `responses_sse`: `event:` equals `type`
    (Open Responses spec), and the last frame is a bare `data: [DONE]`."""
    vector = load(name)
    ours = SSEDecoder().decode(render(run(translator(), vector["openai_sse"].encode())))
    theirs = SSEDecoder().decode(vector["responses_sse"].encode())
    assert [event.event for event in ours] == [event.event for event in theirs]
    drop = ignored(vector)
    assert comparable(payloads(ours), payloads(theirs), drop) == strip(payloads(theirs), drop)
    assert render(ours[-1:]) == b"data: [DONE]\n\n"


@pytest.mark.parametrize("name", STREAM_VECTORS)
def test_stream_vector_replays_are_identical(name: str) -> None:
    data = load(name)["openai_sse"].encode()
    outputs = {render(run(translator(), data, split)) for split in CHUNKINGS.values()}
    assert len(outputs) == 1


@pytest.mark.parametrize("name", STREAM_VECTORS)
def test_stream_vector_bookkeeping(name: str) -> None:
    """What the comparison ignores is checked here: sequence numbers count from 0, event
    names equal types, item ids are unique and every item_id names the item being streamed."""
    events = run(translator(), load(name)["openai_sse"].encode())
    bodies = [event.json() for event in events[:-1]]
    assert [body["sequence_number"] for body in bodies] == list(range(len(bodies)))
    assert all(event.event == body["type"] for event, body in zip(events, bodies, strict=False))
    added = [body["item"]["id"] for body in bodies if body["type"] == "response.output_item.added"]
    assert len(set(added)) == len(added)
    current = None
    for body in bodies:
        if body["type"] == "response.output_item.added":
            current = body["item"]["id"]
        if "item_id" in body:
            assert body["item_id"] == current
    assert len({body["response"]["id"] for body in bodies if "response" in body}) == 1


def test_sdk_accumulates_parallel_tool_calls() -> None:
    vector = load("stream_39_openai_parallel_tool_calls_reverse")
    expected = vector["openai_accumulated"]
    tools = [{"type": "function", "name": call["function"]["name"], "parameters": {},
              "strict": False} for call in expected["message"]["tool_calls"]]
    seen: dict[str, Any] = {}
    client = sdk_client(vector["openai_sse"].encode(), seen)
    with client.responses.stream(model="gpt-4o", input="weather and AAPL", tools=tools) as stream:
        final = stream.get_final_response()
    assert final.status == "completed"
    assert function_calls(final.output) == [
        (call["id"], call["function"]["name"], json.loads(call["function"]["arguments"]))
        for call in expected["message"]["tool_calls"]]
    usage = expected["usage"]
    assert final.usage is not None
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.total_tokens) == (
        usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
    # The SDK's own request went upstream as a streamed Chat request that asks for usage
    # (docs/formats.md#usage).
    assert seen["chat"]["stream_options"] == {"include_usage": True}
    assert [tool["function"]["name"] for tool in seen["chat"]["tools"]] == [
        tool["name"] for tool in tools]


def test_sdk_accumulates_text_and_usage() -> None:
    vector = load("stream_40_openai_text_usage_reverse")
    completed = vector["responses_events"][-2]["response"]
    events, final = sdk_stream(vector["openai_sse"].encode())
    assert final is not None and final.status == "completed"
    assert final.output_text == completed["output"][0]["content"][0]["text"]
    assert final.usage.model_dump(exclude_none=True) == completed["usage"]
    deltas = [event for event in events if event.type == "response.output_text.delta"]
    assert deltas[-1].snapshot == final.output_text


def test_sdk_sees_incomplete() -> None:
    vector = load("stream_41_openai_length_reverse")
    incomplete = vector["responses_events"][-2]["response"]
    events, final = sdk_stream(vector["openai_sse"].encode())
    assert final is None  # no response.completed: the SDK's get_final_response() refuses
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.incomplete_details.reason == incomplete["incomplete_details"]["reason"]
    assert last.response.output[0].status == "incomplete"
    assert last.response.output[0].content[0].text == incomplete["output"][0]["content"][0]["text"]
    assert last.response.usage.output_tokens == incomplete["usage"]["output_tokens"]


# -- stream edge cases ---------------------------------------------------------------------

LIFECYCLE = ["response.created", "response.in_progress"]
CALL = ["response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done"]
FAILED = ["error", "response.failed", DONE]


def test_two_parallel_calls_on_one_index_are_two_items() -> None:
    """Servers that put every call at index 0 (Ollama) still give one item per call id,
    each closed before the next opens (docs/formats.md#chat-stream-to-responses)."""
    data = chat_sse(chunk(call_open(0, "call_A", "a")), chunk(call_args(0, "{}")),
                    chunk(call_open(0, "call_B", "b")), chunk(call_args(0, '{"x":1}')),
                    chunk(finish="tool_calls"), usage_chunk(5, 5))
    events = run(translator(), data)
    assert types(events) == [*LIFECYCLE, *CALL, *CALL, "response.completed", DONE]
    output = events[-2].json()["response"]["output"]
    assert [(item["call_id"], item["name"], item["arguments"]) for item in output] == [
        ("call_A", "a", "{}"), ("call_B", "b", '{"x":1}')]


def test_text_then_tool_call() -> None:
    events = run(translator(), TEXT_THEN_TOOL)
    assert types(events) == [
        *LIFECYCLE, "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.completed", DONE]
    _, final = sdk_stream(TEXT_THEN_TOOL)
    assert final.output_text == "Let me check."
    assert function_calls(final.output) == [("call_A", "get_weather", {"city": "Paris"})]
    assert [item.type for item in final.output] == ["message", "function_call"]


def test_reasoning_becomes_a_reasoning_item_with_summary() -> None:
    data = chat_sse(chunk({"role": "assistant", "reasoning_content": "Think"}),
                    chunk({"reasoning_content": "ing."}), chunk({"content": "42"}),
                    chunk(finish="stop"), usage_chunk(3, 30, reasoning=20))
    events = run(translator(), data)
    assert types(events)[2:8] == [
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done"]
    _, final = sdk_stream(data)
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text == "Thinking."
    assert final.output_text == "42"
    assert final.usage.output_tokens_details.reasoning_tokens == 20


def test_usage_maps_cached_and_reasoning_tokens() -> None:
    data = chat_sse(chunk({"content": "hi"}), chunk(finish="stop"),
                    usage_chunk(100, 10, cached=64, reasoning=4))
    usage = run(translator(), data)[-2].json()["response"]["usage"]
    # Chat prompt_tokens and Responses input_tokens both include cached tokens
    # (docs/formats.md#usage).
    assert usage == {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 64},
                     "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 4},
                     "total_tokens": 110}


def test_terminal_waits_for_usage_chunk() -> None:
    stream = translator()
    assert "response.completed" not in types(run(stream, chat_sse(
        chunk({"content": "hi"}), chunk(finish="stop"), done=False), finish=False))
    tail = run(stream, chat_sse(usage_chunk(1, 1), done=False), finish=False)
    assert types(tail) == ["response.completed", DONE]
    assert tail[0].json()["response"]["usage"]["total_tokens"] == 2
    assert stream.feed(SSEEvent(DONE)) == [] and stream.finish() == []


def test_finish_without_usage_or_done_still_completes() -> None:
    events = run(translator(), chat_sse(chunk({"content": "hi"}), chunk(finish="stop"),
                                        done=False))
    assert types(events)[-2:] == ["response.completed", DONE]
    assert events[-2].json()["response"]["usage"] is None


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"),
                                                ("content_filter", "content_filter")])
def test_incomplete_reasons(finish: str, reason: str) -> None:
    events = run(translator(), chat_sse(chunk({"content": "partial"}), chunk(finish=finish),
                                        usage_chunk(1, 1)))
    response = events[-2].json()["response"]
    assert events[-2].event == "response.incomplete"
    assert response["incomplete_details"] == {"reason": reason}
    assert response["output"][-1]["status"] == "incomplete"


def test_truncated_tool_call_is_incomplete_and_unrepaired() -> None:
    data = chat_sse(chunk(call_open(0, "call_A", "f")), chunk(call_args(0, '{"a":')),
                    chunk(finish="length"))
    response = run(translator(), data)[-2].json()["response"]
    assert response["output"] == [{"id": "fc_TEST_0", "type": "function_call",
                                   "status": "incomplete", "call_id": "call_A", "name": "f",
                                   "arguments": '{"a":'}]


def test_tool_call_without_arguments_gets_empty_object() -> None:
    data = chat_sse(chunk(call_open(0, "call_A", "now")), chunk(finish="tool_calls"))
    events = run(translator(), data)
    done = [e.json() for e in events if e.event == "response.function_call_arguments.done"]
    assert done[0]["arguments"] == "{}"


def test_refusal_streams_as_a_refusal_part() -> None:
    data = chat_sse(chunk({"refusal": "No."}), chunk(finish="stop"))
    events = run(translator(), data)
    assert "response.refusal.delta" in types(events)
    message = events[-2].json()["response"]["output"][0]
    assert message["content"] == [{"type": "refusal", "refusal": "No."}]


def test_done_without_finish_reason_completes() -> None:
    events = run(translator(), chat_sse(chunk({"content": "hi"})))
    assert types(events)[-2:] == ["response.completed", DONE]


def test_error_frame_mid_stream() -> None:
    frame = {"error": {"message": "Overloaded", "type": "overloaded_error", "param": None,
                       "code": "overloaded_error"}}
    stream = translator()
    events = run(stream, chat_sse(chunk({"content": "Hel"}), frame, done=False))
    assert types(events)[-3:] == FAILED
    error, failed = events[-3].json(), events[-2].json()
    assert error["error"] == frame["error"]
    assert (error["code"], error["message"]) == ("overloaded_error", "Overloaded")
    assert failed["response"]["status"] == "failed"
    assert failed["response"]["error"] == {"code": "overloaded_error", "message": "Overloaded"}
    assert failed["response"]["output"][0]["content"][0]["text"] == "Hel"
    assert stream.feed(SSEEvent(json.dumps(chunk({"content": "more"})))) == []
    assert stream.finish() == []
    with pytest.raises(openai.APIError, match="Overloaded"):
        sdk_stream(chat_sse(chunk({"content": "Hel"}), frame, done=False))


def test_stream_cut_without_done() -> None:
    data = chat_sse(chunk({"content": "Hel"}), done=False)
    events = run(translator(), data)
    assert types(events) == [*LIFECYCLE, "response.output_item.added",
                             "response.content_part.added", "response.output_text.delta",
                             *FAILED]
    assert events[-2].json()["response"]["error"]["message"]
    with pytest.raises(openai.APIError):
        sdk_stream(data)


def test_fail_before_any_chunk_still_starts_the_response() -> None:
    stream = translator()
    events = stream.fail(ErrorInfo(504, "upstream timed out", "server_error", code="timeout"))
    assert types(events) == [*LIFECYCLE, *FAILED]
    assert events[-2].json()["response"]["error"] == {"code": "timeout",
                                                     "message": "upstream timed out"}
    assert stream.finish() == [] and stream.fail(ErrorInfo(500, "again")) == []


def test_chunk_that_is_not_json_fails_the_stream() -> None:
    events = run(translator(), b"data: {not json\n\n")
    assert types(events)[-3:] == FAILED


def test_chunk_nested_deeper_than_json_reads_fails_the_stream() -> None:
    # Found by test_properties_streams.py: json.loads raised RecursionError out of `feed`.
    events = run(translator(), b"data: " + b"[" * 100_000 + b"]" * 100_000 + b"\n\n")
    assert types(events)[-3:] == FAILED
    assert "nested too deeply" in events[-3].json()["message"]


def test_interleaved_parallel_arguments_fail_the_stream() -> None:
    data = chat_sse(chunk(call_open(0, "call_A", "a")), chunk(call_open(1, "call_B", "b")),
                    chunk(call_args(0, "{}")))
    assert types(run(translator(), data))[-3:] == FAILED


def test_response_objects_echo_the_request() -> None:
    # Settings given in full, as a Response reports them; what is filled in when a client
    # leaves keys out is tested in test_open_responses_conformance.py.
    request = {"model": "gpt-4o", "instructions": "Be brief.", "temperature": 0.3,
               "top_p": 0.9, "max_output_tokens": 50, "parallel_tool_calls": False,
               "tool_choice": "required", "metadata": {"k": "v"},
               "reasoning": {"effort": "low", "summary": "auto"},
               "text": {"format": {"type": "json_object"}},
               "tools": [{"type": "function", "name": "f", "description": "F.",
                          "parameters": {}, "strict": True}]}
    frozen = copy.deepcopy(request)
    events = run(translator(request), TEXT_THEN_TOOL)
    for event in events[:2] + events[-2:-1]:
        response = event.json()["response"]
        assert {key: response[key] for key in request if key != "model"} == {
            key: value for key, value in frozen.items() if key != "model"}
    assert request == frozen


# -- errors_42 -----------------------------------------------------------------------------


def test_errors_42_openai_error_frame_becomes_error_event() -> None:
    """An upstream error in the OpenAI/Open Responses shape keeps its fields (errors_42
    `responses_error`) and `response.failed` carries `{code, message}`
    (docs/formats.md#how-a-stream-ends)."""
    body = load("errors_42_http_error_mapping")["responses_error"]["body"]
    events = run(translator(), chat_sse(chunk({"content": "x"}), body, done=False))
    assert events[-3].json()["error"] == body["error"]
    assert events[-2].json()["response"]["error"] == {"code": body["error"]["code"],
                                                     "message": body["error"]["message"]}


def test_errors_42_anthropic_error_reaches_responses_client_in_openai_shape() -> None:
    vector = load("errors_42_http_error_mapping")
    source = vector["anthropic_error"]["body"]["error"]
    info = ErrorInfo(vector["anthropic_error"]["http_status"], source["message"],
                     source["type"], origin="anthropic")
    events = translator().fail(info)
    assert events[-3].json()["error"] == vector["anthropic_error_as_openai"]["body"]["error"]


# -- requests: req_* read in reverse -------------------------------------------------------

REQUEST_VECTORS = [name for name in names("req_") if load(name).get("responses_request")]

# Fields of `openai_request` that the forward mapping drops
# (docs/formats.md#dropped-and-refused), so no Responses request can carry them back.
FORWARD_LOSSES: dict[str, set[str]] = {
    # temperature/top_p are dropped when reasoning is requested (docs/formats.md#reasoning).
    "req_09_reasoning_effort": {"temperature"},
    # stop, n, penalties and seed have no Responses field
    # (docs/formats.md#sampling-and-limits); `user` is not mapped by the vector's forward
    # direction.
    "req_10_sampling_stop_max_tokens": {"stop", "n", "presence_penalty", "frequency_penalty",
                                        "seed", "user"},
}


def normalized_chat(request: dict[str, Any]) -> dict[str, Any]:
    """A Chat request in the one shape that the Chat -> Responses mapping and its reverse
    cannot tell apart (docs/formats.md#system-prompts, docs/formats.md#sampling-and-limits,
    docs/formats.md#tools):
    - max_tokens and max_completion_tokens both become max_output_tokens;
    - leading system/developer messages become `instructions` joined by a blank line,
      which records neither their count nor their role;
    - one text part is the same as a string; `detail` absent is "auto";
    - a tool without `strict` is sent as strict:false;
    - stream_options is checked by its own test."""
    out = copy.deepcopy(request)
    out.pop("stream_options", None)
    if "max_tokens" in out:
        out["max_completion_tokens"] = out.pop("max_tokens")
    messages = out["messages"]
    lead = 0
    while lead < len(messages) and messages[lead]["role"] in ("system", "developer"):
        lead += 1
    if lead:
        joined = "\n\n".join(message["content"] for message in messages[:lead])
        messages[:lead] = [{"role": "system", "content": joined}]
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            if len(content) == 1 and content[0]["type"] == "text":
                message["content"] = content[0]["text"]
            for part in content:
                if part["type"] == "image_url":
                    part["image_url"].setdefault("detail", "auto")
    for tool in out.get("tools", []):
        tool["function"].setdefault("strict", False)
    return out


@pytest.mark.parametrize("name", REQUEST_VECTORS)
def test_request_vectors_reversed(name: str) -> None:
    vector = load(name)
    translated = responses_request_to_chat(vector["responses_request"])
    expected = {key: value for key, value in vector["openai_request"].items()
                if key not in FORWARD_LOSSES.get(name, set())}
    assert normalized_chat(translated.body) == normalized_chat(expected)
    # `store:false` (the gateway's default) has no Chat field: dropped, and listed
    # (docs/formats.md#dropped-and-refused).
    assert "store" in translated.dropped


@pytest.mark.parametrize("name", REQUEST_VECTORS)
def test_request_vectors_stream_asks_for_usage(name: str) -> None:
    request = load(name)["responses_request"]
    chat = responses_request_to_chat(request).body
    if request.get("stream"):
        assert chat["stream"] is True
        assert chat["stream_options"] == {"include_usage": True}
    else:
        assert "stream" not in chat and "stream_options" not in chat


def test_request_vector_reasoning_summary_is_listed() -> None:
    translated = responses_request_to_chat(load("req_09_reasoning_effort")["responses_request"])
    assert translated.body["reasoning_effort"] == "high"
    assert "reasoning.summary" in translated.dropped


def test_request_is_not_mutated() -> None:
    request = load("req_06_parallel_tool_results")["responses_request"]
    frozen = copy.deepcopy(request)
    chat = responses_request_to_chat(request).body
    chat["tools"][0]["function"]["parameters"]["properties"].clear()
    chat["messages"][2]["tool_calls"].clear()
    assert request == frozen


# -- requests: rules -----------------------------------------------------------------------


def chat_of(**body: Any) -> dict[str, Any]:
    return responses_request_to_chat({"model": "m", **body}).body


def test_string_input_and_instructions() -> None:
    assert chat_of(instructions="Sys", input="Hi")["messages"] == [
        {"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"}]


def test_message_items_of_every_role() -> None:
    messages = chat_of(input=[
        {"role": "user", "content": "easy message without type"},
        {"type": "message", "role": "developer", "content": [{"type": "input_text",
                                                               "text": "Dev"}]},
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
         "content": [{"type": "output_text", "text": "A", "annotations": []},
                     {"type": "refusal", "refusal": "R"}]},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Look"},
            {"type": "input_image", "image_url": "https://x/y.png", "detail": "high"},
            {"type": "input_file", "file_data": "data:application/pdf;base64,AA==",
             "filename": "a.pdf"}]},
    ])["messages"]
    assert messages == [
        {"role": "user", "content": "easy message without type"},
        {"role": "developer", "content": "Dev"},
        {"role": "assistant", "content": "A", "refusal": "R"},
        {"role": "user", "content": [
            {"type": "text", "text": "Look"},
            {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,AA==",
                                      "filename": "a.pdf"}}]},
    ]


def test_function_calls_join_the_assistant_message_before_them() -> None:
    translated = responses_request_to_chat({"model": "m", "input": [
        {"type": "message", "role": "user", "content": "Go"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "xyz"},
        {"type": "message", "role": "assistant", "content": "Checking."},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "a",
         "arguments": '{"q": 1}'},
        {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "b",
         "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "one"},
        {"type": "function_call_output", "call_id": "call_2", "output": "two"},
    ]})
    assert translated.body["messages"][1:] == [
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "a",
                                                              "arguments": '{"q": 1}'}},
            {"id": "call_2", "type": "function", "function": {"name": "b",
                                                              "arguments": "{}"}}],
         # The reasoning item goes with the assistant turn it preceded, in the shape the
         # Responses provider gets back (docs/formats.md#reasoning).
         "reasoning_details": [{"type": "reasoning.encrypted", "data": "xyz",
                                "format": "openai-responses-v1", "id": "rs_1", "index": 0}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "one"},
        {"role": "tool", "tool_call_id": "call_2", "content": "two"},
    ]
    assert translated.dropped == ()


def test_tool_output_images_move_after_the_tool_messages() -> None:
    """Chat tool messages carry text only, and must directly follow their assistant
    message: images go into one user message after the run (docs/formats.md#roles)."""
    image = {"type": "input_image", "image_url": "data:image/png;base64,AA==", "detail": "auto"}
    translated = responses_request_to_chat({"model": "m", "input": [
        {"type": "function_call", "call_id": "c1", "name": "shot", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "shot", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1",
         "output": [{"type": "input_text", "text": "first"}, image]},
        {"type": "function_call_output", "call_id": "c2", "output": "second"},
    ]})
    assert [message["role"] for message in translated.body["messages"]] == [
        "assistant", "tool", "tool", "user"]
    assert translated.body["messages"][1]["content"] == "first"
    assert translated.body["messages"][3]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA==",
                                            "detail": "auto"}}]
    assert translated.dropped == ("input[2].output (media moved to a user message)",)


def test_settings_mapping() -> None:
    translated = responses_request_to_chat({
        "model": "m", "input": "x", "max_output_tokens": 64, "temperature": 0.5,
        "top_p": 0.8, "parallel_tool_calls": False, "metadata": {"a": "b"}, "user": "u1",
        "reasoning": {"effort": "medium", "summary": None},
        "text": {"format": {"type": "json_schema", "name": "Loc", "strict": True,
                            "schema": {"type": "object"}}, "verbosity": "low"},
        "tools": [{"type": "function", "name": "f", "description": "F",
                   "parameters": {"type": "object"}, "strict": True}],
        "tool_choice": {"type": "function", "name": "f"},
        "store": True, "include": ["reasoning.encrypted_content"], "truncation": "auto",
        "prompt_cache_key": "k", "something_new": 1,
    })
    body = translated.body
    assert {key: value for key, value in body.items() if key != "messages"} == {
        "model": "m", "max_completion_tokens": 64, "temperature": 0.5, "top_p": 0.8,
        "parallel_tool_calls": False, "metadata": {"a": "b"}, "user": "u1",
        "reasoning_effort": "medium",
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "Loc", "schema": {"type": "object"}, "strict": True}},
        "tools": [{"type": "function", "function": {
            "name": "f", "description": "F", "parameters": {"type": "object"}, "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        # OpenAI Chat takes both too.
        "prompt_cache_key": "k", "verbosity": "low",
    }
    assert set(translated.dropped) == {"store", "include", "truncation", "something_new"}


def test_tool_settings_without_tools_are_dropped() -> None:
    translated = responses_request_to_chat({"model": "m", "input": "x", "tools": [],
                                            "tool_choice": "auto", "parallel_tool_calls": True})
    assert "tool_choice" not in translated.body
    assert "parallel_tool_calls" not in translated.body
    assert translated.dropped == ("tool_choice", "parallel_tool_calls")


def test_json_object_and_allowed_tools() -> None:
    body = chat_of(input="x", text={"format": {"type": "json_object"}},
                   tools=[{"type": "function", "name": "f"}],
                   tool_choice={"type": "allowed_tools", "mode": "required",
                                "tools": [{"type": "function", "name": "f"}]})
    assert body["response_format"] == {"type": "json_object"}
    assert body["tool_choice"] == {"type": "allowed_tools", "allowed_tools": {
        "mode": "required", "tools": [{"type": "function", "function": {"name": "f"}}]}}


@pytest.mark.parametrize(("body", "param"), [
    ({"previous_response_id": "resp_123"}, "previous_response_id"),
    ({"conversation": "conv_1"}, "conversation"),
    ({"background": True}, "background"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f1"}]}]},
     "input[0].content[0].file_id"),
    ({"text": {"format": {"type": "grammar"}}}, "text.format"),
    # A part type that is not a string: refused, not looked up in a set (unhashable).
    ({"input": [{"role": "user", "content": [{"type": ["input_text"], "text": "x"}]}]},
     "input[0].content[0]"),
    ({"input": [{"role": "assistant", "content": [{"type": ["output_text"], "text": "x"}]}]},
     "input[0].content[0]"),
])
def test_unservable_fields_raise_naming_them(body: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedFieldError) as caught:
        responses_request_to_chat({"model": "m", "input": "x", **body})
    assert caught.value.param == param
    assert param in str(caught.value)
    assert caught.value.info().status == 400


HOSTED = [
    ({"tools": [{"type": "function", "name": "f"}, {"type": "web_search"}]}, "tools[1]"),
    ({"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[0]"),
    ({"tools": [{"type": "web_search", "external_web_access": False},
                {"type": "function", "name": "f"}],
      "tool_choice": {"type": "web_search"}}, "tools[0]"),
]


@pytest.mark.parametrize(("body", "param"), HOSTED)
def test_hosted_tools_are_dropped_and_listed_by_default(body: dict[str, Any],
                                                         param: str) -> None:
    translated = responses_request_to_chat({"model": "m", "input": "x", **body},
                                           RequestOptions(target="anthropic"))
    assert [t["function"]["name"] for t in translated.body.get("tools", [])] == [
        t["name"] for t in body["tools"] if t["type"] == "function"]
    assert any(d.startswith(param) and "speaks Anthropic Messages and cannot run it" in d
               for d in translated.dropped)
    # A tool choice that named a dropped hosted tool goes with it.
    assert "tool_choice" not in translated.body


@pytest.mark.parametrize(("body", "param"), HOSTED)
def test_hosted_tools_are_refused_when_the_provider_says_so(body: dict[str, Any],
                                                            param: str) -> None:
    with pytest.raises(UnsupportedFieldError) as caught:
        responses_request_to_chat({"model": "m", "input": "x", **body},
                                  RequestOptions(hosted_tools="refuse", target="openai"))
    assert caught.value.param == param
    assert "speaks OpenAI Chat Completions and cannot run it" in caught.value.message
    assert caught.value.code == "unsupported_parameter"


def test_a_hosted_tool_call_in_the_history_is_dropped() -> None:
    translated = responses_request_to_chat({"model": "m", "input": [
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
        {"role": "user", "content": "x"}]})
    assert translated.body["messages"] == [{"role": "user", "content": "x"}]
    assert translated.dropped == ("input[0] (web_search_call)",)


@pytest.mark.parametrize("body", [
    {"input": None},
    {"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
    {"input": [{"role": "robot", "content": "x"}]},
    {"input": "x", "instructions": ["not", "a", "string"]},
    # Found by test_properties_bodies.py: a role or type that is not a string was looked up
    # in a set (TypeError: unhashable type) instead of being refused.
    {"input": [{"type": "message", "role": {}, "content": "x"}]},
    {"input": [{"type": [None], "role": "user", "content": "x"}]},
])
def test_malformed_requests_raise(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        responses_request_to_chat({"model": "m", **body})


# -- whole answers: nonstream_13/14 read in reverse ----------------------------------------

NONSTREAM_VECTORS = ["nonstream_13_responses_text_to_openai",
                     "nonstream_14_responses_function_call_to_openai"]

# Response fields that come from the request: the request is rebuilt from the vector.
ECHOED = ("instructions", "tools", "tool_choice", "parallel_tool_calls", "temperature",
          "top_p", "text", "metadata", "max_output_tokens", "user", "truncation", "reasoning")
# Comparable: what the chat.completion determines. Not comparable: id, created_at,
# completed_at (times of the translation), model (vector's compare ignores it), store (the
# example was stored by OpenAI; a stateless gateway stores nothing).
DETERMINED = ("object", "status", "error", "incomplete_details", "previous_response_id")


@pytest.mark.parametrize("name", NONSTREAM_VECTORS)
def test_nonstream_vectors_reversed(name: str) -> None:
    vector = load(name)
    expected = vector["responses_response"]
    request = {"model": expected["model"], **{key: expected[key] for key in ECHOED}}
    response = chat_response_to_responses(vector["openai_response"], request)
    for key in (*ECHOED, *DETERMINED):
        assert response[key] == expected[key], key
    # OpenAI's example omits output_text.logprobs, which Open Responses requires ([] here).
    assert strip(response["output"], {"id", "logprobs"}) == strip(expected["output"], {"id"})
    # Chat counts no cache writes; a missing cached_tokens counts as 0 (nonstream_14 note).
    usage = copy.deepcopy(expected["usage"])
    usage.setdefault("input_tokens_details", {"cached_tokens": 0}).pop("cache_write_tokens",
                                                                       None)
    assert response["usage"] == usage
    assert response["id"].startswith("resp_") and response["store"] is False


def test_nonstream_function_call_ids() -> None:
    """The item id is ours (`fc_…`); call_id is the Chat tool call id
    (docs/formats.md#tools)."""
    vector = load("nonstream_14_responses_function_call_to_openai")
    output = chat_response_to_responses(vector["openai_response"], {})["output"]
    assert output[0]["id"].startswith("fc_")
    assert output[0]["call_id"] == vector["openai_response"]["choices"][0]["message"][
        "tool_calls"][0]["id"]


def test_sdk_parses_nonstream_answer() -> None:
    vector = load("nonstream_14_responses_function_call_to_openai")

    def handle(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        return httpx2.Response(200, json=chat_response_to_responses(vector["openai_response"],
                                                                    body))

    client = openai.OpenAI(api_key="test", base_url="http://gateway.test/v1", max_retries=0,
                           http_client=httpx2.Client(transport=httpx2.MockTransport(handle)))
    response = client.responses.create(model="gpt-5.4", input="weather in Boston?")
    expected = vector["responses_response"]["output"][0]
    assert function_calls(response.output) == [
        (expected["call_id"], expected["name"], json.loads(expected["arguments"]))]
    assert response.usage is not None and response.usage.total_tokens == 314


def completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", **message},
                         "finish_reason": finish}]}


def test_nonstream_reasoning_text_and_calls_in_order() -> None:
    body = completion({"reasoning_content": "Hmm.", "content": "Calling.",
                       "tool_calls": [{"id": "call_1", "type": "function",
                                       "function": {"name": "f", "arguments": ""}}]},
                      "tool_calls")
    response = chat_response_to_responses(body, {"model": "m"})
    assert [item["type"] for item in response["output"]] == ["reasoning", "message",
                                                             "function_call"]
    assert response["output"][0]["summary"] == [{"type": "summary_text", "text": "Hmm."}]
    assert response["output"][2]["arguments"] == "{}"
    assert response["status"] == "completed" and response["usage"] is None


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"),
                                                ("content_filter", "content_filter")])
def test_nonstream_incomplete(finish: str, reason: str) -> None:
    response = chat_response_to_responses(completion({"content": "cut"}, finish), {})
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": reason}
    assert response["output"][-1]["status"] == "incomplete"
    assert response["completed_at"] is None


@pytest.mark.parametrize("calls", [5, "abc", ["x"], [{"id": "call_1", "function": 5}]])
def test_nonstream_tool_calls_that_are_not_objects_are_left_out(calls: Any) -> None:
    # Iterated and read as objects before (TypeError, AttributeError); the Anthropic client
    # answer already left them out.
    response = chat_response_to_responses(completion({"content": "hi", "tool_calls": calls},
                                                     "stop"), {})
    assert response["output"][0]["type"] == "message"
    assert all(item["type"] != "function_call" or item["name"] == ""
               for item in response["output"])


def test_nonstream_finish_reason_that_is_not_a_string_completes() -> None:
    # Found by test_properties_bodies.py: TypeError (unhashable type) in responses_status.
    response = chat_response_to_responses(completion({"content": "hi"}, [137]), {})
    assert response["status"] == "completed"


@pytest.mark.parametrize("body", [{"choices": []}, {"error": {"message": "x"}},
                                  {"choices": [{"index": 0}]}])
def test_nonstream_without_choices_is_an_upstream_error(body: dict[str, Any]) -> None:
    with pytest.raises(UpstreamFormatError):
        chat_response_to_responses(body, {})
