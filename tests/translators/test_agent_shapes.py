"""The tool and reasoning shapes coding agents use, at the edges: namespaced and freeform
calls coming back (whole and streamed), tool choices that name dropped tools, hosted tool
history, a conversation moving to an Anthropic model, reasoning carried only in
OpenRouter's details (docs/formats.md#tools, docs/formats.md#reasoning)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mitmllm.translators import hub
from mitmllm.translators.anthropic.client_request import anthropic_request_to_chat
from mitmllm.translators.chat.types import RequestOptions
from mitmllm.translators.reasoning import seal
from mitmllm.translators.responses.client_request import responses_request_to_chat
from mitmllm.translators.sse import SSEEvent

CODEX_TOOLS = [
    {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents.",
     "tools": [{"type": "function", "name": "wait_agent", "parameters": {"type": "object"}},
               {"type": "custom", "name": "script"}]},
    {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark",
                                                         "definition": "start: x"}},
]
REQUEST = {"model": "m", "input": "go", "tools": CODEX_TOOLS, "stream": True}


def chunk(delta: dict[str, Any], finish: str | None = None) -> SSEEvent:
    return SSEEvent(json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1,
                                "model": "m", "choices": [{"index": 0, "delta": delta,
                                                           "finish_reason": finish}]}))


def call(index: int, name: str, arguments: str, call_id: str | None = None) -> dict[str, Any]:
    tool: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id:
        tool.update(id=call_id, type="function")
        tool["function"]["name"] = name
    return {"tool_calls": [tool]}


def stream_to_responses(chunks: list[SSEEvent]) -> list[dict[str, Any]]:
    translator = hub.stream_translator("responses", "openai", REQUEST, model="m")
    out: list[SSEEvent] = []
    for event in [*chunks, SSEEvent("[DONE]")]:
        out += translator.feed(event)
    return [json.loads(e.data) for e in out if e.data != "[DONE]"]


def test_streamed_namespaced_and_freeform_calls_come_back_as_the_client_declared_them() -> None:
    events = stream_to_responses([
        chunk({"role": "assistant", "content": ""}),
        chunk(call(0, "multi_agent_v1__wait_agent", '{"t":', "call_1")),
        chunk(call(0, "", "1}")),
        chunk(call(1, "apply_patch", '{"input": "*** Begin', "call_2")),
        chunk(call(1, "", ' Patch"}')),
        chunk(call(2, "multi_agent_v1__script", '{"input": "x"}', "call_3")),
        chunk({}, "tool_calls")])
    done = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert {k: done[0][k] for k in ("type", "name", "namespace", "arguments")} == {
        "type": "function_call", "name": "wait_agent", "namespace": "multi_agent_v1",
        "arguments": '{"t":1}'}
    assert (done[1]["type"], done[1]["name"], done[1]["input"]) == (
        "custom_tool_call", "apply_patch", "*** Begin Patch")
    assert (done[2]["type"], done[2]["namespace"], done[2]["input"]) == (
        "custom_tool_call", "multi_agent_v1", "x")
    (arguments_done,) = [e for e in events
                         if e["type"] == "response.function_call_arguments.done"]
    assert arguments_done["name"] == "wait_agent"  # the client's name, not the flattened one
    assert [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"
            ] == ["*** Begin Patch", "x"]


def test_an_empty_freeform_call_has_empty_text() -> None:
    answer = {"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": [{
        "index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "apply_patch", "arguments": ""}}]}}]}
    (item,) = hub.translate_response("responses", "openai", answer, REQUEST)["output"]
    assert (item["type"], item["input"]) == ("custom_tool_call", "")


def test_allowed_tools_naming_dropped_tools_are_listed_and_may_drop_the_choice() -> None:
    body = {"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"},
                                                   {"type": "web_search"}],
            "tool_choice": {"type": "allowed_tools", "mode": "required",
                            "tools": [{"type": "function", "name": "f"},
                                      {"type": "web_search"}]}}
    translated = responses_request_to_chat(body)
    assert translated.body["tool_choice"]["allowed_tools"]["tools"] == [
        {"type": "function", "function": {"name": "f"}}]
    assert "tool_choice.tools[1] (it names a tool that was dropped)" in translated.dropped
    only_hosted = {**body, "tool_choice": {"type": "allowed_tools",
                                           "tools": [{"type": "web_search"}]}}
    assert "tool_choice" not in responses_request_to_chat(only_hosted).body


def test_hosted_call_outputs_in_the_history_go_with_their_calls() -> None:
    translated = responses_request_to_chat({"model": "m", "input": [
        {"role": "user", "content": "x"},
        {"type": "local_shell_call", "id": "ls_1", "call_id": "c1", "status": "completed",
         "action": {"type": "exec", "command": ["ls"]}},
        {"type": "local_shell_call_output", "id": "lso_1", "call_id": "c1", "output": "a"}]})
    assert translated.body["messages"] == [{"role": "user", "content": "x"}]
    assert len(translated.dropped) == 2


def test_five_stop_sequences_are_refused_only_toward_chat() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
            "stop_sequences": ["1", "2", "3", "4", "5"]}
    assert "stop" not in hub.translate_request("anthropic", "responses", body).body
    assert anthropic_request_to_chat(body, RequestOptions(target="responses")).body["stop"]


def test_a_conversation_moving_to_anthropic_sheds_sealed_thinking() -> None:
    sealed = seal([], "reasoning_content")
    body = {"model": "claude", "max_tokens": 2000,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": "x"},
                         {"role": "assistant", "content": [
                             {"type": "thinking", "thinking": "t", "signature": sealed},
                             {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
                         {"role": "user", "content": [{"type": "tool_result",
                                                       "tool_use_id": "t1", "content": "ok"}]}]}
    raw = json.dumps(body).encode()
    repaired = hub.repair_passthrough("anthropic", body, raw)
    assert repaired is not None
    out, changes = repaired
    assert [b["type"] for b in out["messages"][1]["content"]] == ["tool_use"]
    assert "thinking" not in out  # the continued tool turn has no thinking block left
    assert len(changes) == 2
    # An ordinary request goes on byte for byte.
    plain = {"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    assert hub.repair_passthrough("anthropic", plain, json.dumps(plain).encode()) is None


@pytest.mark.parametrize("last", [5, {"role": "user"}, {"role": "user", "content": [5]},
                                  {"content": [{"type": "tool_result"}]}])
def test_sealed_thinking_is_shed_whatever_the_last_message_looks_like(last: Any) -> None:
    # Found by test_properties_bodies.py: the check for a continued tool turn read the
    # client's last message as a well-formed one (TypeError, KeyError, AttributeError).
    assistant = {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "t", "signature": seal([], None)}]}
    body = {"model": "claude", "max_tokens": 2000,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": "x"}, assistant, last]}
    repaired = hub.repair_passthrough("anthropic", body, json.dumps(body).encode())
    assert repaired is not None
    out, _changes = repaired
    assert out["messages"][1]["content"] == [] and out["thinking"] == body["thinking"]


def test_reasoning_carried_only_in_details_is_shown_whole() -> None:
    details = [{"type": "reasoning.text", "text": part, "format": "unknown", "index": 0}
               for part in ("Let me ", "think.")]
    translator = hub.stream_translator("anthropic", "openai", {"model": "m"}, model="m")
    out: list[SSEEvent] = []
    for event in [chunk({"role": "assistant", "content": ""}),
                  chunk({"reasoning_details": [details[0]]}),
                  chunk({"reasoning_details": [details[1]]}),
                  chunk({"content": "Hi"}), chunk({}, "stop"), SSEEvent("[DONE]")]:
        out += translator.feed(event)
    thinking = "".join(json.loads(e.data)["delta"].get("thinking", "") for e in out
                       if e.event == "content_block_delta")
    assert thinking == "Let me think."
