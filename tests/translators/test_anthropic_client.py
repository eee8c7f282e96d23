"""Anthropic Messages clients on the OpenAI Chat hub: `translators/anthropic/client_*.py`.

Expectations come from the vectors (tests/vectors, docs/formats.md#test-vectors) or are
written out from the rules (docs/formats.md#roles and the request topics after it,
docs/formats.md#stop-reasons, docs/formats.md#whole-answers, docs/formats.md#usage,
docs/formats.md#chat-stream-to-anthropic); none is taken from the code's own output.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from mitmllm.translators import hub
from mitmllm.translators.anthropic.client_answer import (
    ChatToAnthropicStream,
    chat_response_to_anthropic,
)
from mitmllm.translators.anthropic.client_request import anthropic_request_to_chat
from mitmllm.translators.chat.types import RequestOptions
from mitmllm.translators.errors import (
    ErrorInfo,
    InvalidRequestError,
    UnsupportedFieldError,
    UpstreamFormatError,
)
from mitmllm.translators.reasoning import unseal
from mitmllm.translators.sse import DONE, SSEDecoder, SSEEvent, encode, json_event

VECTORS = Path(__file__).parent.parent / "vectors"
VECTOR_MESSAGE_ID = "msg_PROXY_GENERATED"
STREAM_VECTORS = ["stream_39", "stream_40", "stream_41"]
CHUNKINGS = ["whole", "lines", "bytes"]


def load(prefix: str) -> dict[str, Any]:
    (path,) = VECTORS.glob(f"{prefix}_*.json")
    return json.loads(path.read_text(encoding="utf-8"))


def without(obj: Any, paths: list[str]) -> Any:
    """A copy of a payload without the fields a vector's `compare.ignore_fields` names. A
    dotted path is exact; a bare name is that field of the payload and of its `message`
    envelope (the vectors mean message_start's informational model too, README)."""
    result = copy.deepcopy(obj)
    for path in paths:
        for full in [path] if "." in path else [path, f"message.{path}"]:
            *parents, last = full.split(".")
            node = result
            for key in parents:
                node = node.get(key) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(last, None)
    return result


# Streams ---------------------------------------------------------------------------------

def pieces(data: bytes, chunking: str) -> list[bytes]:
    if chunking == "whole":
        return [data]
    if chunking == "lines":
        return data.splitlines(keepends=True)
    return [data[i:i + 1] for i in range(len(data))]


def replay(sse: bytes, chunking: str, **kwargs: Any) -> list[SSEEvent]:
    """Bytes through the decoder and a fresh translator, as the addon drives them."""
    translator = ChatToAnthropicStream(model="client-model", **kwargs)
    decoder = SSEDecoder()
    out: list[SSEEvent] = []
    for piece in pieces(sse, chunking):
        for event in decoder.decode(piece):
            out += translator.feed(event)
    for event in decoder.flush():
        out += translator.feed(event)
    return out + translator.finish()


def wire(events: list[SSEEvent]) -> bytes:
    """Encoded output with the generated message id replaced by the vectors' placeholder."""
    raw = b"".join(encode(event) for event in events)
    start = json.loads(events[0].data)
    if start.get("type") == "message_start":
        raw = raw.replace(start["message"]["id"].encode(), VECTOR_MESSAGE_ID.encode())
    return raw


def payloads(events: list[SSEEvent]) -> list[dict[str, Any]]:
    for event in events:
        # Anthropic's grammar: the event name always equals the payload's type
        # (docs/formats.md#server-sent-events).
        assert event.event == json.loads(event.data)["type"]
    return [json.loads(event.data) for event in events]


@pytest.mark.parametrize("chunking", CHUNKINGS)
@pytest.mark.parametrize("name", STREAM_VECTORS)
def test_stream_vector_events(name: str, chunking: str) -> None:
    vector = load(name)
    ignore = vector["compare"]["ignore_fields"]
    events = replay(vector["openai_sse"].encode(), chunking)
    got = [without(p, ignore) for p in payloads(events)]
    assert got == [without(p, ignore) for p in vector["anthropic_events"]]


@pytest.mark.parametrize("name", STREAM_VECTORS)
def test_stream_vector_bytes_identical_for_every_chunking(name: str) -> None:
    vector = load(name)
    sse = vector["openai_sse"].encode()
    outputs = {chunking: wire(replay(sse, chunking)) for chunking in CHUNKINGS}
    assert outputs["lines"] == outputs["whole"] == outputs["bytes"]
    # The vectors' message_start carries the upstream's model name; the gateway echoes the
    # one the client asked for, which `compare` ignores.
    expected = vector["anthropic_sse"].replace('"model":"gpt-4o-2024-08-06"',
                                               '"model":"client-model"')
    assert outputs["whole"].decode() == expected


def test_stream_message_start_names_the_client_model_and_a_message_id() -> None:
    start = payloads(replay(load("stream_40")["openai_sse"].encode(), "whole"))[0]
    assert start["message"]["model"] == "client-model"
    assert start["message"]["id"].startswith("msg_")


def accumulate(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The message the vector's events describe, accumulated independently of the SDK."""
    blocks: list[dict[str, Any]] = []
    arguments: dict[int, str] = {}
    result: dict[str, Any] = {}
    for event in events:
        if event["type"] == "content_block_start":
            blocks.append(dict(event["content_block"]))
        elif event["type"] == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                blocks[event["index"]]["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                arguments[event["index"]] = arguments.get(event["index"], "") + delta[
                    "partial_json"]
        elif event["type"] == "message_delta":
            result = {"stop_reason": event["delta"]["stop_reason"], "usage": event["usage"]}
    for index, text in arguments.items():
        blocks[index]["input"] = json.loads(text)
    return {"content": blocks, **result}


def sdk_client(body: bytes, content_type: str) -> anthropic.Anthropic:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": content_type}, content=body)

    return anthropic.Anthropic(api_key="test", base_url="http://gateway.test", max_retries=0,
                               http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))


ASK = {"model": "client-model", "max_tokens": 64, "messages": [{"role": "user", "content": "?"}]}


@pytest.mark.parametrize("name", STREAM_VECTORS)
def test_anthropic_sdk_accumulates_the_translated_stream(name: str) -> None:
    vector = load(name)
    body = wire(replay(vector["openai_sse"].encode(), "bytes"))
    with sdk_client(body, "text/event-stream").messages.stream(**ASK) as stream:
        message = stream.get_final_message()
    expected = accumulate(vector["anthropic_events"])
    content = [block.model_dump(exclude_none=True, exclude={"citations"})
               for block in message.content]
    assert content == expected["content"]
    assert message.stop_reason == expected["stop_reason"]
    assert message.usage.input_tokens == expected["usage"]["input_tokens"]
    assert message.usage.output_tokens == expected["usage"]["output_tokens"]


def test_anthropic_sdk_raises_on_the_translated_error_event() -> None:
    chunks = [chunk(content="Hel"), {"error": {"message": "Overloaded", "type": "server_error",
                                               "param": None, "code": None}}]
    body = b"".join(encode(json_event(c)) for c in chunks)
    client = sdk_client(wire(replay(body, "whole")), "text/event-stream")
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"), client.messages.stream(
            **ASK) as stream:
        stream.get_final_message()


# Stream edge cases (docs/formats.md#chat-stream-to-anthropic), chunks written by hand ----

def chunk(finish: str | None = None, usage: dict[str, Any] | None = None,
          **delta: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"object": "chat.completion.chunk", "model": "up",
                               "choices": [{"index": 0, "delta": delta,
                                            "finish_reason": finish}]}
    if usage is not None:
        payload["usage"] = usage
    return payload


def usage_chunk(prompt: int, completion: int, cached: int | None = None) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return {"object": "chat.completion.chunk", "model": "up", "choices": [], "usage": usage}


def tool(index: int, call_id: str | None = None, name: str | None = None,
         arguments: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id:
        entry |= {"id": call_id, "type": "function"}
        entry["function"]["name"] = name
    return entry


def run(items: list[Any], finish: bool = True, **kwargs: Any) -> list[dict[str, Any]]:
    translator = ChatToAnthropicStream(model="client-model", **kwargs)
    out: list[SSEEvent] = []
    for item in items:
        out += translator.feed(SSEEvent(DONE) if item == DONE else json_event(item))
    if finish:
        out += translator.finish()
    return payloads(out)


def shape(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Events reduced to what the rules fix: kind, index, and block type or delta text."""
    out: list[tuple[Any, ...]] = []
    for e in events:
        if e["type"] == "content_block_start":
            out.append(("start", e["index"], e["content_block"]["type"]))
        elif e["type"] == "content_block_delta":
            delta = e["delta"]
            value = delta.get("text", delta.get("thinking", delta.get("partial_json")))
            out.append(("delta", e["index"], delta["type"], value))
        elif e["type"] == "content_block_stop":
            out.append(("stop", e["index"]))
        elif e["type"] == "message_delta":
            out.append(("message_delta", e["delta"]["stop_reason"], e["usage"]))
        else:
            out.append((e["type"],))
    return out


def test_text_then_tool_call_closes_the_text_block() -> None:
    events = run([chunk(role="assistant", content=""), chunk(content="Let me check."),
                  chunk(tool_calls=[tool(0, "call_1", "get_weather")]),
                  chunk(tool_calls=[tool(0, arguments='{"city":')]),
                  chunk(tool_calls=[tool(0, arguments='"Paris"}')]),
                  chunk(finish="tool_calls"), usage_chunk(10, 5), DONE])
    assert shape(events) == [
        ("message_start",),
        ("start", 0, "text"), ("delta", 0, "text_delta", "Let me check."), ("stop", 0),
        ("start", 1, "tool_use"),
        ("delta", 1, "input_json_delta", '{"city":'),
        ("delta", 1, "input_json_delta", '"Paris"}'),
        ("stop", 1),
        ("message_delta", "tool_use", {"input_tokens": 10, "output_tokens": 5}),
        ("message_stop",),
    ]
    assert events[4]["content_block"] == {"type": "tool_use", "id": "call_1",
                                          "name": "get_weather", "input": {}}


def test_parallel_tool_calls_keep_separate_blocks_even_if_ids_repeat() -> None:
    # Some servers repeat the id on every fragment; only a new id may open a block.
    events = run([chunk(tool_calls=[tool(0, "call_a", "f", '{"x":')]),
                  chunk(tool_calls=[tool(0, "call_a", "f", "1}")]),
                  chunk(tool_calls=[tool(1, "call_b", "g")]),
                  chunk(tool_calls=[tool(1, arguments="{}")]),
                  chunk(finish="tool_calls"), DONE])
    assert shape(events)[1:-2] == [
        ("start", 0, "tool_use"), ("delta", 0, "input_json_delta", '{"x":'),
        ("delta", 0, "input_json_delta", "1}"), ("stop", 0),
        ("start", 1, "tool_use"), ("delta", 1, "input_json_delta", "{}"), ("stop", 1),
    ]
    assert [e["content_block"]["id"] for e in events if e["type"] == "content_block_start"] == [
        "call_a", "call_b"]


def test_thinking_then_text() -> None:
    events = run([chunk(role="assistant", reasoning_content="Hmm"),
                  chunk(reasoning_content=" ok"), chunk(content="Answer"),
                  chunk(finish="stop"), usage_chunk(3, 4), DONE])
    assert shape(events)[1:-2] == [
        ("start", 0, "thinking"), ("delta", 0, "thinking_delta", "Hmm"),
        ("delta", 0, "thinking_delta", " ok"), ("delta", 0, "signature_delta", None),
        ("stop", 0),
        ("start", 1, "text"), ("delta", 1, "text_delta", "Answer"), ("stop", 1),
    ]
    assert events[1]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    # No Anthropic signature exists for another provider's reasoning; the signature the
    # client gets back seals which field that provider wants its reasoning in
    # (docs/formats.md#reasoning).
    sealed = unseal(events[4]["delta"]["signature"])
    assert sealed is not None and sealed.dialect == "reasoning_content"


@pytest.mark.parametrize(("finish_reason", "stop_reason"), [
    ("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"),
    ("content_filter", "refusal")])
def test_every_finish_reason_is_mapped(finish_reason: str, stop_reason: str) -> None:
    events = run([chunk(content="x"), chunk(finish=finish_reason), usage_chunk(1, 1), DONE])
    assert events[-2]["delta"] == {"stop_reason": stop_reason, "stop_sequence": None}


def test_stop_reason_is_held_until_the_usage_chunk() -> None:
    translator = ChatToAnthropicStream(model="m")
    translator.feed(json_event(chunk(content="x")))
    at_finish = payloads(translator.feed(json_event(chunk(finish="length"))))
    assert [e["type"] for e in at_finish] == ["content_block_stop"]
    at_usage = payloads(translator.feed(json_event(usage_chunk(100, 7, cached=80))))
    assert shape(at_usage) == [
        ("message_delta", "max_tokens",
         {"input_tokens": 20, "output_tokens": 7, "cache_read_input_tokens": 80}),
        ("message_stop",)]
    assert translator.feed(SSEEvent(DONE)) == []
    assert translator.finish() == []


def test_usage_in_every_chunk_waits_for_the_final_value() -> None:
    events = run([chunk(content="x", usage={"prompt_tokens": 5, "completion_tokens": 1}),
                  chunk(finish="stop"), usage_chunk(5, 2), DONE])
    assert events[-2]["usage"] == {"input_tokens": 5, "output_tokens": 2}


def test_usage_in_the_finish_chunk_ends_the_message_at_once() -> None:
    translator = ChatToAnthropicStream(model="m")
    translator.feed(json_event(chunk(content="x")))
    final = chunk(finish="stop", usage={"prompt_tokens": 5, "completion_tokens": 3})
    assert shape(payloads(translator.feed(json_event(final))))[-2:] == [
        ("message_delta", "end_turn", {"input_tokens": 5, "output_tokens": 3}),
        ("message_stop",)]


def test_done_without_usage_still_ends_the_message() -> None:
    events = run([chunk(content="x"), chunk(finish="stop"), DONE], finish=False)
    assert shape(events)[-2:] == [("message_delta", "end_turn", {"output_tokens": 0}),
                                  ("message_stop",)]


def test_input_tokens_estimate_goes_into_message_start() -> None:
    events = run([chunk(content="x"), chunk(finish="stop"), usage_chunk(12, 1), DONE],
                 input_tokens_estimate=11)
    assert events[0]["message"]["usage"] == {"input_tokens": 11, "output_tokens": 0}
    assert events[-2]["usage"] == {"input_tokens": 12, "output_tokens": 1}


def test_empty_role_content_opens_no_text_block() -> None:
    # An empty text block would be rejected by Anthropic when the client replays it.
    events = run([chunk(role="assistant", content=""), chunk(tool_calls=[tool(0, "c", "f")]),
                  chunk(finish="tool_calls"), DONE])
    assert [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"] \
        == ["tool_use"]


def test_error_frame_mid_stream_ends_with_an_error_event() -> None:
    vector = load("stream_32")  # an Anthropic overload relayed through the hub
    frames = [c for c in vector["openai_chunks"] if c != DONE]
    events = run([*frames, chunk(content="late"), DONE])
    assert shape(events)[:3] == [("message_start",), ("start", 0, "text"),
                                 ("delta", 0, "text_delta", "Hello")]
    # The original Anthropic error comes back unchanged, and nothing follows it.
    assert events[-1] == {"type": "error",
                          "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert [e["type"] for e in events].count("error") == 1
    assert "message_stop" not in [e["type"] for e in events]


def test_openai_error_frame_uses_the_errors_42_mapping() -> None:
    vector = load("errors_42")
    events = run([chunk(content="x"), vector["responses_error"]["body"]])
    assert events[-1] == vector["responses_error_as_anthropic"]["body"]


def test_stream_cut_without_done_gives_an_error_event() -> None:
    events = run([chunk(content="partial")])
    assert events[-1]["type"] == "error"
    assert events[-1]["error"]["type"] == "api_error"
    assert "message_delta" not in [e["type"] for e in events]


def test_stream_with_finish_reason_but_no_done_completes() -> None:
    events = run([chunk(content="x"), chunk(finish="stop")])
    assert shape(events)[-2:] == [("message_delta", "end_turn", {"output_tokens": 0}),
                                  ("message_stop",)]


def test_fail_sends_one_error_event_and_nothing_after() -> None:
    translator = ChatToAnthropicStream(model="m")
    translator.feed(json_event(chunk(content="x")))
    failed = payloads(translator.fail(ErrorInfo(504, "upstream timed out")))
    assert failed == [{"type": "error",
                       "error": {"type": "timeout_error", "message": "upstream timed out"}}]
    assert translator.feed(json_event(chunk(content="y"))) == []
    assert translator.finish() == []
    assert translator.fail(ErrorInfo(500, "again")) == []


def test_unreadable_chunk_fails_closed() -> None:
    translator = ChatToAnthropicStream(model="m")
    events = payloads(translator.feed(SSEEvent("{not json")))
    assert [e["type"] for e in events] == ["error"]


# Whole messages (docs/formats.md#whole-answers) -------------------------------------------

@pytest.mark.parametrize("name", ["nonstream_16", "nonstream_17"])
def test_nonstream_vectors(name: str) -> None:
    vector = load(name)
    ignore = vector["compare"]["ignore_fields"]
    source = copy.deepcopy(vector["openai_response"])
    got = chat_response_to_anthropic(source)
    assert without(got, ignore) == without(vector["anthropic_response"], ignore)
    assert got["id"].startswith("msg_")
    assert source == vector["openai_response"]


def completion(message: dict[str, Any], finish: str = "stop",
               usage: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion", "model": "up",
                            "choices": [{"index": 0, "message": {"role": "assistant", **message},
                                         "finish_reason": finish}]}
    if usage is not None:
        body["usage"] = usage
    return body


def test_nonstream_block_order_thinking_text_tool_use() -> None:
    got = chat_response_to_anthropic(completion(
        {"reasoning_content": "think", "content": "say",
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "f", "arguments": '{"a": [1]}'}}]},
        finish="tool_calls"))
    signature = got["content"][0].pop("signature")
    assert got["content"] == [
        {"type": "thinking", "thinking": "think"},
        {"type": "text", "text": "say"},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": [1]}},
    ]
    assert got["stop_reason"] == "tool_use"
    # The signature seals the provider's own dialect for the next turn.
    sealed = unseal(signature)
    assert sealed is not None and sealed.dialect == "reasoning_content"


def test_nonstream_length_and_cached_usage() -> None:
    got = chat_response_to_anthropic(completion(
        {"content": "cut"}, finish="length",
        usage={"prompt_tokens": 50, "completion_tokens": 9,
               "prompt_tokens_details": {"cached_tokens": 30}}))
    assert got["stop_reason"] == "max_tokens"
    assert got["usage"] == {"input_tokens": 20, "output_tokens": 9,
                            "cache_read_input_tokens": 30}


def test_nonstream_arguments_that_are_not_an_object_become_empty_input() -> None:
    got = chat_response_to_anthropic(completion(
        {"content": None, "tool_calls": [{"id": "c", "type": "function",
                                          "function": {"name": "f", "arguments": '{"a": 1'}}]},
        finish="length"))
    assert got["content"] == [{"type": "tool_use", "id": "c", "name": "f", "input": {}}]


def test_nonstream_without_choices_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamFormatError):
        chat_response_to_anthropic({"object": "chat.completion", "choices": []})


def test_anthropic_sdk_parses_the_translated_message() -> None:
    got = chat_response_to_anthropic(load("nonstream_17")["openai_response"])
    message = sdk_client(json.dumps(got).encode(), "application/json").messages.create(**ASK)
    assert message.stop_reason == "tool_use"
    assert message.content[0].type == "tool_use"
    assert message.content[0].input == {"location": "Boston, MA"}


# Requests (docs/formats.md#roles and after): the req_* vectors read in reverse --------------------

def parsed_arguments(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages with tool arguments parsed: they are compared as JSON (vectors README)."""
    out = copy.deepcopy(messages)
    for message in out:
        for call in message.get("tool_calls", []):
            call["function"]["arguments"] = json.loads(call["function"]["arguments"])
    return out


def same(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return messages


def developer_as_system(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Anthropic has one `system`; OpenAI's developer role is its newer name for it.
    return [{**m, "role": "system"} if m["role"] == "developer" else m for m in messages]


def without_detail(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # `detail` has no Anthropic field (req_02/req_03 notes), so it cannot come back.
    out = copy.deepcopy(messages)
    for message in out:
        for part in message["content"] if isinstance(message["content"], list) else []:
            part.get("image_url", {}).pop("detail", None)
    return out


def merged(role: str) -> Any:
    """Consecutive messages of `role` as one message of text parts: Anthropic merges
    same-role turns and allows one `system` (req_06, req_10), so their boundaries are lost
    on the way to Anthropic; the reverse translation keeps the parts in order."""
    def merge(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for message in messages:
            part = {"type": "text", "text": message["content"]}
            if message["role"] == role and out and out[-1]["role"] == role:
                out[-1]["content"].append(part)
            elif message["role"] == role:
                out.append({"role": role, "content": [part]})
            else:
                out.append(message)
        return out
    return merge


# (vector, its Anthropic field, top-level fields compared, normalisation of the OpenAI
# messages). A field is left out when the forward translation was lossy or added it:
REQUEST_CASES = [
    # max_tokens 4096 is the forward default; the client never sent it.
    ("req_01", "anthropic_request", ["model"], developer_as_system),
    ("req_02", "anthropic_request", ["model", "max_completion_tokens"], same),
    ("req_03", "anthropic_request", ["model", "max_completion_tokens"], without_detail),
    ("req_04", "anthropic_request", ["model", "tools", "tool_choice"], same),
    # stream_options is added for usage (docs/formats.md#usage), so the OpenAI request has
    # none to compare with.
    ("req_05", "anthropic_request", ["model", "max_completion_tokens", "stream", "tools"], same),
    # The recorded request echoes `caller` inside tool_use: it must change nothing.
    ("req_05", "anthropic_request_recorded",
     ["model", "max_completion_tokens", "stream", "tools"], same),
    ("req_06", "anthropic_request", ["model", "tools"], merged("user")),
    # The recording has is_error: true, which OpenAI cannot express (tested below).
    ("req_07", "anthropic_request_recorded", ["model", "max_completion_tokens", "tools"], same),
    # openai_request's `thinking` is the LiteLLM-style extension for Anthropic upstreams;
    # the hub carries reasoning_effort instead (tested below).
    ("req_08", "anthropic_request", ["model", "max_completion_tokens", "stream"], same),
    # Forward, temperature was dropped, tool_choice downgraded to auto and max_tokens set
    # for thinking, and effort high became budget 4096, which reads back as low
    # (docs/formats.md#reasoning).
    ("req_09", "anthropic_request", ["model", "tools"], same),
    # temperature was clamped 1.5 -> 1.0 forward; n, penalties and seed were dropped.
    ("req_10", "anthropic_request",
     ["model", "max_completion_tokens", "top_p", "stop", "stream", "stream_options", "user"],
     merged("system")),
]


def normalised_openai(request: dict[str, Any]) -> dict[str, Any]:
    out = dict(request)
    # max_completion_tokens and max_tokens are the same limit
    # (docs/formats.md#sampling-and-limits).
    if "max_tokens" in out:
        out["max_completion_tokens"] = out.pop("max_tokens")
    if isinstance(out.get("stop"), str):  # a single stop string is a list of one
        out["stop"] = [out["stop"]]
    return out


@pytest.mark.parametrize(("name", "field", "keys", "normalise"), REQUEST_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in REQUEST_CASES])
def test_request_vectors_reversed(name: str, field: str, keys: list[str], normalise: Any) -> None:
    vector = load(name)
    source = copy.deepcopy(vector[field])
    got = anthropic_request_to_chat(source).body
    expected = normalised_openai(vector["openai_request"])
    assert {k: got.get(k) for k in keys} == {k: expected[k] for k in keys}
    assert parsed_arguments(got["messages"]) == parsed_arguments(normalise(expected["messages"]))
    assert source == vector[field]  # the input is never mutated


def test_req_07_is_error_is_listed_as_dropped() -> None:
    assert "tool_result.is_error" in anthropic_request_to_chat(
        load("req_07")["anthropic_request_recorded"]).dropped


def test_req_08_thinking_budget_becomes_reasoning_effort() -> None:
    got = anthropic_request_to_chat(load("req_08")["anthropic_request"]).body
    assert got["reasoning_effort"] == "high"  # 16000 >= 10000
    assert "thinking" not in got


def test_req_09_budget_4096_is_low() -> None:
    assert anthropic_request_to_chat(load("req_09")["anthropic_request"]).body[
        "reasoning_effort"] == "low"


@pytest.mark.parametrize("case", load("req_04")["tool_choice_cases"],
                         ids=lambda c: json.dumps(c["anthropic_tool_choice"]))
def test_tool_choice_cases_reversed(case: dict[str, Any]) -> None:
    request = {**load("req_04")["anthropic_request"], "tool_choice": case["anthropic_tool_choice"]}
    got = anthropic_request_to_chat(request).body
    assert {k: got[k] for k in case["openai"]} == case["openai"]
    assert ("parallel_tool_calls" in got) == ("parallel_tool_calls" in case["openai"])


@pytest.mark.parametrize(("budget", "effort"), [
    (10000, "high"), (9999, "medium"), (5000, "medium"), (4999, "low"), (2000, "low"),
    (1999, "minimal"), (1024, "minimal")])
def test_thinking_budget_buckets(budget: int, effort: str) -> None:
    request = {**ASK, "thinking": {"type": "enabled", "budget_tokens": budget}}
    assert anthropic_request_to_chat(request).body["reasoning_effort"] == effort


@pytest.mark.parametrize("effort", ["ultra", ["high"], {"level": "high"}])
def test_an_unknown_output_effort_asks_for_no_reasoning_effort(effort: Any) -> None:
    # A list or object used to be looked up in the effort table: TypeError (unhashable).
    request = {**ASK, "output_config": {"effort": effort}}
    assert "reasoning_effort" not in anthropic_request_to_chat(request).body


def test_streaming_request_asks_for_usage() -> None:
    got = anthropic_request_to_chat({**ASK, "stream": True}).body
    assert got["stream"] is True
    assert got["stream_options"] == {"include_usage": True}
    assert "stream_options" not in anthropic_request_to_chat(ASK).body


def test_tool_results_come_first_in_order_then_the_rest_of_the_turn() -> None:
    request = {**ASK, "messages": [
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t1", "name": "a", "input": {}},
            {"type": "tool_use", "id": "t2", "name": "b", "input": {"k": "v"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
            {"type": "tool_result", "tool_use_id": "t2",
             "content": [{"type": "text", "text": "two"}]},
            {"type": "text", "text": "and now?"}]}]}
    assert anthropic_request_to_chat(request).body["messages"] == [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
            {"id": "t2", "type": "function",
             "function": {"name": "b", "arguments": '{"k":"v"}'}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "one"},
        {"role": "tool", "tool_call_id": "t2", "content": "two"},
        {"role": "user", "content": [{"type": "text", "text": "and now?"}]},
    ]


def test_image_in_a_tool_result_moves_to_a_user_message() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": "AAAA"}}
    request = {**ASK, "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1",
         "content": [{"type": "text", "text": "screenshot:"}, image]},
        {"type": "tool_result", "tool_use_id": "t2", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}}]},
        {"type": "text", "text": "compare them"}]}]}
    messages = anthropic_request_to_chat(request).body["messages"]
    assert [m["role"] for m in messages] == ["tool", "tool", "user"]
    assert messages[0]["content"] == "screenshot:"
    assert messages[1]["tool_call_id"] == "t2"
    assert messages[1]["content"]  # never empty: the model must not read "no result"
    # The results' images first (they belong to the results, which come first), then the
    # turn's own text.
    assert messages[2]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
        {"type": "text", "text": "compare them"}]


def test_system_blocks_and_markers() -> None:
    request = {**ASK, "top_k": 5, "system": [
        {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]}
    translated = anthropic_request_to_chat(request)
    assert translated.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert "top_k" not in translated.body
    assert {"top_k", "cache_control"} <= set(translated.dropped)


def test_assistant_thinking_keeps_its_signature_on_the_hub() -> None:
    request = {**ASK, "messages": [{"role": "assistant", "content": [
        {"type": "thinking", "thinking": "plan", "signature": "sig"},
        {"type": "text", "text": "done"}]}]}
    translated = anthropic_request_to_chat(request)
    assert translated.body["messages"] == [
        {"role": "assistant", "content": "done", "reasoning_content": "plan",
         "reasoning_details": [{"type": "reasoning.text", "text": "plan", "signature": "sig",
                                "format": "anthropic-claude-v1", "index": 0}]}]
    # Anthropic's own signed block means nothing to a Chat provider, which never gets it.
    to_chat = hub.translate_request("anthropic", "openai", request)
    assert to_chat.body["messages"] == [{"role": "assistant", "content": "done"}]


def test_long_user_id_is_dropped_not_sent() -> None:
    # OpenAI caps `user` at 64 characters; Claude Code's user_id is longer.
    translated = anthropic_request_to_chat({**ASK, "metadata": {"user_id": "u" * 150}})
    assert "user" not in translated.body
    assert "metadata.user_id" in translated.dropped
    assert anthropic_request_to_chat({**ASK, "metadata": {"user_id": "u-1"}}).body["user"] == \
        "u-1"


@pytest.mark.parametrize(("request_patch", "error"), [
    ({"stop_sequences": ["1", "2", "3", "4", "5"]}, UnsupportedFieldError),
    ({"messages": {"role": "user"}}, InvalidRequestError),
    ({"messages": [{"role": "tool", "content": "x"}]}, InvalidRequestError),
    ({"mcp_servers": [{"type": "url", "url": "https://mcp.test", "name": "m"}]},
     UnsupportedFieldError),
    ({"messages": [{"role": "user", "content": [{"type": "audio", "data": "x"}]}]},
     UnsupportedFieldError),
])
def test_requests_that_cannot_be_served_raise(request_patch: dict[str, Any],
                                              error: type[Exception]) -> None:
    with pytest.raises(error):
        anthropic_request_to_chat({**ASK, **request_patch})


# -- what Claude Code sends (tests/fixtures/agents) -------------------------------------------


def test_system_messages_inside_the_conversation_keep_their_place() -> None:
    # Claude Code puts its environment block at messages[1] for model ids it does not know,
    # first as text blocks, later as a string.
    request = {**ASK, "system": "top", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "text", "text": "# Environment",
                                        "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": "hello"},
        {"role": "system", "content": "later"},
        {"role": "user", "content": "go"}]}
    translated = anthropic_request_to_chat(request)
    assert [(m["role"], m["content"]) for m in translated.body["messages"]] == [
        ("system", "top"), ("user", "hi"), ("system", "# Environment"),
        ("assistant", "hello"), ("system", "later"), ("user", "go")]


def test_server_tools_are_dropped_with_the_tool_choice_that_named_them() -> None:
    # Claude Code's web search sub-request.
    request = {**ASK, "tools": [{"type": "web_search_20250305", "name": "web_search",
                                 "max_uses": 8}],
               "tool_choice": {"type": "tool", "name": "web_search"}}
    translated = anthropic_request_to_chat(request, RequestOptions(target="responses"))
    assert "tools" not in translated.body and "tool_choice" not in translated.body
    assert "tools[0] (the hosted tool 'web_search_20250305' runs inside the Anthropic " \
        "Messages API; this provider speaks Open Responses and cannot run it)" in \
        translated.dropped
    with pytest.raises(UnsupportedFieldError) as caught:
        anthropic_request_to_chat(request, RequestOptions(hosted_tools="refuse"))
    assert caught.value.param == "tools[0]"


def test_a_tool_reference_reads_as_the_tool_it_loaded() -> None:
    request = {**ASK, "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                                           "name": "ToolSearch", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "tool_reference",
                                                   "tool_name": "WebSearch"},
                                                  {"type": "text", "text": "Tool loaded."}]}]}]}
    tool = anthropic_request_to_chat(request).body["messages"][1]
    assert tool["role"] == "tool"
    assert tool["content"] == [{"type": "text", "text": "Tool loaded: WebSearch"},
                               {"type": "text", "text": "Tool loaded."}]


def test_a_negative_thinking_budget_means_high_effort() -> None:
    # OpenCode's "high" variant sends -1 when the model has no output limit configured.
    translated = anthropic_request_to_chat({**ASK, "thinking": {"type": "enabled",
                                                                 "budget_tokens": -1}})
    assert translated.body["reasoning_effort"] == "high"


def test_four_stop_sequences_are_fine() -> None:
    got = anthropic_request_to_chat({**ASK, "stop_sequences": ["1", "2", "3", "4"]}).body
    assert got["stop"] == ["1", "2", "3", "4"]
