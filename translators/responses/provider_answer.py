"""Answers of an Open Responses provider, for an OpenAI Chat client: whole and streamed.

- `responses_response_to_chat`: a Responses object -> a `chat.completion`
  (docs/formats.md#whole-answers), with the finish-reason table (`stop_reasons`,
  docs/formats.md#stop-reasons) and the usage conversion (`usage`, docs/formats.md#usage),
  which the stream reads too.
- `ResponsesToChatStream`: the per-flow state machine
  (docs/formats.md#responses-stream-to-chat). It takes decoded `SSEEvent`s of a Responses
  stream and returns the OpenAI chunks they cause, one chunk per upstream delta, ending with
  `data: [DONE]`, or with one OpenAI error frame when the upstream reports or causes an
  error. Bad upstream data never raises out of `feed`.
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
from ..errors import (
    ErrorInfo,
    TranslationError,
    UpstreamFormatError,
    chat_error_frame,
    error_info_from_payload,
)
from ..json_values import as_dict, dicts
from ..reasoning import Detail, ReasoningMemory, from_responses_item
from ..sse import DONE, SSEEvent, json_event
from ..stop_reasons import finish_reason_from_responses
from ..stream import StreamTranslator, malformed
from ..usage import responses_usage_to_chat

# Summary parts (and reasoning items) are separated as in the whole answer
# (docs/formats.md#reasoning).
_REASONING_SEPARATOR = "\n\n"


class ResponseFailedError(TranslationError):
    """The provider answered HTTP 200 with a `failed` response: an error, not a finish
    reason (docs/formats.md#stop-reasons); its `error.code` and message are kept."""

    status = 502
    error_type = "server_error"


def responses_response_to_chat(body: dict[str, Any]) -> ChatCompletion:
    """A Responses object as a `chat.completion` (docs/formats.md#whole-answers)."""
    if not isinstance(body, dict) or not isinstance(body.get("output"), list):
        raise UpstreamFormatError("the provider's answer is not a Responses object")
    status = body.get("status") or "completed"
    if status == "failed":
        error = as_dict(body.get("error"))
        code = error.get("code")
        raise ResponseFailedError(str(error.get("message") or "the response failed"),
                                  code=code if isinstance(code, str) else None)
    if status not in ("completed", "incomplete", "cancelled"):
        raise UpstreamFormatError(f"the provider's response is still '{status}'")
    message = _answer_message(body["output"])
    model = body.get("model")
    created = body.get("created_at")
    completion: ChatCompletion = {
        "id": body["id"] if isinstance(body.get("id"), str) else new_completion_id(),
        "object": "chat.completion",
        "created": created if isinstance(created, int) else int(time.time()),
        "model": model if isinstance(model, str) else "",
        "choices": [{
            "index": 0,
            "message": message,
            "finish_reason": finish_reason_from_responses(
                status, body.get("incomplete_details"), "tool_calls" in message),
        }],
    }
    usage = responses_usage_to_chat(body.get("usage"))
    if usage is not None:
        completion["usage"] = usage
    return completion


@dataclass(kw_only=True, slots=True)
class ResponsesToChatStream(StreamTranslator):
    """One streamed Responses answer, as OpenAI chunks for the hub."""

    include_usage: bool
    memory: ReasoningMemory | None = None
    envelope: ChunkEnvelope = field(default_factory=ChunkEnvelope, init=False)
    started: bool = field(default=False, init=False)  # the role chunk has been sent
    tool_count: int = field(default=0, init=False)  # OpenAI tool index counter
    tool_by_item: dict[str, int] = field(default_factory=dict, init=False)
    tool_by_output: dict[int, int] = field(default_factory=dict, init=False)
    tools_with_arguments: set[int] = field(default_factory=set, init=False)
    reasoning_sent: bool = field(default=False, init=False)
    reasoning_gap: bool = field(default=False, init=False)  # a new summary part began
    details: list[Detail] = field(default_factory=list, init=False)  # reasoning to send back
    call_ids: list[str] = field(default_factory=list, init=False)

    # An upstream `[DONE]` is ignored (the base class's `on_done`): OpenAI may omit it, and
    # only response.completed/incomplete/failed end the answer. Unknown and extension
    # events (`acme:trace_event`) are ignored (docs/formats.md#responses-stream-to-chat).

    def on_eof(self) -> list[SSEEvent]:
        # The body ended without response.completed/incomplete/failed: the answer may be
        # cut short, so the client must not see a normal end.
        return self.fail(malformed("the provider's stream ended before the response "
                                   "completed"))

    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        # One error frame and nothing after it: no finish chunk, no [DONE].
        return [chat_error_frame(error)]

    def _on_created(self, payload: dict[str, Any]) -> list[SSEEvent]:
        model = as_dict(payload.get("response")).get("model")
        if isinstance(model, str) and not self.started:
            self.envelope.model = model
        return self._start()

    def _on_item_added(self, payload: dict[str, Any]) -> list[SSEEvent]:
        item = as_dict(payload.get("item"))
        if item.get("type") != "function_call":
            return []  # message and reasoning items speak through their deltas
        return self._open_tool(item, payload.get("output_index"))

    def _on_item_done(self, payload: dict[str, Any]) -> list[SSEEvent]:
        item = as_dict(payload.get("item"))
        if item.get("type") == "reasoning":
            # The finished item carries what the provider wants back on the next turn (its
            # encrypted content): one `reasoning_details` delta (docs/formats.md#reasoning).
            details = from_responses_item(item)
            self.details.extend(details)
            return self._delta({"reasoning_details": details}) if details else []
        if item.get("type") != "function_call":
            return []
        index = self._tool_for(item.get("id"), payload.get("output_index"))
        # Normally a no-op (docs/formats.md#responses-stream-to-chat); it only speaks for a
        # provider that skipped the `.added` event or every argument event, so that the call
        # is not lost.
        if index is None:
            return self._open_tool(item, payload.get("output_index"))
        return self._full_arguments(index, item.get("arguments"))

    def _on_text(self, payload: dict[str, Any]) -> list[SSEEvent]:
        return self._text_delta("content", payload.get("delta"))

    def _on_refusal(self, payload: dict[str, Any]) -> list[SSEEvent]:
        return self._text_delta("refusal", payload.get("delta"))

    def _on_summary_part(self, payload: dict[str, Any]) -> list[SSEEvent]:
        # The separator goes out with the part's first delta, so an empty part leaves none.
        self.reasoning_gap = self.reasoning_sent
        return []

    def _on_reasoning(self, payload: dict[str, Any]) -> list[SSEEvent]:
        delta = payload.get("delta")
        if not isinstance(delta, str) or not delta:
            return []
        if self.reasoning_gap:
            delta = _REASONING_SEPARATOR + delta
            self.reasoning_gap = False
        self.reasoning_sent = True
        return self._delta({"reasoning_content": delta})

    def _on_arguments_delta(self, payload: dict[str, Any]) -> list[SSEEvent]:
        index = self._tool_for(payload.get("item_id"), payload.get("output_index"))
        delta = payload.get("delta")
        if index is None or not isinstance(delta, str) or not delta:
            return []
        self.tools_with_arguments.add(index)
        return self._delta({"tool_calls": [{"index": index, "function": {"arguments": delta}}]})

    def _on_arguments_done(self, payload: dict[str, Any]) -> list[SSEEvent]:
        index = self._tool_for(payload.get("item_id"), payload.get("output_index"))
        return [] if index is None else self._full_arguments(index, payload.get("arguments"))

    def _on_completed(self, payload: dict[str, Any]) -> list[SSEEvent]:
        return self._end("completed", as_dict(payload.get("response")))

    def _on_incomplete(self, payload: dict[str, Any]) -> list[SSEEvent]:
        return self._end("incomplete", as_dict(payload.get("response")))

    def _on_failed(self, payload: dict[str, Any]) -> list[SSEEvent]:
        # Reached only without an earlier `error` event, which would have closed the stream.
        error = as_dict(as_dict(payload.get("response")).get("error"))
        message = error.get("message")
        code = error.get("code")
        return self.fail(ErrorInfo(
            500, message if isinstance(message, str) and message else "the response failed",
            type="server_error", code=code if isinstance(code, str) else None,
            origin="responses"))

    def _on_error(self, payload: dict[str, Any]) -> list[SSEEvent]:
        # Nested (recorded) and flat (OpenAPI) shapes are both read by the shared parser.
        default = ErrorInfo(500, "the provider reported an error", origin="responses")
        return self.fail(error_info_from_payload("responses", 500, payload,
                                                              default))

    def _start(self) -> list[SSEEvent]:
        """The role chunk, once, before anything else (even if response.created is missing)."""
        if self.started:
            return []
        self.started = True
        return [json_event(self.envelope.chunk({"role": "assistant", "content": ""}))]

    def _delta(self, delta: dict[str, Any], finish: FinishReason | None = None
               ) -> list[SSEEvent]:
        return [*self._start(), json_event(self.envelope.chunk(delta, finish))]

    def _text_delta(self, key: str, delta: Any) -> list[SSEEvent]:
        return self._delta({key: delta}) if isinstance(delta, str) and delta else []

    def _open_tool(self, item: dict[str, Any], output_index: Any) -> list[SSEEvent]:
        index = self.tool_count
        self.tool_count += 1
        item_id = item.get("id")
        if isinstance(item_id, str):
            self.tool_by_item[item_id] = index
        if isinstance(output_index, int):
            self.tool_by_output[output_index] = index
        arguments = item.get("arguments")
        arguments = arguments if isinstance(arguments, str) else ""
        if arguments:
            self.tools_with_arguments.add(index)
        # The client echoes this id back as tool_call_id, which must become
        # function_call_output.call_id: it is call_id, never the `fc_` item id
        # (docs/formats.md#tools). The item id is only a last resort for a provider that
        # sends no call_id at all.
        call_id = item.get("call_id") or item_id or f"call_{index}"
        self.call_ids.append(str(call_id))
        name = item.get("name")
        header = {"index": index, "id": call_id, "type": "function",
                  "function": {"name": name if isinstance(name, str) else "",
                               "arguments": arguments}}
        return self._delta({"tool_calls": [header]})

    def _tool_for(self, item_id: Any, output_index: Any) -> int | None:
        if isinstance(item_id, str) and item_id in self.tool_by_item:
            return self.tool_by_item[item_id]
        if isinstance(output_index, int):
            return self.tool_by_output.get(output_index)
        return None

    def _full_arguments(self, index: int, arguments: Any) -> list[SSEEvent]:
        """Whole arguments from a `.done` event, only when no delta carried them
        (docs/formats.md#responses-stream-to-chat)."""
        if index in self.tools_with_arguments or not isinstance(arguments, str) or not arguments:
            return []
        self.tools_with_arguments.add(index)
        return self._delta({"tool_calls": [{"index": index,
                                            "function": {"arguments": arguments}}]})

    def _end(self, status: str, response: dict[str, Any]) -> list[SSEEvent]:
        finish = finish_reason_from_responses(status, response.get("incomplete_details"),
                                              self.tool_count > 0)
        events = self._delta({}, finish)
        usage = responses_usage_to_chat(response.get("usage"))
        # A usage chunk only when the client asked for it, and never an invented one
        # (docs/formats.md#usage).
        if self.include_usage and usage is not None:
            events.append(json_event(self.envelope.usage_chunk(usage)))
        events.append(SSEEvent(DONE))
        self.closed = True
        if self.memory is not None and self.call_ids:
            self.memory.remember(self.call_ids, self.details, None)
        return events


ResponsesToChatStream.HANDLERS = {
    "response.created": ResponsesToChatStream._on_created,
    "response.output_item.added": ResponsesToChatStream._on_item_added,
    "response.output_item.done": ResponsesToChatStream._on_item_done,
    "response.output_text.delta": ResponsesToChatStream._on_text,
    "response.refusal.delta": ResponsesToChatStream._on_refusal,
    "response.reasoning_summary_part.added": ResponsesToChatStream._on_summary_part,
    "response.reasoning_summary_text.delta": ResponsesToChatStream._on_reasoning,
    "response.reasoning_text.delta": ResponsesToChatStream._on_reasoning,
    "response.function_call_arguments.delta": ResponsesToChatStream._on_arguments_delta,
    "response.function_call_arguments.done": ResponsesToChatStream._on_arguments_done,
    "response.completed": ResponsesToChatStream._on_completed,
    "response.incomplete": ResponsesToChatStream._on_incomplete,
    "response.failed": ResponsesToChatStream._on_failed,
    "error": ResponsesToChatStream._on_error,
}


def _answer_message(output: list[Any]) -> ChatMessage:
    texts: list[str] = []
    refusals: list[str] = []
    reasoning: list[str] = []
    details: list[Detail] = []
    calls: list[ToolCall] = []
    for item in output:
        if not isinstance(item, dict):
            raise UpstreamFormatError("an output item of the provider's answer is not an object")
        kind = item.get("type")
        if kind == "message":
            for part in dicts(item.get("content")):
                if part.get("type") == "output_text":
                    texts.append(str(part.get("text") or ""))
                elif part.get("type") == "refusal":
                    refusals.append(str(part.get("refusal") or ""))
        elif kind == "function_call":
            calls.append(_tool_call(item))
        elif kind == "reasoning":
            reasoning.extend(_reasoning_texts(item))
            details.extend(from_responses_item(item))
        # Other items (web_search_call, ...) are hosted-tool traces with no Chat field.
    message: ChatMessage = {"role": "assistant", "content": "".join(texts) if texts else None}
    if refusals:
        message["refusal"] = "".join(refusals)
    if reasoning:
        message["reasoning_content"] = _REASONING_SEPARATOR.join(reasoning)
    if details:
        message["reasoning_details"] = details
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_call(item: dict[str, Any]) -> ToolCall:
    # id = call_id, never the `fc_` item id: the client echoes it as tool_call_id
    # (docs/formats.md#tools); the item id only stands in when a provider sends no call_id,
    # as in the stream.
    call_id = item.get("call_id") or item.get("id")
    if not isinstance(call_id, str) or not isinstance(item.get("name"), str):
        raise UpstreamFormatError("a function_call item lacks call_id or name")
    arguments = item.get("arguments")
    return {"id": call_id, "type": "function",
            "function": {"name": item["name"],
                         "arguments": arguments if isinstance(arguments, str) else ""}}


def _reasoning_texts(item: dict[str, Any]) -> list[str]:
    """Summary texts, and raw reasoning_text parts (docs/formats.md#reasoning), skipping
    empty ones."""
    parts = [*dicts(item.get("summary")), *dicts(item.get("content"))]
    return [part["text"] for part in parts
            if part.get("type") in ("summary_text", "reasoning_text")
            and isinstance(part.get("text"), str) and part["text"]]
