"""Hub -> Responses client answer: an OpenAI Chat answer as an Open Responses answer, whole
or streamed (docs/formats.md#whole-answers, docs/formats.md#chat-stream-to-responses).

`chat_response_to_responses` turns a `chat.completion` into a `Response` object;
`ChatToResponsesStream` turns `chat.completion.chunk` events into the full Responses event
sequence, built from the same `objects` builders, status table and usage conversion:

    response.created, response.in_progress,
    per item: output_item.added, (content_part.added, N x delta, *.done, content_part.done
              | N x function_call_arguments.delta, function_call_arguments.done),
              output_item.done,
    response.completed | response.incomplete | (error, response.failed),
    data: [DONE]

Each item is closed before the next one opens, because the OpenAI SDK's accumulator
(`openai/lib/streaming/responses/_responses.py`) raises on anything else. The terminal event
waits for the usage chunk that follows the finish chunk (the request asked for it with
`stream_options.include_usage`), for `[DONE]`, or for the end of the body.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..chat.fields import message_text, reasoning_text
from ..errors import (
    ErrorInfo,
    UpstreamFormatError,
    chat_frame_error_as_openai,
    is_error_frame,
)
from ..ids import new_call_id, new_response_id
from ..json_values import as_dict, dicts
from ..reasoning import (
    REASONING_KEYS,
    Detail,
    Dialect,
    details_of,
    dialect_of,
    seal,
    text_of,
)
from ..sse import DONE, SSEEvent, json_event
from ..stop_reasons import responses_status
from ..stream import StreamTranslator, malformed
from ..tools import ToolName, ToolNames, custom_input
from ..usage import chat_usage_to_responses
from .objects import (
    ItemKind,
    call_item,
    echoed_settings,
    failed_events,
    item_id,
    message_item,
    output_text_part,
    reasoning_item,
    refusal_part,
    response_object,
)


@dataclass(slots=True)
class _Part:
    """One content part of the open message: `output_text` or `refusal`."""

    type: str
    chunks: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        text = "".join(self.chunks)
        return output_text_part(text) if self.type == "output_text" else refusal_part(text)


@dataclass(slots=True)
class _Item:
    """The output item being streamed: its identity and what has arrived for it so far."""

    kind: ItemKind
    index: int
    id: str
    call_id: str = ""
    name: str = ""
    tool: ToolName | None = None  # a call: the client's own tool
    chunks: list[str] = field(default_factory=list)  # reasoning text or tool arguments
    parts: list[_Part] = field(default_factory=list)  # message content
    details: list[Detail] = field(default_factory=list)  # reasoning the provider wants back
    dialect: Dialect | None = None

    def text(self) -> str:
        return "".join(self.chunks)

    def snapshot(self, status: str) -> dict[str, Any]:
        if self.kind == "message":
            return message_item(self.id, status, [part.body() for part in self.parts])
        if self.kind == "reasoning":
            # What the provider needs back is sealed into `encrypted_content`, which the
            # client returns unchanged on the next turn (docs/formats.md#reasoning).
            sealed = seal(self.details, self.dialect) if status != "in_progress" else None
            return reasoning_item(self.id, status, [self.text()] if self.chunks else [],
                                  sealed)
        return call_item(self.id, status, self.call_id, self.tool or ToolName(self.name),
                         self.text())


@dataclass(kw_only=True, slots=True)
class ChatToResponsesStream(StreamTranslator):
    """OpenAI chunk events in, Responses events out; one instance per streamed answer.

    `request` is the client's Responses request, echoed in every Response object. `id`,
    `clock` and `created_at` (default: the clock at construction) can be fixed so that a
    replayed stream gives identical bytes.
    """

    request: dict[str, Any]
    id: str = field(default_factory=new_response_id)
    clock: Callable[[], float] = time.time
    created_at: int = -1

    _seq: int = field(default=0, init=False)
    _out: list[SSEEvent] = field(default_factory=list, init=False)
    _model: str = field(default="", init=False)
    _started: bool = field(default=False, init=False)
    _items: list[dict[str, Any]] = field(default_factory=list, init=False)
    _open: _Item | None = field(default=None, init=False)
    _calls: dict[int, _Item] = field(default_factory=dict, init=False)
    _finish: str | None = field(default=None, init=False)
    _usage: dict[str, Any] | None = field(default=None, init=False)
    _names: ToolNames = field(default_factory=ToolNames, init=False)
    _reasoning_text_seen: bool = field(default=False, init=False)
    _settings: dict[str, Any] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._names = ToolNames.of_request(self.request)
        if self.created_at < 0:
            self.created_at = int(self.clock())
        self._model = str(self.request.get("model") or "")

    # -- StreamTranslator ------------------------------------------------------------------

    TYPED_EVENTS = False

    def kind_of(self, payload: dict[str, Any], event: SSEEvent) -> str:
        return "error" if is_error_frame(payload) else "chunk"

    def on_done(self) -> list[SSEEvent]:
        # The literal [DONE] is the normal end of an OpenAI stream, even without a
        # finish_reason (some local servers omit it): that counts as `stop`.
        self._terminal()
        return self._take()

    def on_eof(self) -> list[SSEEvent]:
        if self._finish is None:
            return self.fail(malformed("upstream stream ended before the answer was complete"))
        # The finish chunk came but neither the usage chunk nor [DONE]: the answer is whole.
        self._terminal()
        return self._take()

    def ending(self, error: ErrorInfo) -> list[SSEEvent]:
        self._start()
        output = [*self._items]
        if self._open is not None:
            output.append(self._open.snapshot("incomplete"))
        ending = failed_events(self._response("in_progress", output), error, self._seq)
        return self._take() + ending

    def bare_ending(self, error: ErrorInfo) -> list[SSEEvent]:
        return failed_events(response_object(self.request, response_id=self.id,
                                             created_at=self.created_at, model=self._model,
                                             status="in_progress", output=[]), error, 0)

    def _on_chunk(self, payload: dict[str, Any]) -> list[SSEEvent]:
        self._chunk(payload)
        return self._take()

    def _on_error_frame(self, payload: dict[str, Any]) -> list[SSEEvent]:
        return self.fail(chat_frame_error_as_openai(payload))

    # -- chunks ----------------------------------------------------------------------------

    def _chunk(self, payload: dict[str, Any]) -> None:
        if not self._started and payload.get("model"):
            self._model = str(payload["model"])
        self._start()
        finished_before = self._finish is not None
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
        for choice in payload.get("choices") or []:
            # Only the first choice exists for us: the request never asks for n > 1.
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            if self._finish is None:
                self._delta(choice.get("delta") or {})
            if choice.get("finish_reason") and self._finish is None:
                self._finish = str(choice["finish_reason"])
                status, _ = responses_status(self._finish)
                self._close_open(status)
        # The usage chunk follows the finish chunk: now the terminal event is complete.
        if finished_before and isinstance(usage, dict):
            self._terminal()

    def _delta(self, delta: dict[str, Any]) -> None:
        if not REASONING_KEYS.isdisjoint(delta):  # most chunks carry none
            self._reasoning(delta)
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text_delta("output_text", content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._text_delta("refusal", refusal)
        for position, call in enumerate(delta.get("tool_calls") or []):
            if isinstance(call, dict):
                self._tool_delta(call, position)

    def _reasoning(self, delta: dict[str, Any]) -> None:
        """Reasoning in any Chat dialect (`reasoning_content`, `reasoning`, OpenRouter's
        `reasoning_details`): its text as summary deltas, and what must go back to the
        provider kept for the item's `encrypted_content`."""
        dialect = dialect_of(delta)
        text = reasoning_text(delta)
        given = delta.get("reasoning_details")
        details = [d for d in given if isinstance(d, dict)] if isinstance(given, list) else []
        open_reasoning = self._open is not None and self._open.kind == "reasoning"
        if text:
            self._reasoning_text_seen = True
        elif details and not self._reasoning_text_seen:
            text = text_of(details)  # OpenRouter may carry the text in the details only
        if not text and not details:
            return
        item = self._open if open_reasoning and self._open else self._open_reasoning()
        item.details.extend(details)
        if dialect is not None and item.dialect != "reasoning_details":
            item.dialect = dialect
        if text:
            self._reasoning_delta(item, text)

    def _open_reasoning(self) -> _Item:
        item = self._open_item("reasoning")
        self._emit("response.reasoning_summary_part.added", item_id=item.id,
                   output_index=item.index, summary_index=0,
                   part={"type": "summary_text", "text": ""})
        return item

    def _reasoning_delta(self, item: _Item, text: str) -> None:
        item.chunks.append(text)
        self._emit("response.reasoning_summary_text.delta", item_id=item.id,
                   output_index=item.index, summary_index=0, delta=text)

    def _text_delta(self, part_type: str, text: str) -> None:
        item = self._open
        if item is None or item.kind != "message":
            item = self._open_item("message")
        if not item.parts or item.parts[-1].type != part_type:
            if item.parts:
                self._close_part(item)
            item.parts.append(_Part(part_type))
            self._emit("response.content_part.added", item_id=item.id, output_index=item.index,
                       content_index=len(item.parts) - 1, part=item.parts[-1].body())
        item.parts[-1].chunks.append(text)
        if part_type == "output_text":
            # `logprobs` is required on output_text events (Open Responses
            # ResponseOutputTextDeltaStreamingEvent, OpenAI's ResponseTextDeltaEvent); the
            # hub has none to give.
            self._emit("response.output_text.delta", item_id=item.id, output_index=item.index,
                       content_index=len(item.parts) - 1, delta=text, logprobs=[])
        else:
            self._emit("response.refusal.delta", item_id=item.id, output_index=item.index,
                       content_index=len(item.parts) - 1, delta=text)

    def _tool_delta(self, call: dict[str, Any], position: int) -> None:
        key = call.get("index", position)
        function = call.get("function") or {}
        call_id = call.get("id")
        item = self._calls.get(key)
        # A new index opens a call; so does a new id on a known index, because some servers
        # (Ollama, Gemini's OpenAI layer) put every call at index 0.
        if item is None or (call_id and call_id != item.call_id):
            item = self._open_item("function_call")
            item.call_id = str(call_id or new_call_id())
            item.name = str(function.get("name") or "")
            item.tool = self._names.client_name(item.name)
            self._calls[key] = item
            self._emit("response.output_item.added", output_index=item.index,
                       item=item.snapshot("in_progress"))
        elif item is not self._open:
            # Fragments of a call that is already closed cannot be expressed: Responses items
            # are sequential, interleaved Chat calls are not
            # (docs/formats.md#chat-stream-to-responses).
            raise UpstreamFormatError("upstream interleaved the arguments of parallel tool "
                                      "calls")
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.chunks.append(arguments)
            if not (item.tool and item.tool.custom):  # a freeform call's text comes whole
                self._emit("response.function_call_arguments.delta", item_id=item.id,
                           output_index=item.index, delta=arguments)

    # -- items -----------------------------------------------------------------------------

    def _open_item(self, kind: ItemKind) -> _Item:
        self._close_open("completed")
        index = len(self._items)
        item = _Item(kind, index, item_id(kind, self.id, index))
        self._open = item
        if kind != "function_call":  # a call is announced once its id and name are known
            self._emit("response.output_item.added", output_index=index,
                       item=item.snapshot("in_progress"))
        return item

    def _close_open(self, status: str) -> None:
        item, self._open = self._open, None
        if item is None:
            return
        if item.kind == "message":
            self._close_part(item)
        elif item.kind == "reasoning":
            text = item.text()
            self._emit("response.reasoning_summary_text.done", item_id=item.id,
                       output_index=item.index, summary_index=0, text=text)
            self._emit("response.reasoning_summary_part.done", item_id=item.id,
                       output_index=item.index, summary_index=0,
                       part={"type": "summary_text", "text": text})
        else:
            self._close_call(item, status)
        done = item.snapshot(status)
        self._items.append(done)
        self._emit("response.output_item.done", output_index=item.index, item=done)

    def _close_part(self, item: _Item) -> None:
        part = item.parts[-1]
        body = part.body()
        index = len(item.parts) - 1
        if part.type == "output_text":
            self._emit("response.output_text.done", item_id=item.id, output_index=item.index,
                       content_index=index, text=body["text"], logprobs=[])
        else:
            self._emit("response.refusal.done", item_id=item.id, output_index=item.index,
                       content_index=index, refusal=body["refusal"])
        self._emit("response.content_part.done", item_id=item.id, output_index=item.index,
                   content_index=index, part=body)

    def _close_call(self, item: _Item, status: str) -> None:
        if item.tool and item.tool.custom:
            # Its text sits inside the function's JSON arguments: it is known once they end.
            text = custom_input(item.text())
            self._emit("response.custom_tool_call_input.delta", item_id=item.id,
                       output_index=item.index, delta=text)
            self._emit("response.custom_tool_call_input.done", item_id=item.id,
                       output_index=item.index, input=text)
            return
        if not item.chunks and status == "completed":
            # A tool without parameters: send "{}" so the client can parse it; a truncated
            # call (status incomplete) keeps what it has, unrepaired (docs/formats.md#tools).
            item.chunks.append("{}")
            self._emit("response.function_call_arguments.delta", item_id=item.id,
                       output_index=item.index, delta="{}")
        self._emit("response.function_call_arguments.done", item_id=item.id,
                   output_index=item.index,
                   name=item.tool.name if item.tool else item.name, arguments=item.text())

    # -- lifecycle -------------------------------------------------------------------------

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        self._emit("response.created", response=self._response("in_progress", []))
        self._emit("response.in_progress", response=self._response("in_progress", []))

    def _terminal(self) -> None:
        self._start()
        status, reason = responses_status(self._finish)
        self._close_open(status)
        completed_at = int(self.clock()) if status == "completed" else None
        response = self._response(status, [*self._items],
                                  usage=chat_usage_to_responses(self._usage),
                                  incomplete_reason=reason, completed_at=completed_at)
        self._emit(f"response.{status}", response=response)
        self._done()

    def _done(self) -> None:
        # The Open Responses spec requires the literal [DONE] as the last event.
        self._out.append(SSEEvent(DONE))
        self.closed = True

    def _response(self, status: str, output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        if self._settings is None:
            self._settings = echoed_settings(self.request)
        return response_object(self.request, response_id=self.id, created_at=self.created_at,
                               model=self._model, status=status, output=output,
                               settings=self._settings, **extra)

    def _emit(self, event_type: str, **fields: Any) -> None:
        payload = {"type": event_type, "sequence_number": self._seq, **fields}
        self._seq += 1
        self._out.append(json_event(payload, event_type))

    def _take(self) -> list[SSEEvent]:
        out, self._out = self._out, []
        return out


ChatToResponsesStream.HANDLERS = {
    "chunk": ChatToResponsesStream._on_chunk,
    "error": ChatToResponsesStream._on_error_frame,
}


# -- whole answers -----------------------------------------------------------------------


def chat_response_to_responses(body: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """A `chat.completion` as a `Response` object that echoes the client's `request`."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamFormatError("the upstream answer has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise UpstreamFormatError("the upstream answer has no message")
    status, reason = responses_status(choice.get("finish_reason"))
    response_id = new_response_id()
    now = int(time.time())
    created = body.get("created")
    return response_object(
        request,
        response_id=response_id,
        created_at=created if isinstance(created, int) else now,
        model=str(body.get("model") or request.get("model") or ""),
        status=status,
        output=_output_items(message, response_id, status, ToolNames.of_request(request)),
        usage=chat_usage_to_responses(body.get("usage")),
        incomplete_reason=reason,
        completed_at=now if status == "completed" else None,
    )


def _output_items(message: dict[str, Any], response_id: str, status: str,
                  names: ToolNames) -> list[dict[str, Any]]:
    """Reasoning, then the message, then the calls: the order the model produced them in."""
    items: list[dict[str, Any]] = []
    details = details_of(message)
    reasoning = reasoning_text(message) or text_of(details)
    if reasoning or details:
        items.append(reasoning_item(item_id("reasoning", response_id, 0), "completed",
                                    [reasoning] if reasoning else [],
                                    seal(details, dialect_of(message))))
    parts = []
    text = message_text(message.get("content"))
    if text:
        parts.append(output_text_part(text))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append(refusal_part(message["refusal"]))
    if parts:
        items.append(message_item(item_id("message", response_id, len(items)), "completed",
                                  parts))
    # Calls that are not objects are left out, as for an Anthropic client
    # (anthropic/client_answer.py).
    for call in dicts(message.get("tool_calls")):
        function = as_dict(call.get("function"))
        items.append(call_item(
            item_id("function_call", response_id, len(items)), "completed",
            str(call.get("id") or ""), names.client_name(str(function.get("name") or "")),
            # A tool without parameters: "{}" so the client can parse it (docs/formats.md#tools).
            str(function.get("arguments") or "{}"),
        ))
    if status == "incomplete" and items:
        # An item cut off by the limit is incomplete and is the last one (Open Responses).
        items[-1]["status"] = "incomplete"
    return items
