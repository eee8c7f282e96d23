"""Anthropic provider answer -> hub: a Messages answer as an OpenAI Chat answer, streamed or
whole.

`AnthropicToChatStream` is the per-answer state machine for a streamed Anthropic answer
(docs/formats.md#anthropic-stream-to-chat): one chunk per upstream delta, the finish chunk,
the usage chunk when the client asked for it, then `[DONE]`. `anthropic_response_to_chat`
translates a whole Message (docs/formats.md#whole-answers). Both read the same stop-reason
and usage tables, so both paths report the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..chat.types import (
    ChatCompletion,
    ChatMessage,
    ChunkEnvelope,
    FinishReason,
    ToolCall,
    new_completion_id,
)
from ..errors import ErrorInfo, UpstreamFormatError, anthropic_event_error, chat_error_frame
from ..json_values import compact_json
from ..reasoning import Detail, ReasoningMemory, from_anthropic_blocks
from ..sse import DONE, SSEEvent, json_event
from ..stop_reasons import finish_reason_from_anthropic
from ..stream import StreamTranslator
from ..usage import anthropic_usage_to_chat


@dataclass(kw_only=True, slots=True)
class AnthropicToChatStream(StreamTranslator):
    """One streamed Anthropic answer, as OpenAI chunks for the hub.

    `thinking_blocks=True` adds LiteLLM's `delta.thinking_blocks` extension carrying each
    thinking block's signature (stream_28 `optional_extension_chunks`), which a client needs
    to replay thinking on a tool-use continuation (docs/formats.md#reasoning). Off by
    default: it is not OpenAI.
    """

    include_usage: bool
    thinking_blocks: bool = False
    memory: ReasoningMemory | None = None
    envelope: ChunkEnvelope | None = field(default=None, init=False)
    # OpenAI counts tool calls only, not content blocks (litellm#21331).
    tool_index: int = field(default=-1, init=False)
    block_tool: dict[int, int] = field(default_factory=dict, init=False)  # block -> tool
    blocks_with_args: set[int] = field(default_factory=set, init=False)
    usage: dict[str, Any] = field(default_factory=dict, init=False)
    finish_sent: bool = field(default=False, init=False)
    # Reasoning a client must send back (docs/formats.md#reasoning): each thinking block
    # as a detail, emitted whole as `reasoning_details` when the block ends.
    thinking: dict[int, Detail] = field(default_factory=dict, init=False)
    details: list[Detail] = field(default_factory=list, init=False)
    call_ids: list[str] = field(default_factory=list, init=False)

    # Anthropic sends no [DONE]; a compatible server's stray one is not an end: only
    # message_stop is (a missing one is reported by `on_eof`). `ping` and unknown event
    # types are ignored (docs/formats.md#server-sent-events).

    def on_eof(self) -> list[SSEEvent]:
        # EOF before message_stop is an error, not a silent truncation.
        return self.fail(ErrorInfo(502, "the upstream stream ended before message_stop",
                                   type="api_error", origin="anthropic"))

    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        return [chat_error_frame(error)]

    def _chunk(self, delta: dict[str, Any],
               finish: FinishReason | None = None) -> SSEEvent:
        return json_event(self._envelope().chunk(delta, finish))

    def _text_chunk(self, key: str, text: Any) -> SSEEvent:
        if type(text) is not str:
            return self._chunk({key: text})  # whatever it is, as the general path writes it
        return SSEEvent(self._envelope().delta_json(key, text))

    def _envelope(self) -> ChunkEnvelope:
        if self.envelope is None:
            self.envelope = ChunkEnvelope()
        return self.envelope

    def _start(self, message: dict[str, Any]) -> list[SSEEvent]:
        """The role chunk (docs/formats.md#anthropic-stream-to-chat); also sent if a stream
        skips message_start."""
        if self.envelope is not None:
            return []
        model = message.get("model")
        envelope = ChunkEnvelope(model=model if isinstance(model, str) else "")
        msg_id = message.get("id")
        if isinstance(msg_id, str) and msg_id:
            # The upstream id correlates client and logs (docs/formats.md#anthropic-stream-to-chat).
            envelope.id = msg_id
        self.envelope = envelope
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_message_start(self, payload: dict[str, Any]) -> list[SSEEvent]:
        message = payload.get("message") or {}
        self._merge_usage(message.get("usage"))
        return self._start(message)

    def _on_block_start(self, payload: dict[str, Any]) -> list[SSEEvent]:
        out = self._start({})
        index: int = payload["index"]
        block: dict[str, Any] = payload["content_block"]
        kind = block.get("type")
        if kind == "tool_use":
            self.tool_index += 1
            self.block_tool[index] = self.tool_index
            call = {"index": self.tool_index, "id": block["id"], "type": "function",
                    "function": {"name": block["name"], "arguments": ""}}
            self.call_ids.append(block["id"])
            out.append(self._chunk({"tool_calls": [call]}))
        elif kind == "text" and block.get("text"):
            out.append(self._chunk({"content": block["text"]}))
        elif kind in ("thinking", "redacted_thinking"):
            detail = from_anthropic_blocks([block])[0] if kind == "thinking" or block.get(
                "data") else None
            if detail is not None:
                detail["index"] = len(self.details) + len(self.thinking)
                self.thinking[index] = detail
            if kind == "thinking" and block.get("thinking"):
                out.append(self._chunk({"reasoning_content": block["thinking"]}))
        # server_tool_use, *_tool_result: no Chat equivalent (docs/formats.md#streams).
        return out

    def _on_block_delta(self, payload: dict[str, Any]) -> list[SSEEvent]:
        out = self._start({})
        index: int = payload["index"]
        delta: dict[str, Any] = payload["delta"]
        kind = delta.get("type")
        if kind == "text_delta" and delta["text"]:
            out.append(self._text_chunk("content", delta["text"]))
        elif kind == "thinking_delta" and delta["thinking"]:
            if index in self.thinking:
                self.thinking[index]["text"] += delta["thinking"]
            out.append(self._text_chunk("reasoning_content", delta["thinking"]))
        elif kind == "input_json_delta" and index in self.block_tool:
            # Fragments go out as they arrive, never repaired; empty ones would only be
            # noise (docs/formats.md#anthropic-stream-to-chat).
            if delta["partial_json"]:
                self.blocks_with_args.add(index)
                out.append(self._tool_args(index, delta["partial_json"]))
        elif kind == "signature_delta":
            if index in self.thinking:
                self.thinking[index]["signature"] = delta["signature"]
            if self.thinking_blocks:
                block = {"type": "thinking", "thinking": "", "signature": delta["signature"]}
                out.append(self._chunk({"thinking_blocks": [block]}))
        return out

    def _on_block_stop(self, payload: dict[str, Any]) -> list[SSEEvent]:
        index: int = payload["index"]
        detail = self.thinking.pop(index, None)
        if detail is not None:
            # The whole block at once, as OpenRouter streams `reasoning_details`: a client
            # that keeps it sends it back, signature and all.
            self.details.append(detail)
            return [self._chunk({"reasoning_details": [detail]})]
        if index in self.block_tool and index not in self.blocks_with_args:
            # Clients JSON.parse the arguments; "" would fail for tools without parameters
            # (docs/formats.md#tools).
            self.blocks_with_args.add(index)
            return [self._tool_args(index, "{}")]
        return []

    def _tool_args(self, block_index: int, fragment: str) -> SSEEvent:
        call = {"index": self.block_tool[block_index], "function": {"arguments": fragment}}
        return self._chunk({"tool_calls": [call]})

    def _on_message_delta(self, payload: dict[str, Any]) -> list[SSEEvent]:
        self._merge_usage(payload.get("usage"))
        stop_reason = (payload.get("delta") or {}).get("stop_reason")
        if stop_reason is None or self.finish_sent:
            return []
        self.finish_sent = True
        return [*self._start({}), self._chunk({}, finish_reason_from_anthropic(stop_reason))]

    def _on_message_stop(self, payload: dict[str, Any]) -> list[SSEEvent]:
        out = self._start({})
        if not self.finish_sent:  # no message_delta carried a stop reason
            self.finish_sent = True
            out.append(self._chunk({}, "tool_calls" if self.tool_index >= 0 else "stop"))
        if self.include_usage and self.usage:
            # Only when asked for, and never invented when upstream sent none (stream_28,
            # docs/formats.md#usage).
            usage = anthropic_usage_to_chat(self.usage)
            out.append(json_event(self._envelope().usage_chunk(usage)))
        out.append(SSEEvent(DONE))
        self.closed = True
        if self.memory is not None and self.call_ids:
            self.memory.remember(self.call_ids, self.details, None)
        return out

    def _on_error(self, payload: dict[str, Any]) -> list[SSEEvent]:
        # One error frame, no finish chunk, no [DONE] (stream_32).
        return self.fail(anthropic_event_error(payload))

    def _merge_usage(self, usage: Any) -> None:
        # message_delta usage is cumulative and may repeat the input side (docs/formats.md#usage):
        # later values override earlier ones.
        if isinstance(usage, dict):
            self.usage.update({k: v for k, v in usage.items() if v is not None})


AnthropicToChatStream.HANDLERS = {
    "message_start": AnthropicToChatStream._on_message_start,
    "content_block_start": AnthropicToChatStream._on_block_start,
    "content_block_delta": AnthropicToChatStream._on_block_delta,
    "content_block_stop": AnthropicToChatStream._on_block_stop,
    "message_delta": AnthropicToChatStream._on_message_delta,
    "message_stop": AnthropicToChatStream._on_message_stop,
    "error": AnthropicToChatStream._on_error,
}


def anthropic_response_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Message as a `chat.completion` (docs/formats.md#whole-answers)."""
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        raise UpstreamFormatError("the Anthropic answer has no content list")
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    calls: list[ToolCall] = []
    for index, block in enumerate(body["content"]):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(_block_text(block, "text", index))
        elif kind == "thinking":
            reasoning.append(_block_text(block, "thinking", index))
            thinking_blocks.append({"type": "thinking", "thinking": block.get("thinking", ""),
                                    "signature": block.get("signature", "")})
        elif kind == "redacted_thinking":
            thinking_blocks.append({"type": "redacted_thinking", "data": block.get("data")})
        elif kind == "tool_use":
            arguments = compact_json(block.get("input") or {})
            calls.append({"id": block.get("id", ""), "type": "function",
                          "function": {"name": block.get("name", ""), "arguments": arguments}})
        # server_tool_use, *_tool_result, container…: left out (docs/formats.md#whole-answers).
    message: ChatMessage = {"role": "assistant", "content": "".join(texts) if texts else None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        # Both conventions of Chat clients for reasoning sent back (docs/formats.md#reasoning):
        # LiteLLM's `thinking_blocks` and OpenRouter's `reasoning_details`.
        message["thinking_blocks"] = thinking_blocks
        message["reasoning_details"] = from_anthropic_blocks(thinking_blocks)
    if calls:
        message["tool_calls"] = calls
    completion: ChatCompletion = {
        "id": body.get("id") or new_completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or "",
        "choices": [{"index": 0, "message": message,
                     "finish_reason": finish_reason_from_anthropic(body.get("stop_reason"))}],
    }
    if isinstance(body.get("usage"), dict):
        completion["usage"] = anthropic_usage_to_chat(body["usage"])
    return dict(completion)


def _block_text(block: dict[str, Any], key: str, index: int) -> str:
    """The text of a `text` or `thinking` block; a missing or null one is empty."""
    value = block.get(key) or ""
    if not isinstance(value, str):
        raise UpstreamFormatError(f"the Anthropic answer's content[{index}].{key} is not a "
                                  "string")
    return value
