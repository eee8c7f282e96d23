"""OpenAI Chat answers -> Anthropic Messages answers, for Anthropic-format clients.

`chat_response_to_anthropic` turns a whole `chat.completion` into a Message: thinking, text,
then tool_use blocks (docs/formats.md#whole-answers, vectors nonstream_16 and nonstream_17).

`ChatToAnthropicStream` turns the hub's `chat.completion.chunk` events into the Anthropic
event grammar (docs/formats.md#chat-stream-to-anthropic, vectors stream_39 ... stream_41):
`message_start`, then per content block `content_block_start`, deltas, `content_block_stop`,
then one `message_delta` and `message_stop`; an upstream error frame becomes `event: error`.

Both read the stop-reason table (`stop_reasons`, docs/formats.md#stop-reasons) and the usage
conversion (`usage`, docs/formats.md#usage). The request direction is in `client_request`.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from ..chat.fields import message_text, reasoning_text
from ..errors import (
    ErrorInfo,
    UpstreamFormatError,
    anthropic_error_event,
    chat_frame_error,
    is_error_frame,
)
from ..ids import new_message_id, new_tool_use_id
from ..json_values import parse_object
from ..reasoning import (
    REASONING_KEYS,
    Detail,
    Dialect,
    details_of,
    dialect_of,
    seal,
    text_of,
)
from ..sse import SSEEvent, json_event
from ..stop_reasons import DEFAULT_ANTHROPIC_STOP, anthropic_stop_reason
from ..stream import StreamTranslator
from ..usage import chat_usage_to_anthropic

log = logging.getLogger(__name__)

BlockKind = Literal["thinking", "text", "tool_use"]


def chat_response_to_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    """A `chat.completion` as an Anthropic Message: thinking, text, then tool_use blocks."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamFormatError("upstream chat.completion has no choices")
    choice = choices[0]
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content: list[dict[str, Any]] = []
    details = details_of(message)
    thinking = reasoning_text(message) or text_of(details)
    if thinking or details:
        # The signature seals what the provider needs back on the next turn; the client
        # returns it unchanged (docs/formats.md#reasoning).
        content.append({"type": "thinking", "thinking": thinking or "",
                        "signature": seal(details, dialect_of(message))})
    text = message_text(message.get("content"))
    if text:
        content.append({"type": "text", "text": text})
    reason = anthropic_stop_reason(choice.get("finish_reason"))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append({"type": "text", "text": refusal})
        reason = "refusal"
    calls = message.get("tool_calls")
    content += [_tool_use(call) for call in calls if isinstance(call, dict)] if isinstance(
        calls, list) else []
    usage = body.get("usage")
    return {
        "id": new_message_id(),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "content": content,
        "stop_reason": reason,
        "stop_sequence": None,
        "usage": chat_usage_to_anthropic(usage) if isinstance(usage, dict)
        else {"input_tokens": 0, "output_tokens": 0},
    }


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function")
    function = function if isinstance(function, dict) else {}
    return {"type": "tool_use", "id": call.get("id") or new_tool_use_id(),
            "name": function.get("name", ""), "input": _arguments(function.get("arguments"))}


def _arguments(arguments: Any) -> dict[str, Any]:
    """Anthropic needs an object. Arguments that are not one (typically cut off at the
    token limit) become `{}`, so the client's tool validation reports it to the model."""
    if isinstance(arguments, dict):  # some servers send an object instead of a string
        return copy.deepcopy(arguments)
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    parsed = parse_object(arguments)
    if parsed is not None:
        return parsed
    log.warning("tool call arguments are not a JSON object; sent as {}: %.200s", arguments)
    return {}


@dataclass(slots=True, kw_only=True)
class ChatToAnthropicStream(StreamTranslator):
    """One streamed answer: OpenAI chunk events in, Anthropic events out.

    The stop reason is held from the finish chunk until the usage chunk or `[DONE]`, so
    that the single `message_delta` carries the real usage
    (docs/formats.md#chat-stream-to-anthropic).
    """

    model: str  # the model the client asked for, echoed in message_start
    input_tokens_estimate: int | None = None
    message_id: str = field(default_factory=new_message_id, init=False)
    started: bool = field(default=False, init=False)
    next_index: int = field(default=0, init=False)
    open_kind: BlockKind | None = field(default=None, init=False)
    open_index: int = field(default=-1, init=False)
    # tc.index -> (call id, Anthropic block index)
    tool_blocks: dict[int, tuple[str, int]] = field(default_factory=dict, init=False)
    held_stop: str | None = field(default=None, init=False)
    usage: dict[str, int] | None = field(default=None, init=False)
    refused: bool = field(default=False, init=False)
    # The reasoning of the open thinking block, sealed into its signature when it closes.
    details: list[Detail] = field(default_factory=list, init=False)
    dialect: Dialect | None = field(default=None, init=False)
    text_seen: bool = field(default=False, init=False)  # reasoning text outside the details

    TYPED_EVENTS = False

    def kind_of(self, payload: dict[str, Any], event: SSEEvent) -> str:
        return "error" if is_error_frame(payload) else "chunk"

    def on_done(self) -> list[SSEEvent]:
        # `[DONE]` is a normal end even without a finish_reason before it.
        return self._start() + self._end(self.held_stop or DEFAULT_ANTHROPIC_STOP)

    def on_eof(self) -> list[SSEEvent]:
        if self.held_stop is not None:
            # The answer itself is complete; some OpenAI-compatible servers omit `[DONE]`.
            return self._end(self.held_stop)
        return self.fail(ErrorInfo(502, "upstream stream ended before the answer was complete"))

    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        return [anthropic_error_event(error)]

    def _on_error_frame(self, payload: dict[str, Any]) -> list[SSEEvent]:
        return self.fail(chat_frame_error(payload))

    def _chunk(self, payload: dict[str, Any]) -> list[SSEEvent]:
        out = self._start()
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self.usage = chat_usage_to_anthropic(usage)
        choices = payload.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            out += self._choice(choices[0])
        # Usage in or after the finish chunk is final. Servers that put usage in every chunk
        # are finished by `[DONE]` instead, with their last value.
        if self.held_stop is not None and isinstance(usage, dict):
            out += self._end(self.held_stop)
        return out

    def _choice(self, choice: dict[str, Any]) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        delta = choice.get("delta")
        if isinstance(delta, dict) and self.held_stop is None:
            if not REASONING_KEYS.isdisjoint(delta):  # most chunks carry none
                out += self._reasoning(delta)
            content = delta.get("content")
            if isinstance(content, str) and content:
                # An empty string (the role chunk) must not open a block: Anthropic rejects
                # empty text blocks when the client replays them (docs/formats.md#known-pitfalls).
                out += self._text_delta("text", content)
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                self.refused = True  # the text is shown, and the stop reason says why
                out += self._text_delta("text", refusal)
            tool_calls = delta.get("tool_calls")
            for tool_call in tool_calls if isinstance(tool_calls, list) else []:
                if isinstance(tool_call, dict):
                    out += self._tool_delta(tool_call)
        finish_reason = choice.get("finish_reason")
        if finish_reason is not None and self.held_stop is None:
            out += self._close()
            self.held_stop = "refusal" if self.refused else anthropic_stop_reason(finish_reason)
        return out

    def _reasoning(self, delta: dict[str, Any]) -> list[SSEEvent]:
        """Reasoning in any Chat dialect: its text as thinking deltas, and what must go back
        to the provider kept for the block's signature (docs/formats.md#reasoning)."""
        dialect = dialect_of(delta)
        if dialect is not None and self.dialect != "reasoning_details":
            self.dialect = dialect
        text = reasoning_text(delta)
        given = delta.get("reasoning_details")
        details = [d for d in given if isinstance(d, dict)] if isinstance(given, list) else []
        if text:
            self.text_seen = True
        elif details and not self.text_seen:
            text = text_of(details)  # OpenRouter may carry the text in the details only
        out = self._text_delta("thinking", text) if text else []
        if details:
            if self.open_kind != "thinking":
                out += self._open_thinking()
            self.details.extend(details)
        return out
    def _text_delta(self, kind: Literal["thinking", "text"], text: str) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        if self.open_kind != kind:
            out += self._open_thinking() if kind == "thinking" else self._open(
                "text", {"type": "text", "text": ""})
        delta_type = "thinking_delta" if kind == "thinking" else "text_delta"
        return [*out, self._delta(self.open_index, {"type": delta_type, kind: text})]

    def _open_thinking(self) -> list[SSEEvent]:
        # The signature comes as a signature_delta before the block stops, as Anthropic
        # sends it.
        return self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""})

    def _tool_delta(self, tool_call: dict[str, Any]) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        tc_index = tool_call.get("index")
        tc_index = tc_index if isinstance(tc_index, int) else 0
        function = tool_call.get("function")
        function = function if isinstance(function, dict) else {}
        call_id = tool_call.get("id")
        known = self.tool_blocks.get(tc_index)
        # Some servers repeat the id on every fragment: only a new id opens a block.
        if known is None or (isinstance(call_id, str) and call_id and call_id != known[0]):
            new_id = call_id if isinstance(call_id, str) and call_id else new_tool_use_id()
            name = function.get("name")
            out += self._open("tool_use", {"type": "tool_use", "id": new_id,
                                           "name": name if isinstance(name, str) else "",
                                           "input": {}})
            known = self.tool_blocks[tc_index] = (new_id, self.open_index)
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            # A fragment for a call whose block was already closed (interleaved calls) still
            # goes to that block: the SDK accumulators index blocks, and dropping it would
            # lose arguments.
            out.append(self._delta(known[1], {"type": "input_json_delta",
                                              "partial_json": arguments}))
        return out

    def _open(self, kind: BlockKind, block: dict[str, Any]) -> list[SSEEvent]:
        out = self._close()
        self.open_kind, self.open_index = kind, self.next_index
        self.next_index += 1
        start = {"type": "content_block_start", "index": self.open_index, "content_block": block}
        return [*out, json_event(start, "content_block_start")]

    def _close(self) -> list[SSEEvent]:
        if self.open_kind is None:
            return []
        out = []
        if self.open_kind == "thinking":
            signature = seal(self.details, self.dialect)
            self.details = []
            out.append(self._delta(self.open_index, {"type": "signature_delta",
                                                     "signature": signature}))
        self.open_kind = None
        return [*out, json_event({"type": "content_block_stop", "index": self.open_index},
                                 "content_block_stop")]

    @staticmethod
    def _delta(index: int, delta: dict[str, Any]) -> SSEEvent:
        return json_event({"type": "content_block_delta", "index": index, "delta": delta},
                          "content_block_delta")

    def _start(self) -> list[SSEEvent]:
        if self.started:
            return []
        self.started = True
        # The input count is unknown until the usage chunk; the message_delta repeats it
        # with the real value (docs/formats.md#chat-stream-to-anthropic).
        message: dict[str, Any] = {"id": self.message_id, "type": "message", "role": "assistant",
                   "model": self.model, "content": [], "stop_reason": None,
                   "stop_sequence": None,
                   "usage": {"input_tokens": self.input_tokens_estimate or 0,
                             "output_tokens": 0}}
        return [json_event({"type": "message_start", "message": message}, "message_start")]

    def _end(self, reason: str) -> list[SSEEvent]:
        self.closed = True
        usage: dict[str, int] = dict(self.usage) if self.usage is not None else {"output_tokens": 0}
        if self.usage is None and self.input_tokens_estimate is not None:
            usage["input_tokens"] = self.input_tokens_estimate
        delta = {"type": "message_delta",
                 "delta": {"stop_reason": reason, "stop_sequence": None}, "usage": usage}
        return [*self._close(), json_event(delta, "message_delta"),
                json_event({"type": "message_stop"}, "message_stop")]


ChatToAnthropicStream.HANDLERS = {
    "chunk": ChatToAnthropicStream._chunk,
    "error": ChatToAnthropicStream._on_error_frame,
}
