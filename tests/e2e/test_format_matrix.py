"""End to end, issue 5: every client format to every provider format, with the official SDKs.

One real `mitmllm run` and three fake providers, one per API format: `oai` (OpenAI Chat),
`anth` (Anthropic Messages) and `resp` (Open Responses). The clients are the real SDKs: the
`openai` SDK's Chat Completions and Responses APIs, and the `anthropic` SDK's Messages API.

The matrix (`test_matrix`) runs every (client, provider) pair, streamed and whole, for a text
answer, a tool-call answer, an answer cut off at the token limit and an answer whose input
was partly cached. The provider answers with a recorded vector in its own format, and what
the SDK hands the user (text, tool calls, stop reason, usage) must be what the provider said,
read with a plain accumulator of the provider's own bytes (checked against the vectors' own
expectations in `test_source_reading_matches_the_vectors`), never with mitmllm's output.

Then: same-format pairs pass bytes through untouched; client auth never reaches a provider;
errors (unknown model, malformed JSON, upstream refusals, mid-stream errors, stalled streams,
untranslatable fields) arrive in the client's own shape; count_tokens; paths without `/v1`;
tool results and reasoning across formats; the Anthropic beta API Claude Code uses; and the
exact event grammar of translated Anthropic and Responses streams.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import openai
import pytest
from anthropic import Anthropic
from openai import OpenAI
from support.fake_provider import FakeProvider, Json, ProviderThread, Sse, sse_lines
from support.proxy import MitmllmProcess

pytestmark = pytest.mark.e2e

VECTORS = Path(__file__).parent.parent / "vectors"
KEYS = {"oai": "sk-oai-fake-0001", "anth": "sk-ant-fake-0002", "resp": "sk-resp-fake-0003"}
FORMATS = {"oai": "openai", "anth": "anthropic", "resp": "responses"}
MODELS = {"oai": "gpt-x", "anth": "claude-x", "resp": "resp-x"}
ENDPOINTS = {"openai": "/chat/completions", "anthropic": "/messages", "responses": "/responses"}
CLIENT_KEY = "sk-client-placeholder-9999"
CLIENT_VERSION = "2099-01-01"  # a newer anthropic-version than mitmllm knows
DEFAULT_VERSION = "2023-06-01"
TIMEOUT = 10.0
STALL_TIMEOUT = 0.3  # seconds: the `-slow` providers' idle timeout


def vector(name: str) -> dict[str, Any]:
    return json.loads(next(VECTORS.glob(f"{name}_*.json")).read_text())


# --- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def providers() -> Iterator[dict[str, FakeProvider]]:
    with ExitStack() as stack:
        started = {name: stack.enter_context(ProviderThread(fmt=fmt))
                   for name, fmt in FORMATS.items()}
        for name, provider in started.items():
            provider.models = [MODELS[name]]
        yield started


@pytest.fixture(scope="module")
def proxy(providers: dict[str, FakeProvider],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[MitmllmProcess]:
    # Each fake is also configured a second time as `NAME-slow`, with a short idle timeout.
    rows = "".join(
        f"  - {{name: {name}{suffix}, preset: custom, format: {FORMATS[name]}, auth: api_key, "
        f"host: 127.0.0.1, protocol: http, port: {provider.port}{timeout}}}\n"
        for name, provider in providers.items()
        for suffix, timeout in (("", ""), ("-slow", f", timeout: {STALL_TIMEOUT}")))
    config = f"providers:\n{rows}local: {{enabled: false}}\n"
    env = {f"MITMLLM_KEY_{name.upper()}{suffix}": key for name, key in KEYS.items()
           for suffix in ("", "_SLOW")}
    with MitmllmProcess(tmp_path_factory.mktemp("matrix"), config, env=env) as process:
        for name in providers:
            process.wait_for(name, "connected")
            process.wait_for(name + "-slow", "connected")
        yield process
        assert process.stop() == 0, process.log()
        log = process.log()
        assert not any(key in log for key in KEYS.values())


@pytest.fixture(autouse=True)
def no_leftover_replies(providers: dict[str, FakeProvider]) -> None:
    """A reply a failed test did not consume must not answer the next test."""
    for provider in providers.values():
        provider._replies.clear()


def openai_client(proxy: MitmllmProcess, **kwargs: Any) -> OpenAI:
    return OpenAI(base_url=proxy.url + "/v1", api_key=CLIENT_KEY, max_retries=0,
                  timeout=TIMEOUT, **kwargs)


def anthropic_client(proxy: MitmllmProcess, **kwargs: Any) -> Anthropic:
    return Anthropic(base_url=proxy.url, api_key=CLIENT_KEY, max_retries=0, timeout=TIMEOUT,
                     **kwargs)


# --- what a provider said, read plainly from its own bytes --------------------------------

@dataclass(frozen=True)
class Usage:
    input: int  # all input tokens, cached ones included
    cached: int
    output: int


@dataclass(frozen=True)
class Outcome:
    """An answer in neutral terms; `finish` uses OpenAI's words (stop, tool_calls, length)."""

    text: str
    calls: tuple[tuple[str, str, Any], ...]  # (call id, name, parsed arguments)
    finish: str
    usage: Usage | None


def sse_events(text: str) -> list[tuple[str | None, str]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[6:] if line.startswith("data: ") else line[5:])
        if data:
            events.append((name, "\n".join(data)))
    return events


def _calls(entries: list[dict[str, str]]) -> tuple[tuple[str, str, Any], ...]:
    return tuple((e["id"], e["name"], json.loads(e["arguments"] or "{}")) for e in entries)


def _openai_usage(usage: dict[str, Any] | None) -> Usage | None:
    if not usage:
        return None
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(usage["prompt_tokens"], cached, usage["completion_tokens"])


def _anthropic_usage(usage: dict[str, Any]) -> Usage:
    read = usage.get("cache_read_input_tokens") or 0
    written = usage.get("cache_creation_input_tokens") or 0
    return Usage(usage["input_tokens"] + read + written, read, usage["output_tokens"])


def _responses_usage(usage: dict[str, Any] | None) -> Usage | None:
    if not usage:
        return None
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
    return Usage(usage["input_tokens"], cached, usage["output_tokens"])


ANTHROPIC_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "tool_use": "tool_calls",
                    "max_tokens": "length"}


def _responses_finish(status: str, has_calls: bool) -> str:
    if not status:
        return ""  # broken off before its end
    if status == "incomplete":
        return "length"
    assert status == "completed", status
    return "tool_calls" if has_calls else "stop"


def read_openai_stream(text: str) -> Outcome:
    content: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    finish, usage = "", None
    for _, data in sse_events(text):
        if data == "[DONE]":
            continue
        chunk = json.loads(data)
        usage = _openai_usage(chunk.get("usage")) or usage
        for choice in chunk.get("choices", []):
            delta = choice.get("delta") or {}
            content.append(delta.get("content") or "")
            for call in delta.get("tool_calls") or []:
                entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
                function = call.get("function") or {}
                entry["id"] = call.get("id") or entry["id"]
                entry["name"] = function.get("name") or entry["name"]
                entry["arguments"] += function.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return Outcome("".join(content), _calls([calls[i] for i in sorted(calls)]), finish, usage)


def read_openai_body(body: dict[str, Any]) -> Outcome:
    choice = body["choices"][0]
    message = choice["message"]
    calls = [{"id": c["id"], "name": c["function"]["name"],
              "arguments": c["function"]["arguments"]} for c in message.get("tool_calls") or []]
    return Outcome(message.get("content") or "", _calls(calls), choice["finish_reason"],
                   _openai_usage(body.get("usage")))


def read_anthropic_stream(text: str) -> Outcome:
    blocks: dict[int, dict[str, Any]] = {}
    usage: dict[str, Any] = {}
    stop = ""
    for _, data in sse_events(text):
        event = json.loads(data)
        kind = event["type"]
        if kind == "message_start":
            usage.update(event["message"]["usage"])
        elif kind == "content_block_start":
            blocks[event["index"]] = {**event["content_block"], "text": "", "arguments": ""}
        elif kind == "content_block_delta":
            delta = event["delta"]
            block = blocks[event["index"]]
            block["text"] += delta.get("text", "")
            block["arguments"] += delta.get("partial_json", "")
        elif kind == "message_delta":
            stop = event["delta"]["stop_reason"]
            usage.update({k: v for k, v in event["usage"].items() if v is not None})
    ordered = [blocks[i] for i in sorted(blocks)]
    return Outcome("".join(b["text"] for b in ordered if b["type"] == "text"),
                   _calls([b for b in ordered if b["type"] == "tool_use"]),
                   ANTHROPIC_FINISH.get(stop, ""), _anthropic_usage(usage))


def read_anthropic_body(body: dict[str, Any]) -> Outcome:
    calls = tuple((b["id"], b["name"], b["input"]) for b in body["content"]
                  if b["type"] == "tool_use")
    return Outcome("".join(b["text"] for b in body["content"] if b["type"] == "text"), calls,
                   ANTHROPIC_FINISH[body["stop_reason"]], _anthropic_usage(body["usage"]))


def read_responses_stream(text: str) -> Outcome:
    content: list[str] = []
    calls: dict[str, dict[str, str]] = {}  # item id -> call
    done_arguments: dict[str, str] = {}
    status, usage = "", None
    for _, data in sse_events(text):
        if data == "[DONE]":
            continue
        event = json.loads(data)
        kind = event["type"]
        if kind == "response.output_item.added" and event["item"]["type"] == "function_call":
            item = event["item"]
            calls[item["id"]] = {"id": item["call_id"], "name": item["name"], "arguments": ""}
        elif kind == "response.output_text.delta":
            content.append(event["delta"])
        elif kind == "response.function_call_arguments.delta":
            calls[event["item_id"]]["arguments"] += event["delta"]
        elif kind == "response.function_call_arguments.done":
            done_arguments[event["item_id"]] = event["arguments"]
        elif kind in ("response.completed", "response.incomplete"):
            status = event["response"]["status"]
            usage = _responses_usage(event["response"].get("usage"))
    for item_id, arguments in done_arguments.items():
        calls[item_id]["arguments"] = calls[item_id]["arguments"] or arguments
    return Outcome("".join(content), _calls(list(calls.values())),
                   _responses_finish(status, bool(calls)), usage)


def read_responses_body(body: dict[str, Any]) -> Outcome:
    text = "".join(part["text"] for item in body["output"] if item["type"] == "message"
                   for part in item["content"] if part["type"] == "output_text")
    calls = [{"id": item["call_id"], "name": item["name"], "arguments": item["arguments"]}
             for item in body["output"] if item["type"] == "function_call"]
    return Outcome(text, _calls(calls), _responses_finish(body["status"], bool(calls)),
                   _responses_usage(body.get("usage")))


# --- the provider answers of the matrix --------------------------------------------------

def _anthropic_stream_cut_off() -> str:
    """stream_20 with the stop reason a `max_tokens` limit gives (no recorded vector)."""
    text = vector("stream_20")["anthropic_sse"]
    assert text.count('"stop_reason": "end_turn"') == 1
    return text.replace('"stop_reason": "end_turn"', '"stop_reason": "max_tokens"')


def _openai_body_cut_off() -> dict[str, Any]:
    body = copy.deepcopy(vector("nonstream_16")["openai_response"])
    body["choices"][0]["finish_reason"] = "length"
    return body


def _anthropic_body_cut_off() -> dict[str, Any]:
    body = copy.deepcopy(vector("nonstream_11")["anthropic_response"])
    body["stop_reason"] = "max_tokens"
    return body


def _responses_body_cut_off() -> dict[str, Any]:
    body = copy.deepcopy(vector("nonstream_13")["responses_response"])
    body["status"] = "incomplete"
    body["incomplete_details"] = {"reason": "max_output_tokens"}
    body["output"][0]["status"] = "incomplete"
    return body


def _edit_stream(text: str, edit: Callable[[dict[str, Any]], None]) -> str:
    """An SSE text with `edit` applied to every JSON event (re-serialized)."""
    out = []
    for name, data in sse_events(text):
        if data != "[DONE]":
            payload = json.loads(data)
            edit(payload)
            data = json.dumps(payload)
        out.append((f"event: {name}\n" if name else "") + f"data: {data}\n\n")
    return "".join(out)


def _openai_stream_cached() -> str:
    def edit(chunk: dict[str, Any]) -> None:
        if chunk.get("usage"):
            chunk["usage"]["prompt_tokens_details"] = {"cached_tokens": 8}
    return _edit_stream(vector("stream_40")["openai_sse"], edit)


def _responses_stream_cached() -> str:
    def edit(event: dict[str, Any]) -> None:
        if event["type"] == "response.completed":
            event["response"]["usage"]["input_tokens_details"] = {"cached_tokens": 400}
    return _edit_stream(vector("stream_34")["responses_sse"], edit)


def _openai_body_cached() -> dict[str, Any]:
    body = copy.deepcopy(vector("nonstream_16")["openai_response"])
    body["usage"]["prompt_tokens_details"]["cached_tokens"] = 12
    return body


def _anthropic_body_cached() -> dict[str, Any]:
    body = copy.deepcopy(vector("nonstream_11")["anthropic_response"])
    body["usage"].update(cache_read_input_tokens=640, cache_creation_input_tokens=32)
    return body


def _responses_body_cached() -> dict[str, Any]:
    body = copy.deepcopy(vector("nonstream_13")["responses_response"])
    body["usage"]["input_tokens_details"]["cached_tokens"] = 30
    return body


# (provider, mode, kind) -> the provider's answer: SSE text or a JSON body. `cached`: part
# of the input came from the prompt cache, which each format counts its own way
# (docs/formats.md#usage).
SOURCES: dict[tuple[str, str, str], Callable[[], Any]] = {
    ("oai", "stream", "text"): lambda: vector("stream_40")["openai_sse"],
    ("oai", "stream", "tools"): lambda: vector("stream_39")["openai_sse"],
    ("oai", "stream", "length"): lambda: vector("stream_41")["openai_sse"],
    ("oai", "whole", "text"): lambda: vector("nonstream_16")["openai_response"],
    ("oai", "whole", "tools"): lambda: vector("nonstream_17")["openai_response"],
    ("oai", "whole", "length"): _openai_body_cut_off,
    ("anth", "stream", "text"): lambda: vector("stream_20")["anthropic_sse"],
    ("anth", "stream", "tools"): lambda: vector("stream_23")["anthropic_sse"],
    ("anth", "stream", "length"): _anthropic_stream_cut_off,
    ("anth", "whole", "text"): lambda: vector("nonstream_11")["anthropic_response"],
    ("anth", "whole", "tools"): lambda: vector("nonstream_12")["anthropic_response"],
    ("anth", "whole", "length"): _anthropic_body_cut_off,
    ("resp", "stream", "text"): lambda: vector("stream_34")["responses_sse"],
    ("resp", "stream", "tools"): lambda: vector("stream_35")["responses_sse"],
    ("resp", "stream", "length"): lambda: vector("stream_38")["responses_sse"],
    ("resp", "whole", "text"): lambda: vector("nonstream_13")["responses_response"],
    ("resp", "whole", "tools"): lambda: vector("nonstream_14")["responses_response"],
    ("resp", "whole", "length"): _responses_body_cut_off,
    ("oai", "stream", "cached"): _openai_stream_cached,
    ("oai", "whole", "cached"): _openai_body_cached,
    ("anth", "stream", "cached"): lambda: vector("stream_27")["anthropic_sse"],
    ("anth", "whole", "cached"): _anthropic_body_cached,
    ("resp", "stream", "cached"): _responses_stream_cached,
    ("resp", "whole", "cached"): _responses_body_cached,
}
KINDS = ("text", "tools", "length", "cached")
READERS: dict[tuple[str, str], Callable[[Any], Outcome]] = {
    ("oai", "stream"): read_openai_stream, ("oai", "whole"): read_openai_body,
    ("anth", "stream"): read_anthropic_stream, ("anth", "whole"): read_anthropic_body,
    ("resp", "stream"): read_responses_stream, ("resp", "whole"): read_responses_body,
}
# The OpenAI view each recorded source vector gives of itself.
VECTOR_VIEWS = {
    ("oai", "stream", "tools"): ("stream_39", "openai_accumulated"),
    ("oai", "whole", "text"): ("nonstream_16", "openai_response"),
    ("oai", "whole", "tools"): ("nonstream_17", "openai_response"),
    ("anth", "stream", "text"): ("stream_20", "expected_accumulated"),
    ("anth", "stream", "tools"): ("stream_23", "expected_accumulated"),
    ("anth", "whole", "text"): ("nonstream_11", "openai_response"),
    ("anth", "whole", "tools"): ("nonstream_12", "openai_response"),
    ("resp", "stream", "text"): ("stream_34", "expected_accumulated"),
    ("resp", "stream", "tools"): ("stream_35", "expected_accumulated"),
    ("resp", "stream", "length"): ("stream_38", "expected_accumulated"),
    ("resp", "whole", "text"): ("nonstream_13", "openai_response"),
    ("resp", "whole", "tools"): ("nonstream_14", "openai_response"),
    ("anth", "stream", "cached"): ("stream_27", "expected_accumulated"),
}


def source_outcome(provider_name: str, mode: str, kind: str) -> Outcome:
    return READERS[provider_name, mode](SOURCES[provider_name, mode, kind]())


def provider_reply(provider_name: str, mode: str, kind: str) -> Json | Sse:
    source = SOURCES[provider_name, mode, kind]()
    return Sse(sse_lines(source)) if mode == "stream" else Json(200, source)


@pytest.mark.parametrize("key", list(VECTOR_VIEWS), ids="-".join)
def test_source_reading_matches_the_vectors(key: tuple[str, str, str]) -> None:
    """The plain readers agree with each vector's own expectation, so the matrix's
    expectations are the vectors', not mitmllm's."""
    name, field = VECTOR_VIEWS[key]
    view = vector(name)[field]
    if "choices" not in view:  # an accumulated stream: message + finish_reason + usage
        view = {"choices": [{"message": view["message"], "finish_reason": view["finish_reason"]}],
                "usage": view["usage"]}
    assert source_outcome(*key) == read_openai_body(view)


# --- what each SDK hands its user ----------------------------------------------------------

WEATHER_SCHEMA = {"type": "object", "properties": {"location": {"type": "string"}},
                  "required": ["location"]}
TOOLS = {
    "chat": [{"type": "function", "function": {"name": "get_weather",
                                               "description": "Weather for a place",
                                               "parameters": WEATHER_SCHEMA}}],
    "anthropic": [{"name": "get_weather", "description": "Weather for a place",
                   "input_schema": WEATHER_SCHEMA}],
    "responses": [{"type": "function", "name": "get_weather", "strict": False,
                   "description": "Weather for a place", "parameters": WEATHER_SCHEMA}],
}
PROMPT = "What is the weather in San Francisco?"


@dataclass
class Seen:
    """An SDK's result in the client's own vocabulary."""

    text: str
    calls: tuple[tuple[str, str, Any], ...]
    stop: Any  # finish_reason, stop_reason, or (status, incomplete reason)
    usage: Usage | None
    streamed_text: str | None = None  # the text as the stream's deltas gave it
    event_types: list[str] | None = None  # a Responses stream's events, in order


def run_chat(proxy: MitmllmProcess, model: str, stream: bool, tools: bool) -> Seen:
    client = openai_client(proxy)
    extra: dict[str, Any] = {"tools": TOOLS["chat"]} if tools else {}
    messages: Any = [{"role": "user", "content": PROMPT}]
    if not stream:
        completion = client.chat.completions.create(model=model, messages=messages, **extra)
        body = completion.model_dump(exclude_none=True)
        body["choices"][0]["message"].setdefault("content", None)
        outcome = read_openai_body(body)
        return Seen(outcome.text, outcome.calls, outcome.finish, outcome.usage)
    content: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    finish, usage = None, None
    for chunk in client.chat.completions.create(model=model, messages=messages, stream=True,
                                                stream_options={"include_usage": True},
                                                **extra):
        if chunk.usage is not None:
            usage = _openai_usage(chunk.usage.model_dump(exclude_none=True))
        for choice in chunk.choices:
            content.append(choice.delta.content or "")
            for call in choice.delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] = call.id or entry["id"]
                if call.function is not None:
                    entry["name"] = call.function.name or entry["name"]
                    entry["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    text = "".join(content)
    return Seen(text, _calls([calls[i] for i in sorted(calls)]), finish, usage, text)


def _from_message(message: anthropic.types.Message) -> Seen:
    usage = message.usage
    read = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    return Seen("".join(b.text for b in message.content if b.type == "text"),
                tuple((b.id, b.name, b.input) for b in message.content if b.type == "tool_use"),
                message.stop_reason,
                Usage(usage.input_tokens + read + written, read, usage.output_tokens))


def run_anthropic(proxy: MitmllmProcess, model: str, stream: bool, tools: bool) -> Seen:
    client = anthropic_client(proxy)
    extra: dict[str, Any] = {"tools": TOOLS["anthropic"]} if tools else {}
    messages: Any = [{"role": "user", "content": PROMPT}]
    if not stream:
        return _from_message(client.messages.create(model=model, max_tokens=1024,
                                                    messages=messages, **extra))
    with client.messages.stream(model=model, max_tokens=1024, messages=messages,
                                **extra) as events:
        streamed = "".join(events.text_stream)
        message = events.get_final_message()
    seen = _from_message(message)
    seen.streamed_text = streamed
    return seen


def _from_response(response: Any) -> Seen:
    calls = tuple((item.call_id, item.name, json.loads(item.arguments or "{}"))
                  for item in response.output if item.type == "function_call")
    reason = response.incomplete_details.reason if response.incomplete_details else None
    usage = response.usage
    cached = usage.input_tokens_details.cached_tokens if usage and usage.input_tokens_details \
        else 0
    return Seen(response.output_text, calls, (response.status, reason),
                Usage(usage.input_tokens, cached or 0, usage.output_tokens) if usage else None)


def run_responses(proxy: MitmllmProcess, model: str, stream: bool, tools: bool) -> Seen:
    client = openai_client(proxy)
    extra: dict[str, Any] = {"tools": TOOLS["responses"]} if tools else {}
    if not stream:
        return _from_response(client.responses.create(model=model, input=PROMPT, **extra))
    with client.responses.stream(model=model, input=PROMPT, **extra) as events:
        seen_events = list(events)
        types = [event.type for event in seen_events]
        numbers = [event.sequence_number for event in seen_events]
        assert types[0] == "response.created", types
        assert numbers == sorted(set(numbers)), numbers
        terminal = seen_events[-1]
        if terminal.type == "response.completed":
            response = events.get_final_response()
        else:  # the SDK keeps only a completed response; an incomplete one is in its event
            assert terminal.type == "response.incomplete", types
            response = terminal.response
    seen = _from_response(response)
    seen.streamed_text = "".join(e.delta for e in seen_events
                                 if e.type == "response.output_text.delta")
    seen.event_types = types
    return seen


RUNNERS: dict[str, Callable[[MitmllmProcess, str, bool, bool], Seen]] = {
    "chat": run_chat, "anthropic": run_anthropic, "responses": run_responses}


def expected_stop(client_format: str, finish: str) -> Any:
    """The stop-reason table (docs/formats.md#stop-reasons), from the provider's reason
    (OpenAI words) to the client's."""
    if client_format == "anthropic":
        return {"stop": "end_turn", "tool_calls": "tool_use", "length": "max_tokens"}[finish]
    if client_format == "responses":
        return ("incomplete", "max_output_tokens") if finish == "length" else ("completed", None)
    return finish


def tool_names(provider_format: str, body: dict[str, Any]) -> list[str]:
    tools = body.get("tools") or []
    if provider_format == "openai":
        return [tool["function"]["name"] for tool in tools]
    return [tool["name"] for tool in tools]


MATRIX = [pytest.param(client_format, provider_name, mode, kind,
                       id=f"{client_format}-to-{provider_name}-{mode}-{kind}")
          for client_format in RUNNERS for provider_name in FORMATS
          for mode in ("stream", "whole") for kind in KINDS]


@pytest.mark.parametrize(("client_format", "provider_name", "mode", "kind"), MATRIX)
def test_matrix(client_format: str, provider_name: str, mode: str, kind: str,
                proxy: MitmllmProcess, providers: dict[str, FakeProvider]) -> None:
    provider = providers[provider_name]
    provider_format = FORMATS[provider_name]
    endpoint = ENDPOINTS[provider_format]
    stream = mode == "stream"
    expected = source_outcome(provider_name, mode, kind)
    tools = bool(expected.calls)  # the client offers tools when the answer calls one
    before = len(provider.requests_to(endpoint))
    provider.reply(endpoint, provider_reply(provider_name, mode, kind))

    seen = RUNNERS[client_format](proxy, f"{provider_name}/{MODELS[provider_name]}", stream,
                                  tools)

    assert seen.text == expected.text
    assert seen.calls == expected.calls
    assert seen.stop == expected_stop(client_format, expected.finish)
    if expected.usage is not None:
        assert seen.usage == expected.usage
    if stream:
        assert seen.streamed_text == expected.text
    if stream and client_format == "responses" and provider_name != "resp":
        # The full event order `client.responses.stream()` and the spec ask for
        # (docs/formats.md#chat-stream-to-responses).
        types = seen.event_types or []
        assert types[:2] == ["response.created", "response.in_progress"]
        assert types[-1] == ("response.incomplete" if kind == "length" else "response.completed")
        assert types.count("response.output_item.added") == types.count(
            "response.output_item.done") == len(expected.calls) + bool(expected.text)
    # The provider got one request, in its own format, at its own endpoint.
    received = provider.requests_to(endpoint)
    assert len(received) == before + 1
    body = received[-1].json()
    assert body["model"] == MODELS[provider_name]
    assert (body.get("stream") is True) == stream
    assert tool_names(provider_format, body) == (["get_weather"] if tools else [])
    if provider_format == "anthropic":
        assert isinstance(body.get("max_tokens"), int)
    if provider_format == "openai" and stream and client_format != "chat":
        # Without usage from upstream, message_delta / response.completed have none
        # (docs/formats.md#usage).
        assert body["stream_options"] == {"include_usage": True}


# --- same format on both sides: bytes pass through ----------------------------------------

# Unknown and future fields, odd spacing, escapes and number formats a re-serialization
# would change; only the model may differ upstream.
ANTHROPIC_RAW = (
    b'{ "model" :  "anth/claude-x" ,\n  "max_tokens":4096,"stream" : true,\n'
    b' "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],'
    b'\n "thinking": {"type": "enabled", "budget_tokens": 2048},  "metadata": {"user_id": "u-1"},'
    b' "some_future_field": {"nested": [1, 2.50, 1e3, "caf\\u00e9"]},\n'
    b' "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi\\n",'
    b' "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}]\n}')
RESPONSES_RAW = (
    b'{"model":"resp/resp-x" ,  "stream":true,"input":[{"role":"user","content":'
    b'[{"type":"input_text","text":"Hi \\u00e9"}]}],\n "store": false,'
    b' "metadata": {"trace": "t-1"},'
    b' "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "low"},'
    b' "some_future_field": {"a": [1, 1.50, null]}, "max_output_tokens" : 1e3 }')
# Events a translating proxy would drop or rewrite: a comment, CRLF framing, padded JSON.
ODD_EVENTS = [b": keep-alive\n\n",
              b'event: ping\r\ndata: {"type": "ping"     }\r\n\r\n']


def _client_auth_headers(anthropic_style: bool) -> dict[str, str]:
    headers = {"authorization": f"Bearer {CLIENT_KEY}", "x-api-key": CLIENT_KEY}
    if anthropic_style:
        headers |= {"anthropic-version": CLIENT_VERSION, "anthropic-beta": "future-2099-01-01"}
    return headers


@pytest.mark.parametrize(("path", "provider_name", "raw", "stream_vector"), [
    pytest.param("/v1/messages", "anth", ANTHROPIC_RAW, ("stream_23", "anthropic_sse"),
                 id="anthropic"),
    pytest.param("/v1/responses", "resp", RESPONSES_RAW, ("stream_35", "responses_sse"),
                 id="responses"),
])
def test_same_format_stream_passes_bytes_through(
        path: str, provider_name: str, raw: bytes, stream_vector: tuple[str, str],
        proxy: MitmllmProcess, providers: dict[str, FakeProvider]) -> None:
    provider = providers[provider_name]
    name, field = stream_vector
    events = sse_lines(vector(name)[field])
    events[1:1] = ODD_EVENTS
    provider.reply(ENDPOINTS[FORMATS[provider_name]], Sse(events))
    with httpx.stream("POST", proxy.url + path, content=raw, timeout=TIMEOUT,
                      headers={"content-type": "application/json",
                               **_client_auth_headers(provider_name == "anth")}) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        received_by_client = answer.read()
    assert received_by_client == b"".join(events)
    received = provider.requests_to(ENDPOINTS[FORMATS[provider_name]])[-1]
    upstream_model = MODELS[provider_name].encode()
    assert received.body == raw.replace(b'"' + provider_name.encode() + b"/" + upstream_model
                                        + b'"', b'"' + upstream_model + b'"')


def test_anthropic_sdk_body_reaches_anthropic_unchanged(
        proxy: MitmllmProcess, providers: dict[str, FakeProvider]) -> None:
    sent: list[httpx.Request] = []
    client = anthropic_client(proxy, http_client=httpx.Client(
        event_hooks={"request": [sent.append]}))
    # The provider's answer has fields and spacing mitmllm does not know: kept as they are.
    answer = (b'{"id":"msg_01","type":"message","role":"assistant","model":"claude-x",'
              b'"content":[{"type":"thinking","thinking":"hm","signature":"sig=="},'
              b'{"type":"text","text":"ok", "citations" : null}],"stop_reason":"end_turn",'
              b'"stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1,'
              b'"cache_read_input_tokens":0},  "future_answer_field": {"x": 1.50}}')
    providers["anth"].reply("/messages", Json(200, None, raw=answer))
    raw = client.messages.with_raw_response.create(
        model="anth/claude-x", max_tokens=4096,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        thinking={"type": "enabled", "budget_tokens": 2048}, metadata={"user_id": "u-1"},
        messages=[{"role": "user", "content": "Hi"}],
        extra_body={"some_future_field": {"nested": [1, 2.5]}})
    message = raw.parse()
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert raw.http_response.content == answer
    client_body = sent[-1].content
    assert b"some_future_field" in client_body and b"cache_control" in client_body
    received = providers["anth"].requests_to("/messages")[-1]
    assert received.body == client_body.replace(b'"anth/claude-x"', b'"claude-x"')


def test_responses_sdk_body_reaches_responses_unchanged(
        proxy: MitmllmProcess, providers: dict[str, FakeProvider]) -> None:
    sent: list[httpx.Request] = []
    client = openai_client(proxy, http_client=httpx.Client(
        event_hooks={"request": [sent.append]}))
    body = vector("nonstream_13")["responses_response"]
    answer = json.dumps({**body, "future_answer_field": [1.50]}, indent=1).encode()
    providers["resp"].reply("/responses", Json(200, None, raw=answer))
    raw = client.responses.with_raw_response.create(
        model="resp/resp-x", input="Tell me a story", store=False, metadata={"trace": "t-1"},
        include=["reasoning.encrypted_content"], extra_body={"some_future_field": True})
    assert raw.parse().output_text == body["output"][0]["content"][0]["text"]
    assert raw.http_response.content == answer
    client_body = sent[-1].content
    assert b"some_future_field" in client_body and b'"store":false' in client_body.replace(
        b" ", b"")
    received = providers["resp"].requests_to("/responses")[-1]
    assert received.body == client_body.replace(b'"resp/resp-x"', b'"resp-x"')


# --- client auth -------------------------------------------------------------------------

PAIRS = [pytest.param(client_format, provider_name, id=f"{client_format}-to-{provider_name}")
         for client_format in RUNNERS for provider_name in FORMATS]


@pytest.mark.parametrize(("client_format", "provider_name"), PAIRS)
def test_client_auth_is_replaced_by_the_providers(
        client_format: str, provider_name: str, proxy: MitmllmProcess,
        providers: dict[str, FakeProvider]) -> None:
    """Whatever key the client sends never reaches a provider, which gets its own key in its
    own header; an Anthropic client's newer anthropic-version (and beta flags) go to an
    Anthropic provider only."""
    provider = providers[provider_name]
    provider_format = FORMATS[provider_name]
    provider.reply(ENDPOINTS[provider_format],
                   provider_reply(provider_name, "whole", "text"))
    model = f"{provider_name}/{MODELS[provider_name]}"
    headers = {"x-api-key": CLIENT_KEY, "api-key": CLIENT_KEY,
               "openai-organization": "org-client", "cookie": f"session={CLIENT_KEY}"}
    if client_format == "anthropic":
        client = anthropic_client(proxy, default_headers={
            **headers, "anthropic-version": CLIENT_VERSION, "anthropic-beta": "future-2099"})
        client.messages.create(model=model, max_tokens=64,
                               messages=[{"role": "user", "content": "Hi"}])
    elif client_format == "responses":
        openai_client(proxy, default_headers=headers).responses.create(model=model, input="Hi")
    else:
        openai_client(proxy, default_headers=headers).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hi"}])
    received = provider.requests_to(ENDPOINTS[provider_format])[-1].headers
    assert CLIENT_KEY not in str(received)
    assert "api-key" not in received and "openai-organization" not in received
    assert "cookie" not in received
    if provider_format == "anthropic":
        assert received["x-api-key"] == KEYS[provider_name]
        assert "authorization" not in received
        if client_format == "anthropic":
            assert received["anthropic-version"] == CLIENT_VERSION
            assert received["anthropic-beta"] == "future-2099"
        else:
            assert received["anthropic-version"] == DEFAULT_VERSION
    else:
        assert received["authorization"] == f"Bearer {KEYS[provider_name]}"
        assert "x-api-key" not in received
        assert "anthropic-version" not in received and "anthropic-beta" not in received


# --- errors in the client's shape ----------------------------------------------------------

ANTHROPIC_ERROR_TYPES = {"invalid_request_error", "authentication_error", "billing_error",
                         "permission_error", "not_found_error", "request_too_large",
                         "rate_limit_error", "api_error", "timeout_error", "overloaded_error"}


def _is_anthropic_error(body: Any, message: str | None = None) -> bool:
    return (isinstance(body, dict) and body.get("type") == "error"
            and isinstance(body.get("error"), dict)
            and body["error"].get("type") in ANTHROPIC_ERROR_TYPES
            and (message is None or body["error"].get("message") == message))


def _is_openai_error(body: Any, message: str | None = None) -> bool:
    return (isinstance(body, dict) and "type" not in body and isinstance(body.get("error"), dict)
            and {"message", "type", "param", "code"} <= set(body["error"])
            and (message is None or body["error"]["message"] == message))


def test_unknown_model_via_messages_is_an_anthropic_not_found(proxy: MitmllmProcess) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        anthropic_client(proxy).messages.create(
            model="nope/never-heard-of-it", max_tokens=64,
            messages=[{"role": "user", "content": "Hi"}])
    body = caught.value.response.json()
    assert _is_anthropic_error(body) and body["error"]["type"] == "not_found_error"
    assert "nope/never-heard-of-it" in body["error"]["message"]
    assert "anth/claude-x" in body["error"]["message"]  # says what is available


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_unknown_model_via_responses_is_an_openai_not_found(proxy: MitmllmProcess,
                                                            stream: bool) -> None:
    client = openai_client(proxy)
    with pytest.raises(openai.NotFoundError) as caught:
        if stream:
            with client.responses.stream(model="nope/never-heard-of-it", input="Hi") as events:
                list(events)
        else:
            client.responses.create(model="nope/never-heard-of-it", input="Hi")
    body = caught.value.response.json()
    assert _is_openai_error(body)
    assert body["error"]["code"] == "model_not_found" and body["error"]["param"] == "model"
    assert "nope/never-heard-of-it" in body["error"]["message"]


@pytest.mark.parametrize(("path", "shape"), [
    ("/v1/messages", "anthropic"), ("/messages", "anthropic"),
    ("/v1/messages/count_tokens", "anthropic"), ("/v1/responses", "openai"),
    ("/responses", "openai")])
def test_malformed_json_is_a_400_in_the_clients_shape(path: str, shape: str,
                                                      proxy: MitmllmProcess) -> None:
    answer = httpx.post(proxy.url + path, content=b'{"model": "anth/claude-x", "messages": [',
                        headers={"content-type": "application/json"}, timeout=TIMEOUT)
    assert answer.status_code == 400
    body = answer.json()
    if shape == "anthropic":
        assert _is_anthropic_error(body) and body["error"]["type"] == "invalid_request_error"
        assert "JSON" in body["error"]["message"]
    else:
        assert _is_openai_error(body) and "JSON" in body["error"]["message"]


# (provider, status, body): what each provider format answers when it refuses.
@dataclass(frozen=True)
class UpstreamError:
    provider: str
    status: int
    body: bytes
    message: str  # what the client must be told
    content_type: str = "application/json"


def _json_error(provider: str, status: int, payload: dict[str, Any]) -> UpstreamError:
    return UpstreamError(provider, status, json.dumps(payload).encode(),
                         payload["error"]["message"])


# What each provider format answers when it refuses; the last two are not even JSON (a
# gateway in front of the provider).
UPSTREAM_ERRORS = {
    "oai-429": _json_error("oai", 429, {"error": {
        "message": "Rate limit reached for gpt-x on requests per min (RPM): Limit 3, Used 3.",
        "type": "requests", "param": None, "code": "rate_limit_exceeded"}}),
    "anth-429": _json_error("anth", 429, {"type": "error", "error": {
        "type": "rate_limit_error",
        "message": "Number of request tokens has exceeded your per-minute rate limit"},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}),
    "anth-529": _json_error("anth", 529, {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}),
    "resp-429": _json_error("resp", 429, {"error": {
        "message": "Too many requests, slow down.", "type": "too_many_requests",
        "param": None, "code": "rate_limit_exceeded"}}),
    "anth-502-text": UpstreamError("anth", 502, b"upstream connect error or disconnect",
                                   "upstream connect error or disconnect", "text/plain"),
    "resp-500-text": UpstreamError("resp", 500, b"Internal Server Error",
                                   "Internal Server Error", "text/plain"),
}
ANTHROPIC_EXCEPTIONS = {429: anthropic.RateLimitError, 529: anthropic.OverloadedError,
                        502: anthropic.InternalServerError, 500: anthropic.InternalServerError}
ANTHROPIC_TYPES = {429: "rate_limit_error", 529: "overloaded_error", 502: "api_error",
                   500: "api_error"}


@pytest.mark.parametrize("mode", ["whole", "stream"])
@pytest.mark.parametrize("client_format", list(RUNNERS))
@pytest.mark.parametrize("case", list(UPSTREAM_ERRORS))
def test_upstream_error_keeps_status_and_message(case: str, client_format: str, mode: str,
                                                 proxy: MitmllmProcess,
                                                 providers: dict[str, FakeProvider]) -> None:
    upstream = UPSTREAM_ERRORS[case]
    status = upstream.status
    providers[upstream.provider].reply(
        ENDPOINTS[FORMATS[upstream.provider]],
        Json(status, None, raw=upstream.body,
             headers={"retry-after": "7", "content-type": upstream.content_type}))
    model = f"{upstream.provider}/{MODELS[upstream.provider]}"
    errors = (anthropic.APIStatusError if client_format == "anthropic"
              else openai.APIStatusError)
    with pytest.raises(errors) as caught:
        RUNNERS[client_format](proxy, model, mode == "stream", False)
    error = caught.value
    body = error.response.json()
    if client_format == "anthropic":
        assert error.status_code == status
        assert isinstance(error, ANTHROPIC_EXCEPTIONS[status])
        assert _is_anthropic_error(body, upstream.message)
        assert body["error"]["type"] == ANTHROPIC_TYPES[status]
    else:
        # An Anthropic 529 reaches OpenAI clients as 503 (docs/formats.md#errors).
        assert error.status_code == (503 if status == 529 else status)
        assert isinstance(error, openai.RateLimitError if status == 429
                          else openai.InternalServerError)
        assert _is_openai_error(body, upstream.message)
    assert error.response.headers.get("retry-after") == "7"


OPENAI_ERROR_FRAME = (b'data: {"error":{"message":"The server had an error while processing '
                      b'your request. Sorry about that!","type":"server_error","param":null,'
                      b'"code":null}}\n\n')
RESPONSES_ERROR = {"type": "error", "sequence_number": 9, "error": {
    "type": "server_error", "code": "server_error", "param": None,
    "message": "The model produced invalid content."}}


def _responses_broken_off() -> list[bytes]:
    """stream_34 up to its third text delta, then an `error` event and `response.failed`,
    as OpenAI sends them (docs/formats.md#how-a-stream-ends)."""
    events = sse_lines(vector("stream_34")["responses_sse"])
    kept = []
    for chunk in events:
        kept.append(chunk)
        if sum(b"response.output_text.delta" in c for c in kept) == 3:
            break
    created = json.loads(sse_events(events[0].decode())[0][1])["response"]
    failed = {"type": "response.failed", "sequence_number": 10, "response": {
        **created, "status": "failed",
        "error": {"code": "server_error", "message": RESPONSES_ERROR["error"]["message"]}}}
    return [*kept, f"event: error\ndata: {json.dumps(RESPONSES_ERROR)}\n\n".encode(),
            f"event: response.failed\ndata: {json.dumps(failed)}\n\n".encode()]


# provider -> (the provider's stream, its error message)
MIDSTREAM = {
    "anth": (lambda: sse_lines(vector("stream_32")["anthropic_sse"]), "Overloaded"),
    "oai": (lambda: [*sse_lines(vector("stream_40")["openai_sse"])[:4], OPENAI_ERROR_FRAME],
            "The server had an error while processing your request. Sorry about that!"),
    "resp": (_responses_broken_off, RESPONSES_ERROR["error"]["message"]),
}
CLIENT_PATHS = {"chat": "/v1/chat/completions", "anthropic": "/v1/messages",
                "responses": "/v1/responses"}


def _raw_request(client_format: str, model: str) -> dict[str, Any]:
    if client_format == "anthropic":
        return {"model": model, "max_tokens": 64, "stream": True,
                "messages": [{"role": "user", "content": "Hi"}]}
    if client_format == "responses":
        return {"model": model, "input": "Hi", "stream": True}
    return {"model": model, "stream": True, "messages": [{"role": "user", "content": "Hi"}]}


def _assert_error_ends_stream(client_format: str, raw: bytes, message: str) -> None:
    """The stream's last event is the client format's own error event."""
    events = sse_events(raw.decode())
    assert events, raw
    if client_format == "anthropic":
        name, data = events[-1]
        assert name == "error"
        assert _is_anthropic_error(json.loads(data), message)
        assert "message_stop" not in [n for n, _ in events]
    elif client_format == "chat":
        assert _is_openai_error(json.loads(events[-1][1]), message)
        assert "[DONE]" not in [d for _, d in events]
    else:
        payloads = [json.loads(d) for _, d in events if d != "[DONE]"]
        types = [p["type"] for p in payloads]
        assert types[-2:] == ["error", "response.failed"], types
        error = payloads[-2]
        assert message in (error.get("message"), (error.get("error") or {}).get("message"))
        failed = payloads[-1]["response"]
        assert failed["status"] == "failed" and failed["error"]["message"] == message
        assert "response.completed" not in types


@pytest.mark.parametrize("client_format", list(RUNNERS))
@pytest.mark.parametrize("provider_name", list(MIDSTREAM))
def test_midstream_error_ends_the_clients_stream(provider_name: str, client_format: str,
                                                 proxy: MitmllmProcess,
                                                 providers: dict[str, FakeProvider]) -> None:
    """The text before the error arrives, then the stream ends with the client format's own
    error event, the SDK raises, and nothing hangs."""
    make_stream, message = MIDSTREAM[provider_name]
    endpoint = ENDPOINTS[FORMATS[provider_name]]
    source = b"".join(make_stream()).decode()
    partial = READERS[provider_name, "stream"](_without_errors(source)).text
    assert partial  # the provider did send some text first
    model = f"{provider_name}/{MODELS[provider_name]}"

    providers[provider_name].reply(endpoint, Sse(make_stream()))
    started = time.monotonic()
    with httpx.stream("POST", proxy.url + CLIENT_PATHS[client_format], timeout=TIMEOUT,
                      json=_raw_request(client_format, model)) as answer:
        assert answer.status_code == 200
        raw = answer.read()
    _assert_error_ends_stream(client_format, raw, message)

    # The provider now keeps the connection open after its error: the SDK must not wait.
    providers[provider_name].reply(endpoint, Sse(make_stream(), hang_after=1.5))
    sdk_started = time.monotonic()
    text: list[str] = []
    if client_format == "anthropic":
        with pytest.raises(anthropic.APIStatusError) as caught:
            with anthropic_client(proxy).messages.stream(
                    model=model, max_tokens=64,
                    messages=[{"role": "user", "content": "Hi"}]) as events:
                text.extend(events.text_stream)
        assert _is_anthropic_error(caught.value.body, message)
    elif client_format == "chat":
        with pytest.raises(openai.APIError) as caught_openai:
            for chunk in openai_client(proxy).chat.completions.create(
                    model=model, stream=True, messages=[{"role": "user", "content": "Hi"}]):
                text.extend(choice.delta.content or "" for choice in chunk.choices)
        assert caught_openai.value.message == message
    else:
        with pytest.raises((openai.APIError, RuntimeError)) as caught_any:
            with openai_client(proxy).responses.stream(model=model, input="Hi") as stream:
                for event in stream:
                    if event.type == "response.output_text.delta":
                        text.append(event.delta)
                stream.get_final_response()
        if isinstance(caught_any.value, openai.APIError):
            assert caught_any.value.message == message
    assert "".join(text) == partial
    assert time.monotonic() - sdk_started < 1
    assert time.monotonic() - started < 5


def _without_errors(source: str) -> str:
    """A broken-off stream without its error events, for reading the text sent before."""
    kept = [block for block in source.split("\n\n") if block.strip()
            and not any(marker in block for marker in (
                "event: error", 'data: {"error"', "response.failed"))]
    return "".join(block + "\n\n" for block in kept)


# --- count_tokens -------------------------------------------------------------------------

COUNT_REQUEST: dict[str, Any] = {
    "system": "Be brief.", "tools": TOOLS["anthropic"],
    "messages": [{"role": "user", "content": PROMPT}]}


def test_count_tokens_is_passed_through_to_anthropic(
        proxy: MitmllmProcess, providers: dict[str, FakeProvider]) -> None:
    sent: list[httpx.Request] = []
    client = anthropic_client(proxy, http_client=httpx.Client(
        event_hooks={"request": [sent.append]}), default_headers={
            "x-api-key": CLIENT_KEY, "anthropic-version": CLIENT_VERSION})
    providers["anth"].reply("/messages/count_tokens", Json(200, {"input_tokens": 2095}))
    count = client.messages.count_tokens(model="anth/claude-x", **COUNT_REQUEST)
    assert count.input_tokens == 2095
    received = providers["anth"].requests_to("/messages/count_tokens")[-1]
    assert received.method == "POST"
    assert received.body == sent[-1].content.replace(b'"anth/claude-x"', b'"claude-x"')
    assert received.headers["x-api-key"] == KEYS["anth"]
    assert received.headers["anthropic-version"] == CLIENT_VERSION
    assert "authorization" not in received.headers
    assert CLIENT_KEY not in str(received.headers)


@pytest.mark.parametrize("provider_name", ["oai", "resp"])
def test_count_tokens_elsewhere_is_a_501_naming_the_reason(
        provider_name: str, proxy: MitmllmProcess,
        providers: dict[str, FakeProvider]) -> None:
    before = len(providers[provider_name].requests)
    with pytest.raises(anthropic.APIStatusError) as caught:
        anthropic_client(proxy).messages.count_tokens(
            model=f"{provider_name}/{MODELS[provider_name]}", **COUNT_REQUEST)
    assert caught.value.status_code == 501
    body = caught.value.response.json()
    assert _is_anthropic_error(body)
    reason = body["error"]["message"]
    assert "count_tokens" in reason and "Anthropic" in reason and provider_name in reason
    assert len(providers[provider_name].requests) == before  # nothing went upstream


# --- paths without /v1 ----------------------------------------------------------------------

@pytest.mark.parametrize(("path", "provider_name"), [
    ("/messages", "anth"), ("/messages", "oai"), ("/messages", "resp"),
    ("/responses", "resp"), ("/responses", "oai"), ("/responses", "anth")])
def test_paths_without_v1(path: str, provider_name: str, proxy: MitmllmProcess,
                          providers: dict[str, FakeProvider]) -> None:
    provider_format = FORMATS[provider_name]
    providers[provider_name].reply(ENDPOINTS[provider_format],
                                   provider_reply(provider_name, "whole", "text"))
    model = f"{provider_name}/{MODELS[provider_name]}"
    expected = source_outcome(provider_name, "whole", "text")
    if path == "/responses":
        client = OpenAI(base_url=proxy.url, api_key=CLIENT_KEY, max_retries=0, timeout=TIMEOUT)
        seen = _from_response(client.responses.create(model=model, input="Hi"))
        assert (seen.text, seen.stop, seen.usage) == (
            expected.text, expected_stop("responses", expected.finish), expected.usage)
    else:
        answer = httpx.post(proxy.url + path, timeout=TIMEOUT, headers={
            "x-api-key": CLIENT_KEY, "anthropic-version": DEFAULT_VERSION}, json={
            "model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]})
        assert answer.status_code == 200, answer.text
        assert read_anthropic_body(answer.json()) == expected
    received = providers[provider_name].requests_to(ENDPOINTS[provider_format])[-1]
    assert received.json()["model"] == MODELS[provider_name]


# --- a provider that stalls mid-stream ------------------------------------------------------

def _first_events(provider_name: str) -> list[bytes]:
    """The provider's text stream up to its second text delta."""
    name, field = {"oai": ("stream_40", "openai_sse"), "anth": ("stream_20", "anthropic_sse"),
                   "resp": ("stream_34", "responses_sse")}[provider_name]
    kept: list[bytes] = []
    for chunk in sse_lines(vector(name)[field]):
        kept.append(chunk)
        deltas = sum(marker in c for c in kept for marker in (
            b'"content":"', b"text_delta", b"response.output_text.delta"))
        if deltas == 2:
            return kept
    raise AssertionError(f"{name} has fewer than two text deltas")


STALLS = [
    pytest.param(provider_name, client_format, id=f"{client_format}-to-{provider_name}")
    for client_format in RUNNERS for provider_name in FORMATS]


@pytest.mark.parametrize(("provider_name", "client_format"), STALLS)
def test_stalled_stream_ends_with_the_clients_error(provider_name: str, client_format: str,
                                                    proxy: MitmllmProcess,
                                                    providers: dict[str, FakeProvider]) -> None:
    """A provider that goes silent mid-answer for longer than its `timeout`: the client's
    stream ends with its own error event naming the timeout, and the SDK raises."""
    events = _first_events(provider_name)
    partial = READERS[provider_name, "stream"](b"".join(events).decode()).text
    assert partial
    endpoint = ENDPOINTS[FORMATS[provider_name]]
    model = f"{provider_name}-slow/{MODELS[provider_name]}"

    providers[provider_name].reply(endpoint, Sse(events, hang_after=STALL_TIMEOUT * 2))
    with httpx.stream("POST", proxy.url + CLIENT_PATHS[client_format], timeout=TIMEOUT,
                      json=_raw_request(client_format, model)) as answer:
        raw = answer.read()
    events_seen = sse_events(raw.decode())
    last = json.loads(next(d for _, d in reversed(events_seen) if d != "[DONE]"))
    if client_format == "responses":
        # An `error` event, then `response.failed` with `response.error`
        # (docs/formats.md#how-a-stream-ends).
        types = [json.loads(d)["type"] for _, d in events_seen if d != "[DONE]"]
        assert types[-2:] == ["error", "response.failed"], types
        message = last["response"]["error"]["message"]
    elif client_format == "anthropic":
        assert events_seen[-1][0] == "error" and _is_anthropic_error(last)
        message = last["error"]["message"]
    else:
        assert _is_openai_error(last)
        message = last["error"]["message"]
    assert "did not answer" in message and f"{STALL_TIMEOUT:g} s" in message

    providers[provider_name].reply(endpoint, Sse(events, hang_after=STALL_TIMEOUT * 2))
    started = time.monotonic()
    text: list[str] = []
    if client_format == "anthropic":
        with pytest.raises(anthropic.APIStatusError):
            with anthropic_client(proxy).messages.stream(
                    model=model, max_tokens=64,
                    messages=[{"role": "user", "content": "Hi"}]) as stream:
                text.extend(stream.text_stream)
    elif client_format == "chat":
        with pytest.raises(openai.APIError):
            for chunk in openai_client(proxy).chat.completions.create(
                    model=model, stream=True, messages=[{"role": "user", "content": "Hi"}]):
                text.extend(choice.delta.content or "" for choice in chunk.choices)
    else:
        with pytest.raises((openai.APIError, RuntimeError)):
            with openai_client(proxy).responses.stream(model=model, input="Hi") as stream:
                for event in stream:
                    if event.type == "response.output_text.delta":
                        text.append(event.delta)
                stream.get_final_response()
    assert "".join(text) == partial
    assert time.monotonic() - started < STALL_TIMEOUT + 2


# --- a tool result sent back ----------------------------------------------------------------

CALL_ID, RESULT = "call_RT0001", "15 degrees and sunny"
ROUND_TRIP: dict[str, Any] = {
    "chat": [{"role": "user", "content": PROMPT},
             {"role": "assistant", "content": None, "tool_calls": [
                 {"id": CALL_ID, "type": "function", "function": {
                     "name": "get_weather", "arguments": '{"location": "Paris"}'}}]},
             {"role": "tool", "tool_call_id": CALL_ID, "content": RESULT}],
    "anthropic": [{"role": "user", "content": PROMPT},
                  {"role": "assistant", "content": [
                      {"type": "tool_use", "id": CALL_ID, "name": "get_weather",
                       "input": {"location": "Paris"}}]},
                  {"role": "user", "content": [
                      {"type": "tool_result", "tool_use_id": CALL_ID, "content": RESULT}]}],
    "responses": [{"role": "user", "content": PROMPT},
                  {"type": "function_call", "call_id": CALL_ID, "name": "get_weather",
                   "arguments": '{"location": "Paris"}'},
                  {"type": "function_call_output", "call_id": CALL_ID, "output": RESULT}],
}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [])


def conversation(provider_format: str, body: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The turns a provider received, in neutral terms: ("user", text),
    ("call", id, name, arguments), ("result", id, text)."""
    turns: list[tuple[Any, ...]] = []
    if provider_format == "openai":
        for message in body["messages"]:
            if message["role"] == "tool":
                turns.append(("result", message["tool_call_id"], _text_of(message["content"])))
            elif message["role"] == "user":
                turns.append(("user", _text_of(message["content"])))
            for call in message.get("tool_calls") or []:
                turns.append(("call", call["id"], call["function"]["name"],
                              json.loads(call["function"]["arguments"])))
    elif provider_format == "anthropic":
        for message in body["messages"]:
            blocks = message["content"]
            if isinstance(blocks, str):
                blocks = [{"type": "text", "text": blocks}]
            for block in blocks:
                if block["type"] == "text":
                    turns.append((message["role"], block["text"]))
                elif block["type"] == "tool_use":
                    turns.append(("call", block["id"], block["name"], block["input"]))
                elif block["type"] == "tool_result":
                    turns.append(("result", block["tool_use_id"], _text_of(block["content"])))
    else:
        items = body["input"]
        for item in [{"role": "user", "content": items}] if isinstance(items, str) else items:
            if item.get("type") == "function_call":
                turns.append(("call", item["call_id"], item["name"],
                              json.loads(item["arguments"])))
            elif item.get("type") == "function_call_output":
                turns.append(("result", item["call_id"], _text_of(item["output"])))
            else:
                turns.append((item["role"], _text_of(item["content"])))
    return turns


@pytest.mark.parametrize(("client_format", "provider_name"), PAIRS)
def test_tool_result_reaches_the_provider(client_format: str, provider_name: str,
                                          proxy: MitmllmProcess,
                                          providers: dict[str, FakeProvider]) -> None:
    """The second turn of tool use: the call and its result, sent in the client's format,
    reach the provider as the same call id, arguments and result in its format."""
    provider_format = FORMATS[provider_name]
    providers[provider_name].reply(ENDPOINTS[provider_format],
                                   provider_reply(provider_name, "whole", "text"))
    model = f"{provider_name}/{MODELS[provider_name]}"
    turns = ROUND_TRIP[client_format]
    if client_format == "anthropic":
        answer = _from_message(anthropic_client(proxy).messages.create(
            model=model, max_tokens=256, messages=turns, tools=TOOLS["anthropic"]))
    elif client_format == "responses":
        answer = _from_response(openai_client(proxy).responses.create(
            model=model, input=turns, tools=TOOLS["responses"]))
    else:
        completion = openai_client(proxy).chat.completions.create(
            model=model, messages=turns, tools=TOOLS["chat"])
        answer = Seen(completion.choices[0].message.content or "", (), None, None)
    assert answer.text == source_outcome(provider_name, "whole", "text").text
    received = providers[provider_name].requests_to(ENDPOINTS[provider_format])[-1].json()
    assert conversation(provider_format, received) == [
        ("user", PROMPT), ("call", CALL_ID, "get_weather", {"location": "Paris"}),
        ("result", CALL_ID, RESULT)]
    assert tool_names(provider_format, received) == ["get_weather"]


# --- reasoning, and the beta Messages API Claude Code uses ---------------------------------

def _openai_stream_with_reasoning() -> str:
    """stream_40 with DeepSeek-style `reasoning_content` deltas before its text."""
    events = sse_events(vector("stream_40")["openai_sse"])
    first = json.loads(events[0][1])
    thoughts = []
    for piece in ("The user wants", " the weather."):
        chunk = copy.deepcopy(first)
        chunk["choices"][0]["delta"] = {"reasoning_content": piece}
        thoughts.append(f"data: {json.dumps(chunk)}\n\n")
    rest = "".join(f"data: {data}\n\n" for _, data in events[1:])
    return f"data: {events[0][1]}\n\n" + "".join(thoughts) + rest


def _reasoning_of(provider_name: str, text: str) -> str:
    pieces = []
    for _, data in sse_events(text):
        if data == "[DONE]":
            continue
        event = json.loads(data)
        if provider_name == "anth" and event["type"] == "content_block_delta":
            pieces.append(event["delta"].get("thinking", ""))
        elif provider_name == "oai":
            pieces += [c["delta"].get("reasoning_content") or "" for c in event["choices"]]
    return "".join(pieces)


def _anthropic_stream_with_thinking() -> str:
    """stream_28 (a docs excerpt) with the usage every real stream has, which the anthropic
    SDK's accumulator needs."""
    def edit(event: dict[str, Any]) -> None:
        if event["type"] == "message_start":
            event["message"]["usage"] = {"input_tokens": 40, "output_tokens": 1}
        elif event["type"] == "message_delta":
            event["usage"] = {"output_tokens": 120}
    return _edit_stream(vector("stream_28")["anthropic_sse"], edit)


REASONING_SOURCES = {"anth": _anthropic_stream_with_thinking,
                     "oai": _openai_stream_with_reasoning}


@pytest.mark.parametrize("client_format", list(RUNNERS))
@pytest.mark.parametrize("provider_name", list(REASONING_SOURCES))
def test_reasoning_reaches_the_client(provider_name: str, client_format: str,
                                      proxy: MitmllmProcess,
                                      providers: dict[str, FakeProvider]) -> None:
    """Thinking streamed by the provider arrives as the client format's reasoning: a
    `thinking` block, a Responses `reasoning` item's summary, or `reasoning_content`."""
    source = REASONING_SOURCES[provider_name]()
    expected_reasoning = _reasoning_of(provider_name, source)
    expected = READERS[provider_name, "stream"](source)
    assert expected_reasoning and expected.text
    providers[provider_name].reply(ENDPOINTS[FORMATS[provider_name]], Sse(sse_lines(source)))
    model = f"{provider_name}/{MODELS[provider_name]}"
    if client_format == "anthropic":
        with anthropic_client(proxy).messages.stream(
                model=model, max_tokens=4096, messages=[{"role": "user", "content": "Hi"}],
                thinking={"type": "enabled", "budget_tokens": 2048}) as stream:
            message = stream.get_final_message()
        assert [block.type for block in message.content] == ["thinking", "text"]
        reasoning = message.content[0].thinking  # type: ignore[union-attr]
        text = _from_message(message).text
    elif client_format == "responses":
        with openai_client(proxy).responses.stream(model=model, input="Hi") as stream:
            response = stream.get_final_response()
        assert [item.type for item in response.output] == ["reasoning", "message"]
        reasoning = "".join(part.text for part in response.output[0].summary)  # type: ignore
        text = response.output_text
    else:
        chunks = list(openai_client(proxy).chat.completions.create(
            model=model, stream=True, messages=[{"role": "user", "content": "Hi"}]))
        deltas = [choice.delta for chunk in chunks for choice in chunk.choices]
        reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
        text = "".join(d.content or "" for d in deltas)
    assert (reasoning, text) == (expected_reasoning, expected.text)


@pytest.mark.parametrize("provider_name", list(FORMATS))
def test_beta_messages_stream_like_claude_code(provider_name: str, proxy: MitmllmProcess,
                                               providers: dict[str, FakeProvider]) -> None:
    """Claude Code calls `client.beta.messages` (`POST /v1/messages?beta=true`) with beta
    flags: it works against every provider format; the flags reach Anthropic only."""
    provider_format = FORMATS[provider_name]
    providers[provider_name].reply(ENDPOINTS[provider_format],
                                   provider_reply(provider_name, "stream", "tools"))
    expected = source_outcome(provider_name, "stream", "tools")
    with anthropic_client(proxy).beta.messages.stream(
            model=f"{provider_name}/{MODELS[provider_name]}", max_tokens=1024,
            messages=[{"role": "user", "content": PROMPT}], tools=TOOLS["anthropic"],
            betas=["interleaved-thinking-2025-05-14"]) as stream:
        message = stream.get_final_message()
    assert "".join(b.text for b in message.content if b.type == "text") == expected.text
    assert tuple((b.id, b.name, b.input) for b in message.content
                 if b.type == "tool_use") == expected.calls
    assert message.stop_reason == "tool_use"
    received = providers[provider_name].requests_to(ENDPOINTS[provider_format])[-1]
    if provider_format == "anthropic":
        assert received.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    else:
        assert "anthropic-beta" not in received.headers


# --- the event grammar strict clients rely on ----------------------------------------------

def check_anthropic_grammar(events: list[tuple[str | None, str]]) -> None:
    """docs/formats.md#chat-stream-to-anthropic: message_start; per block start, deltas of
    its kind, stop, with indexes from 0; one message_delta with the stop reason and usage;
    message_stop."""
    payloads = [json.loads(data) for _, data in events]
    assert [name for name, _ in events] == [p["type"] for p in payloads]
    types = [p["type"] for p in payloads if p["type"] != "ping"]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert types.count("message_delta") == 1
    start = payloads[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["role"] == "assistant"
    assert isinstance(start["usage"]["input_tokens"], int)
    delta_kinds = {"text": "text_delta", "tool_use": "input_json_delta",
                   "thinking": "thinking_delta"}
    open_block: dict[str, Any] | None = None
    count = 0
    for payload in payloads[1:]:
        kind = payload["type"]
        if kind == "content_block_start":
            assert open_block is None, "a block opened before the previous one was stopped"
            assert payload["index"] == count
            open_block, count = payload, count + 1
        elif kind == "content_block_delta":
            assert open_block is not None and payload["index"] == open_block["index"]
            assert payload["delta"]["type"] == delta_kinds[open_block["content_block"]["type"]]
        elif kind == "content_block_stop":
            assert open_block is not None and payload["index"] == open_block["index"]
            open_block = None
        elif kind == "message_delta":
            assert open_block is None, "message_delta with a block still open"
            assert isinstance(payload["delta"]["stop_reason"], str)
            assert {"input_tokens", "output_tokens"} <= set(payload["usage"])
        else:
            assert kind in ("ping", "message_stop"), kind


def check_responses_grammar(events: list[tuple[str | None, str]]) -> None:
    """docs/formats.md#chat-stream-to-responses and the Open Responses spec: `event` equals
    `type`, sequence numbers count from 0, created and in_progress first, each item added,
    filled and done before the next one starts, `...done` events repeat the whole text, a
    terminal event whose output lists the items, then `[DONE]`."""
    assert events[-1][1] == "[DONE]"
    payloads = [json.loads(data) for _, data in events[:-1]]
    assert [name for name, _ in events[:-1]] == [p["type"] for p in payloads]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    types = [p["type"] for p in payloads]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] in ("response.completed", "response.incomplete")
    response_ids = {p["response"]["id"] for p in payloads if "response" in p}
    assert len(response_ids) == 1
    assert payloads[0]["response"]["status"] == "in_progress"
    item: dict[str, Any] | None = None
    done_items: list[dict[str, Any]] = []
    text = arguments = ""
    for payload in payloads[2:-1]:
        kind = payload["type"]
        if kind == "response.output_item.added":
            assert item is None, "an item started before the previous one was done"
            assert payload["output_index"] == len(done_items)
            item, text, arguments = payload["item"], "", ""
            assert item["status"] == "in_progress"
            continue
        assert item is not None, kind
        if "item_id" in payload:
            assert payload["item_id"] == item["id"]
        if "output_index" in payload:
            assert payload["output_index"] == len(done_items)
        if kind == "response.output_text.delta":
            text += payload["delta"]
        elif kind == "response.output_text.done":
            assert payload["text"] == text
        elif kind == "response.content_part.done":
            assert payload["part"]["text"] == text
        elif kind == "response.function_call_arguments.delta":
            arguments += payload["delta"]
        elif kind == "response.function_call_arguments.done":
            assert payload["arguments"] == arguments
        elif kind == "response.output_item.done":
            done = payload["item"]
            assert done["id"] == item["id"] and done["type"] == item["type"]
            if done["type"] == "message":
                assert "".join(p["text"] for p in done["content"]) == text
            elif done["type"] == "function_call":
                assert done["arguments"] == arguments and done["call_id"] == item["call_id"]
            done_items.append(done)
            item = None
    assert item is None, "the stream ended with an item still open"
    final = payloads[-1]["response"]
    assert final["status"] == types[-1].removeprefix("response.")
    assert [i["id"] for i in final["output"]] == [i["id"] for i in done_items]
    if final["status"] == "incomplete":
        assert final["output"][-1]["status"] == "incomplete"
        assert final["incomplete_details"]["reason"] == "max_output_tokens"
    assert final["usage"]["total_tokens"] == (final["usage"]["input_tokens"]
                                              + final["usage"]["output_tokens"])


GRAMMAR = [pytest.param(client_format, provider_name, kind,
                        id=f"{client_format}-from-{provider_name}-{kind}")
           for client_format, providers_ in (("anthropic", ("oai", "resp")),
                                             ("responses", ("oai", "anth")))
           for provider_name in providers_ for kind in KINDS]


@pytest.mark.parametrize(("client_format", "provider_name", "kind"), GRAMMAR)
def test_translated_stream_follows_the_client_grammar(
        client_format: str, provider_name: str, kind: str, proxy: MitmllmProcess,
        providers: dict[str, FakeProvider]) -> None:
    """The Python SDKs forgive some mistakes; Claude Code's and Codex's parsers may not."""
    providers[provider_name].reply(ENDPOINTS[FORMATS[provider_name]],
                                   provider_reply(provider_name, "stream", kind))
    model = f"{provider_name}/{MODELS[provider_name]}"
    with httpx.stream("POST", proxy.url + CLIENT_PATHS[client_format], timeout=TIMEOUT,
                      json=_raw_request(client_format, model)) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = sse_events(answer.read().decode())
    if client_format == "anthropic":
        check_anthropic_grammar(events)
    else:
        check_responses_grammar(events)


# --- what only the client's own format can express ------------------------------------------

UNTRANSLATABLE = {
    # client format: (the request's extra fields, the field the 400 must name)
    "anthropic": ({"stop_sequences": ["a", "b", "c", "d", "e"]}, "stop_sequences"),
    "responses": ({"previous_response_id": "resp_0123"}, "previous_response_id"),
}


@pytest.mark.parametrize(("client_format", "provider_name"), [
    pytest.param(c, p, id=f"{c}-to-{p}") for c in UNTRANSLATABLE for p in FORMATS])
def test_untranslatable_field_is_a_400_or_passes_through(
        client_format: str, provider_name: str, proxy: MitmllmProcess,
        providers: dict[str, FakeProvider]) -> None:
    """A field the provider's format cannot express is a 400 in the client's shape naming
    it; a provider of the client's own format gets it as sent."""
    extra, field = UNTRANSLATABLE[client_format]
    provider_format = FORMATS[provider_name]
    same = ("anthropic" if client_format == "anthropic" else "responses") == provider_format
    before = len(providers[provider_name].requests)
    if same:
        providers[provider_name].reply(ENDPOINTS[provider_format],
                                       provider_reply(provider_name, "whole", "text"))
    model = f"{provider_name}/{MODELS[provider_name]}"

    def call() -> None:
        if client_format == "anthropic":
            anthropic_client(proxy).messages.create(
                model=model, max_tokens=64, messages=[{"role": "user", "content": "Hi"}],
                **extra)
        else:
            openai_client(proxy).responses.create(model=model, input="Hi", **extra)

    if same:
        call()
        assert providers[provider_name].requests[-1].json()[field] == extra[field]
        return
    if (client_format, provider_format) == ("anthropic", "responses"):
        # Responses has no stop sequences at all: they are dropped, not counted against
        # Chat's limit of 4 (docs/formats.md#dropped-and-refused).
        providers[provider_name].reply(ENDPOINTS[provider_format],
                                       provider_reply(provider_name, "whole", "text"))
        call()
        sent = providers[provider_name].requests[-1].json()
        assert "stop" not in sent and field not in sent
        return
    errors = (anthropic.BadRequestError if client_format == "anthropic"
              else openai.BadRequestError)
    with pytest.raises(errors) as caught:
        call()
    body = caught.value.response.json()
    if client_format == "anthropic":
        assert _is_anthropic_error(body) and body["error"]["type"] == "invalid_request_error"
    else:
        assert _is_openai_error(body) and body["error"]["param"] == field
    assert field in body["error"]["message"]
    assert len(providers[provider_name].requests) == before  # nothing went upstream


def test_count_tokens_without_v1(proxy: MitmllmProcess,
                                 providers: dict[str, FakeProvider]) -> None:
    providers["anth"].reply("/messages/count_tokens", Json(200, {"input_tokens": 17}))
    answer = httpx.post(proxy.url + "/messages/count_tokens", timeout=TIMEOUT, json={
        "model": "anth/claude-x", "messages": [{"role": "user", "content": "Hi"}]})
    assert answer.status_code == 200 and answer.json() == {"input_tokens": 17}
    received = providers["anth"].requests_to("/messages/count_tokens")[-1]
    assert received.json()["model"] == "claude-x"
    assert received.headers["x-api-key"] == KEYS["anth"]


def test_concurrent_streams_of_every_pair_stay_apart(proxy: MitmllmProcess,
                                                    providers: dict[str, FakeProvider]) -> None:
    """All nine pairs streaming at once, their events interleaved: each client gets its own
    provider's answer, whole (every flow has its own translator state)."""
    for provider_name, provider in providers.items():
        for _ in RUNNERS:
            source = SOURCES[provider_name, "stream", "tools"]()
            provider.reply(ENDPOINTS[FORMATS[provider_name]],
                           Sse(sse_lines(source), delay=0.01))
    pairs = [(c, p) for c in RUNNERS for p in FORMATS]
    with ThreadPoolExecutor(len(pairs)) as pool:
        futures = {pair: pool.submit(RUNNERS[pair[0]], proxy,
                                     f"{pair[1]}/{MODELS[pair[1]]}", True, True)
                   for pair in pairs}
        seen = {pair: future.result(timeout=30) for pair, future in futures.items()}
    for (client_format, provider_name), result in seen.items():
        expected = source_outcome(provider_name, "stream", "tools")
        assert (result.text, result.calls, result.stop, result.usage) == (
            expected.text, expected.calls, expected_stop(client_format, expected.finish),
            expected.usage), (client_format, provider_name)
