"""OpenAI Chat output -> Open Responses output, for clients that speak the Responses API.

Holds the builders shared by whole answers and streams (the `Response` object with the
client's request echoed, usage, output items, the finish-reason table) and
`ChatToResponsesStream`, which turns OpenAI `chat.completion.chunk` events into the full
Responses event sequence of CONFORMANCE.md section 10.4:

    response.created, response.in_progress,
    per item: output_item.added, (content_part.added, N x delta, *.done, content_part.done
              | N x function_call_arguments.delta, function_call_arguments.done),
              output_item.done,
    response.completed | response.incomplete | (error, response.failed),
    data: [DONE]

Each item is closed before the next one opens, because the OpenAI SDK's accumulator
(`openai/lib/streaming/responses/_responses.py`) raises on anything else. The terminal event
waits for the usage chunk that follows the finish chunk (`responses_request_to_chat` asks
for it with `stream_options.include_usage`, section 8), for `[DONE]`, or for the end of the
body.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ErrorInfo, error_info_from_payload, openai_error_body
from .sse import DONE, SSEEvent, json_event

ItemKind = Literal["message", "reasoning", "function_call"]

# finish_reason -> (Response status, incomplete_details.reason); CONFORMANCE section 6.
# Anything not listed (stop, tool_calls, function_call, provider words) completes.
_INCOMPLETE_BY_FINISH: dict[str, str] = {
    "length": "max_output_tokens",
    "content_filter": "content_filter",
}

_ITEM_PREFIX: dict[ItemKind, str] = {"message": "msg", "reasoning": "rs", "function_call": "fc"}

# Response fields echoed from the request, with the value the Responses API reports when the
# client left one out: the spec requires every non-nullable field (ResponseResource.json).
_ECHOED: dict[str, Any] = {
    "instructions": None, "tools": [], "tool_choice": "auto", "parallel_tool_calls": True,
    "text": {"format": {"type": "text"}}, "temperature": 1.0, "top_p": 1.0,
    "presence_penalty": 0.0, "frequency_penalty": 0.0, "reasoning": None, "user": None,
    "max_output_tokens": None, "metadata": {},
}
# Fields the request translation drops report what was really used. A stateless gateway
# stores nothing whatever the client asked (section 4, store:false), so a later
# GET /v1/responses/{id} is not promised.
_NOT_FORWARDED: dict[str, Any] = {
    "truncation": "disabled", "top_logprobs": 0, "max_tool_calls": None,
    "safety_identifier": None, "prompt_cache_key": None, "store": False, "background": False,
    "service_tier": "default",
}


def new_response_id() -> str:
    return f"resp_{uuid.uuid4().hex}"


def item_id(kind: ItemKind, response_id: str, index: int) -> str:
    """Item ids derived from the response id: unique, and stable when a stream is replayed."""
    return f"{_ITEM_PREFIX[kind]}_{response_id.removeprefix('resp_')}_{index}"


def response_status(finish_reason: str | None) -> tuple[str, str | None]:
    """`(status, incomplete reason)` for a Chat finish_reason."""
    reason = _INCOMPLETE_BY_FINISH.get(finish_reason or "")
    return ("incomplete", reason) if reason else ("completed", None)


def responses_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chat usage -> Responses usage (CONFORMANCE section 8: both input counts include the
    cached tokens, so only the names change). Missing details count as 0."""
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": int(cached)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": int(reasoning)},
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }


def response_object(request: dict[str, Any], *, response_id: str, created_at: int, model: str,
                    status: str, output: list[dict[str, Any]],
                    usage: dict[str, Any] | None = None, incomplete_reason: str | None = None,
                    error: dict[str, Any] | None = None,
                    completed_at: int | None = None) -> dict[str, Any]:
    """A full `Response` object: the fields of this answer, then the request's settings."""
    body: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "model": model,
        "output": output,
        "error": error,
        "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
        "usage": usage,
        "completed_at": completed_at,
        "previous_response_id": None,
    }
    for name, default in _ECHOED.items():
        value = request.get(name)
        body[name] = copy.deepcopy(value if value is not None else default)
    body.update(copy.deepcopy(_NOT_FORWARDED))
    return body


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "text": text}


def refusal_part(text: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": text}


def message_item(item_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant",
            "content": content}


def reasoning_item(item_id: str, status: str, summary: list[str]) -> dict[str, Any]:
    return {"id": item_id, "type": "reasoning", "status": status,
            "summary": [{"type": "summary_text", "text": text} for text in summary]}


def function_call_item(item_id: str, status: str, call_id: str, name: str,
                       arguments: str) -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id,
            "name": name, "arguments": arguments}


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
    chunks: list[str] = field(default_factory=list)  # reasoning text or tool arguments
    parts: list[_Part] = field(default_factory=list)  # message content

    def text(self) -> str:
        return "".join(self.chunks)

    def snapshot(self, status: str) -> dict[str, Any]:
        if self.kind == "message":
            return message_item(self.id, status, [part.body() for part in self.parts])
        if self.kind == "reasoning":
            return reasoning_item(self.id, status, [self.text()] if self.chunks else [])
        return function_call_item(self.id, status, self.call_id, self.name, self.text())


@dataclass(kw_only=True)
class ChatToResponsesStream:
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
    _closed: bool = field(default=False, init=False)
    _items: list[dict[str, Any]] = field(default_factory=list, init=False)
    _open: _Item | None = field(default=None, init=False)
    _calls: dict[int, _Item] = field(default_factory=dict, init=False)
    _finish: str | None = field(default=None, init=False)
    _usage: dict[str, Any] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.created_at < 0:
            self.created_at = int(self.clock())
        self._model = str(self.request.get("model") or "")

    # -- StreamTranslator ------------------------------------------------------------------

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        if self._closed:
            return []
        if event.is_done:
            # The literal [DONE] is the normal end of an OpenAI stream, even without a
            # finish_reason (some local servers omit it): that counts as `stop`.
            self._terminal()
            return self._take()
        try:
            payload = event.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return self.fail(_upstream_error("upstream sent a chunk that is not a JSON object"))
        if payload.get("error"):
            # An OpenAI error frame (CONFORMANCE section 9) ends the stream.
            return self.fail(_error_from_frame(payload))
        try:
            self._chunk(payload)
        except _BrokenStream as broken:
            return self.fail(broken.info)
        return self._take()

    def finish(self) -> list[SSEEvent]:
        if self._closed:
            return []
        if self._finish is None:
            return self.fail(_upstream_error("upstream stream ended before the answer was "
                                             "complete"))
        # The finish chunk came but neither the usage chunk nor [DONE]: the answer is whole.
        self._terminal()
        return self._take()

    def fail(self, error: ErrorInfo) -> list[SSEEvent]:
        """`error`, then `response.failed` with `response.error = {code, message}`, then
        [DONE] (CONFORMANCE section 11, Responses client)."""
        if self._closed:
            return []
        self._start()
        body: dict[str, Any] = openai_error_body(error)["error"]  # same shape (section 11)
        # The Open Responses schema nests the payload (ErrorStreamingEvent.error); OpenAI's
        # ResponseErrorEvent is flat. Both are sent so either reader finds them, and the
        # `error` key makes the openai SDK raise APIError as it does for a Chat error frame.
        self._emit("error", code=body["code"], message=body["message"], param=body["param"],
                   error=body)
        output = [*self._items]
        if self._open is not None:
            output.append(self._open.snapshot("incomplete"))
        failed = {"code": body["code"] or body["type"] or "server_error",
                  "message": body["message"]}
        self._emit("response.failed", response=self._response("failed", output, error=failed))
        self._done()
        return self._take()

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
                status, _ = response_status(self._finish)
                self._close_open(status)
        # The usage chunk follows the finish chunk: now the terminal event is complete.
        if finished_before and isinstance(usage, dict):
            self._terminal()

    def _delta(self, delta: dict[str, Any]) -> None:
        # `reasoning_content` is the DeepSeek/LiteLLM field; some servers say `reasoning`.
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self._reasoning_delta(reasoning)
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text_delta("output_text", content)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._text_delta("refusal", refusal)
        for position, call in enumerate(delta.get("tool_calls") or []):
            if isinstance(call, dict):
                self._tool_delta(call, position)

    def _reasoning_delta(self, text: str) -> None:
        item = self._open
        if item is None or item.kind != "reasoning":
            item = self._open_item("reasoning")
            self._emit("response.reasoning_summary_part.added", item_id=item.id,
                       output_index=item.index, summary_index=0,
                       part={"type": "summary_text", "text": ""})
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
        kind = "output_text" if part_type == "output_text" else "refusal"
        self._emit(f"response.{kind}.delta", item_id=item.id, output_index=item.index,
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
            item.call_id = str(call_id or f"call_{uuid.uuid4().hex[:24]}")
            item.name = str(function.get("name") or "")
            self._calls[key] = item
            self._emit("response.output_item.added", output_index=item.index,
                       item=item.snapshot("in_progress"))
        elif item is not self._open:
            # Fragments of a call that is already closed cannot be expressed: Responses items
            # are sequential (section 10.4), interleaved Chat calls are not.
            raise _BrokenStream(_upstream_error("upstream interleaved the arguments of "
                                                "parallel tool calls"))
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.chunks.append(arguments)
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
                       content_index=index, text=body["text"])
        else:
            self._emit("response.refusal.done", item_id=item.id, output_index=item.index,
                       content_index=index, refusal=body["refusal"])
        self._emit("response.content_part.done", item_id=item.id, output_index=item.index,
                   content_index=index, part=body)

    def _close_call(self, item: _Item, status: str) -> None:
        if not item.chunks and status == "completed":
            # A tool without parameters: send "{}" so the client can parse it (section 13).
            # A truncated call (status incomplete) keeps what it has, unrepaired (10.1 step 8).
            item.chunks.append("{}")
            self._emit("response.function_call_arguments.delta", item_id=item.id,
                       output_index=item.index, delta="{}")
        self._emit("response.function_call_arguments.done", item_id=item.id,
                   output_index=item.index, name=item.name, arguments=item.text())

    # -- lifecycle -------------------------------------------------------------------------

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        self._emit("response.created", response=self._response("in_progress", []))
        self._emit("response.in_progress", response=self._response("in_progress", []))

    def _terminal(self) -> None:
        self._start()
        status, reason = response_status(self._finish)
        self._close_open(status)
        completed_at = int(self.clock()) if status == "completed" else None
        response = self._response(status, [*self._items], usage=responses_usage(self._usage),
                                  incomplete_reason=reason, completed_at=completed_at)
        self._emit(f"response.{status}", response=response)
        self._done()

    def _done(self) -> None:
        # The Open Responses spec requires the literal [DONE] as the last event (section 9).
        self._out.append(SSEEvent(DONE))
        self._closed = True

    def _response(self, status: str, output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return response_object(self.request, response_id=self.id, created_at=self.created_at,
                               model=self._model, status=status, output=output, **extra)

    def _emit(self, event_type: str, **fields: Any) -> None:
        payload = {"type": event_type, "sequence_number": self._seq, **fields}
        self._seq += 1
        self._out.append(json_event(payload, event_type))

    def _take(self) -> list[SSEEvent]:
        out, self._out = self._out, []
        return out


class _BrokenStream(Exception):
    def __init__(self, info: ErrorInfo):
        super().__init__(info.message)
        self.info = info


def _upstream_error(message: str) -> ErrorInfo:
    return ErrorInfo(502, message, "server_error", code="bad_upstream_response")


def _error_from_frame(payload: dict[str, Any]) -> ErrorInfo:
    # Mid-stream the HTTP status is already 200; 500 only picks the default type.
    return error_info_from_payload("openai", 500, payload)
