"""Reasoning survives a tool loop in every pairing where the provider needs it back
(docs/formats.md#reasoning): the answer gives the client something to send back, and the
next request, translated, gives the provider exactly what it produced."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mitmllm.translators import hub
from mitmllm.translators.chat.types import RequestOptions
from mitmllm.translators.formats import Format
from mitmllm.translators.reasoning import ReasoningMemory, seal, unseal
from mitmllm.translators.sse import SSEDecoder, SSEEvent, encode

SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"
ENCRYPTED = "gAAAAABoXk-encrypted-by-the-provider"
TOOL = {"type": "function", "function": {"name": "ls", "parameters": {"type": "object"}}}


def anthropic_answer() -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "thinking", "thinking": "I should list.",
                         "signature": SIGNATURE},
                        {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 5, "output_tokens": 7}}


def responses_answer() -> dict[str, Any]:
    return {"id": "resp_1", "object": "response", "status": "completed", "model": "gpt",
            "output": [{"type": "reasoning", "id": "rs_1",
                        "summary": [{"type": "summary_text", "text": "List it."}],
                        "encrypted_content": ENCRYPTED},
                       {"type": "function_call", "id": "fc_1", "call_id": "call_1",
                        "name": "ls", "arguments": "{}"}],
            "usage": {"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}}


def chat_answer(**reasoning: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "ds",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": None, **reasoning,
                "tool_calls": [{"id": "call_1", "type": "function",
                                "function": {"name": "ls", "arguments": "{}"}}]}}]}


# -- what each client sends back on its next request ------------------------------------------


def next_request(client: Format, answer: dict[str, Any]) -> dict[str, Any]:
    """The client's follow-up: its own request, the answer as it echoes it, the tool result."""
    if client == "anthropic":
        call = next(b for b in answer["content"] if b["type"] == "tool_use")
        return {"model": "m", "max_tokens": 100, "thinking": {"type": "enabled",
                                                              "budget_tokens": 1024},
                "tools": [{"name": "ls", "input_schema": {"type": "object"}}],
                "messages": [{"role": "user", "content": "list"},
                             {"role": "assistant", "content": answer["content"]},
                             {"role": "user", "content": [{"type": "tool_result",
                                                           "tool_use_id": call["id"],
                                                           "content": "a.txt"}]}]}
    if client == "responses":
        call = next(i for i in answer["output"] if i["type"] == "function_call")
        return {"model": "m", "reasoning": {"effort": "high"}, "store": False,
                "tools": [{"type": "function", "name": "ls", "parameters": {"type": "object"}}],
                "input": [{"role": "user", "content": "list"}, *answer["output"],
                          {"type": "function_call_output", "call_id": call["call_id"],
                           "output": "a.txt"}]}
    message = answer["choices"][0]["message"]
    return {"model": "m", "reasoning_effort": "high", "tools": [TOOL],
            "messages": [{"role": "user", "content": "list"}, message,
                         {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"],
                          "content": "a.txt"}]}


def round_trip(client: Format, provider: Format, answer: dict[str, Any],
               options: RequestOptions | None = None,
               echo: Any = None) -> dict[str, Any]:
    """The provider's answer to the client, then the client's next request to the provider."""
    options = options or RequestOptions()
    to_client = hub.translate_response(client, provider, answer, {"model": "m"},
                                       memory=options.memory)
    if echo is not None:
        to_client = echo(to_client)
    return hub.translate_request(client, provider, next_request(client, to_client),
                                 options).body


def last_assistant(body: dict[str, Any]) -> Any:
    return [m for m in body["messages"] if m["role"] == "assistant"][-1]


# -- Anthropic providers want their signed thinking back ---------------------------------------


@pytest.mark.parametrize("client", ["openai", "responses"])
def test_anthropic_thinking_comes_back_signed(client: Format) -> None:
    body = round_trip(client, "anthropic", anthropic_answer())
    assert last_assistant(body)["content"][0] == {
        "type": "thinking", "thinking": "I should list.", "signature": SIGNATURE}
    assert body["thinking"]["type"] == "enabled"  # the tool loop keeps thinking


def test_a_chat_client_that_drops_unknown_fields_gets_the_block_restored() -> None:
    def forget(answer: dict[str, Any]) -> dict[str, Any]:
        message = answer["choices"][0]["message"]
        for key in ("reasoning_details", "thinking_blocks", "reasoning_content"):
            message.pop(key, None)
        return answer

    memory = ReasoningMemory()
    body = round_trip("openai", "anthropic", anthropic_answer(), RequestOptions(memory=memory),
                      echo=forget)
    assert last_assistant(body)["content"][0]["signature"] == SIGNATURE
    # Without the memory the block is gone, and thinking goes rather than a 400.
    body = round_trip("openai", "anthropic", anthropic_answer(), echo=forget)
    assert last_assistant(body)["content"][0]["type"] == "tool_use"
    assert "thinking" not in body


# -- Responses providers want their encrypted reasoning items back -----------------------------


@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_responses_reasoning_comes_back_encrypted(client: Format) -> None:
    body = round_trip(client, "responses", responses_answer())
    reasoning = [i for i in body["input"] if i.get("type") == "reasoning"]
    assert reasoning == [{"type": "reasoning", "id": "rs_1",
                          "summary": [{"type": "summary_text", "text": "List it."}],
                          "encrypted_content": ENCRYPTED}]
    # Right before the call it belongs to, and asked for again for the next turn.
    index = body["input"].index(reasoning[0])
    assert body["input"][index + 1]["type"] == "function_call"
    assert body["store"] is False and body["include"] == ["reasoning.encrypted_content"]


def test_responses_reasoning_restored_from_memory_for_a_forgetful_chat_client() -> None:
    def forget(answer: dict[str, Any]) -> dict[str, Any]:
        answer["choices"][0]["message"].pop("reasoning_details")
        return answer

    memory = ReasoningMemory()
    body = round_trip("openai", "responses", responses_answer(), RequestOptions(memory=memory),
                      echo=forget)
    assert [i["encrypted_content"] for i in body["input"] if i.get("type") == "reasoning"] == [
        ENCRYPTED]


# -- Chat providers get back only the field they used themselves ------------------------------


@pytest.mark.parametrize("client", ["anthropic", "responses"])
def test_deepseek_style_reasoning_content_comes_back(client: Format) -> None:
    body = round_trip(client, "openai", chat_answer(reasoning_content="Use ls."))
    assistant = last_assistant(body)
    assert assistant["reasoning_content"] == "Use ls."
    assert set(assistant) == {"role", "content", "tool_calls", "reasoning_content"}


@pytest.mark.parametrize("client", ["anthropic", "responses"])
def test_groq_style_reasoning_is_not_sent_back(client: Format) -> None:
    # Groq and Cerebras answer `reasoning` and refuse it (or reasoning_content) back.
    body = round_trip(client, "openai", chat_answer(reasoning="Use ls."))
    assert set(last_assistant(body)) == {"role", "content", "tool_calls"}


@pytest.mark.parametrize("client", ["anthropic", "responses"])
def test_openrouter_reasoning_details_come_back_as_they_were(client: Format) -> None:
    details = [{"type": "reasoning.text", "text": "Use ls.", "signature": SIGNATURE,
                "format": "anthropic-claude-v1", "index": 0}]
    body = round_trip(client, "openai", chat_answer(reasoning="Use ls.",
                                                    reasoning_details=details))
    assistant = last_assistant(body)
    assert assistant["reasoning_details"] == details
    assert "reasoning" not in assistant and "reasoning_content" not in assistant


# -- streams give the client the same thing to send back ---------------------------------------


def sse(events: list[dict[str, Any]]) -> bytes:
    return b"".join(encode(SSEEvent(json.dumps(e), e["type"])) for e in events)


def anthropic_stream() -> bytes:
    return sse([
        {"type": "message_start", "message": {"id": "msg_1", "type": "message",
                                              "role": "assistant", "model": "claude",
                                              "content": [], "usage": {"input_tokens": 5}}},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "thinking_delta", "thinking": "I should list."}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "signature_delta", "signature": SIGNATURE}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
         "usage": {"output_tokens": 7}},
        {"type": "message_stop"}])


def streamed(client: Format, provider: Format, raw: bytes,
             memory: ReasoningMemory | None = None) -> list[dict[str, Any]]:
    translator = hub.stream_translator(client, provider, {"model": "m", "stream": True},
                                       model="m", memory=memory)
    out: list[SSEEvent] = []
    for event in SSEDecoder().decode(raw) + SSEDecoder().flush():
        out += translator.feed(event)
    out += translator.finish()
    return [json.loads(e.data) for e in out if e.data != "[DONE]"]


def test_streamed_anthropic_thinking_reaches_a_responses_client_sealed() -> None:
    events = streamed("responses", "anthropic", anthropic_stream())
    (item,) = [e["item"] for e in events if e["type"] == "response.output_item.done"
               and e["item"]["type"] == "reasoning"]
    sealed = unseal(item["encrypted_content"])
    assert sealed is not None
    assert [d.get("signature") for d in sealed.details] == [SIGNATURE]


def test_streamed_anthropic_thinking_is_remembered_for_chat_clients() -> None:
    memory = ReasoningMemory()
    chunks = streamed("openai", "anthropic", anthropic_stream(), memory)
    assert any("reasoning_details" in c["choices"][0]["delta"] for c in chunks if c["choices"])
    recalled = memory.recall(["toolu_1"])
    assert recalled is not None and recalled[0][0]["signature"] == SIGNATURE


def test_seal_round_trips_and_rejects_strangers() -> None:
    details = [{"type": "reasoning.encrypted", "data": "x", "format": "openai-responses-v1"}]
    sealed = unseal(seal(details, "reasoning_content"))
    assert sealed is not None
    assert (sealed.details, sealed.dialect) == (details, "reasoning_content")
    assert unseal(SIGNATURE) is None
    assert unseal("mitmllm.r1.!!!") is None
    assert unseal(None) is None


def test_reasoning_details_whose_id_is_not_a_string_go_to_responses_without_one() -> None:
    # A Chat client's reasoning_details with `"id": []` used to be a dict key (TypeError:
    # unhashable type) in to_responses_items.
    details = [{"type": "reasoning.encrypted", "data": "x", "format": "openai-responses-v1",
                "id": []}]
    body = {"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "x", "reasoning_details": details},
        {"role": "user", "content": "go on"}]}
    items = hub.translate_request("openai", "responses", body).body["input"]
    assert {"type": "reasoning", "summary": [], "encrypted_content": "x"} in items


@pytest.mark.parametrize("shape", [{"summary": 5}, {"content": True},
                                   {"summary": "text", "content": 0.5}])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_reasoning_item_whose_parts_are_not_lists_is_read_without_them(
        shape: dict[str, Any], provider: Format) -> None:
    # Found by test_properties_bodies.py: a `summary` or `content` that was not a list was
    # iterated (TypeError: object is not iterable).
    body = {"model": "m", "input": [
        {"role": "user", "content": "hi"},
        {"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAA", **shape},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"}]}
    translated = hub.translate_request("responses", provider, body).body
    assert translated["messages"][1]["role"] == "assistant"


def test_memory_is_bounded() -> None:
    memory = ReasoningMemory(size=2)
    for n in range(3):
        memory.remember([f"call_{n}"], [{"type": "reasoning.text", "text": str(n)}], None)
    assert memory.recall(["call_0"]) is None
    assert memory.recall(["call_2"]) is not None
