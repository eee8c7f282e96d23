"""Open Responses objects mitmllm builds itself: the `Response` with the client's request
echoed, its output items and content parts, and the events that end a stream with an error.

Whole answers and streams (`client_answer`) build the same objects here, so a streamed
answer's final `Response` equals the whole one; translated and passed-through streams end
with the same error events (docs/formats.md#how-a-stream-ends).
"""

from __future__ import annotations

import copy
import time
from typing import Any, Literal

from ..errors import ErrorInfo, openai_error_body
from ..sse import DONE, SSEEvent, json_event
from ..tools import ToolName, custom_input

ItemKind = Literal["message", "reasoning", "function_call"]

_ITEM_PREFIX: dict[ItemKind, str] = {"message": "msg", "reasoning": "rs", "function_call": "fc"}

# Response fields echoed from the request, with the value the Responses API reports when the
# client left one out: the spec requires every non-nullable field (ResponseResource.json).
# `prompt_cache_key` is forwarded to the provider, so the Response reports the client's key.
_ECHOED: dict[str, Any] = {
    "instructions": None, "tools": [], "tool_choice": "auto", "parallel_tool_calls": True,
    "text": {"format": {"type": "text"}}, "temperature": 1.0, "top_p": 1.0,
    "presence_penalty": 0.0, "frequency_penalty": 0.0, "reasoning": None, "user": None,
    "max_output_tokens": None, "metadata": {}, "prompt_cache_key": None,
}
# Fields the request translation drops report what was really used. A stateless gateway
# stores nothing whatever the client asked (`store: false`, docs/formats.md#whole-answers),
# so a later GET /v1/responses/{id} is not promised.
_NOT_FORWARDED: dict[str, Any] = {
    "truncation": "disabled", "top_logprobs": 0, "max_tool_calls": None,
    "safety_identifier": None, "store": False, "background": False,
    "service_tier": "default",
}


def item_id(kind: ItemKind, response_id: str, index: int) -> str:
    """Item ids derived from the response id: unique, and stable when a stream is replayed."""
    return f"{_ITEM_PREFIX[kind]}_{response_id.removeprefix('resp_')}_{index}"


def echoed_settings(request: dict[str, Any]) -> dict[str, Any]:
    """The request's settings as a Response reports them (a copy: the request is untouched).
    A stream's three Responses (created, in progress, final) share one, made once: they
    are written out as soon as they are made."""
    settings = {name: _echo(name, copy.deepcopy(value if (value := request.get(name))
                                                is not None else default))
                for name, default in _ECHOED.items()}
    settings.update(copy.deepcopy(_NOT_FORWARDED))
    return settings


def response_object(request: dict[str, Any], *, response_id: str, created_at: int, model: str,
                    status: str, output: list[dict[str, Any]],
                    usage: dict[str, Any] | None = None, incomplete_reason: str | None = None,
                    error: dict[str, Any] | None = None,
                    completed_at: int | None = None,
                    settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """A full `Response` object: the fields of this answer, then the request's settings
    (`settings`, when `echoed_settings(request)` was made already)."""
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
    body.update(echoed_settings(request) if settings is None else settings)
    return body


def with_required_keys(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A provider's Response snapshot (or none, `{}`) with every key the spec requires,
    for the `response.failed` mitmllm adds to a passed-through stream: the provider's values
    are kept, a key it left out gets the value reported when nothing was asked for."""
    created = snapshot.get("created_at")
    filled = response_object(
        {}, response_id=str(snapshot.get("id") or "resp_failed"),
        created_at=created if isinstance(created, int) else int(time.time()),
        model=str(snapshot.get("model") or ""), status="in_progress", output=[])
    return {**filled, **snapshot}


def _echo(name: str, value: Any) -> Any:
    """A request setting in the shape the Response must report it: the request's shapes
    (FunctionToolParam, TextParam, ReasoningParam, AllowedToolsParam) leave keys optional
    that the Response's (FunctionTool, TextField, Reasoning, AllowedToolChoice) require
    (Open Responses tools.tsp and configuration.tsp). What the client left out is filled
    with null where the spec allows it, else with the value that was used."""
    if name == "tools" and isinstance(value, list):
        for tool in value:
            if isinstance(tool, dict) and tool.get("type") == "function":
                for key in ("description", "parameters", "strict"):
                    tool.setdefault(key, None)
    elif name == "text" and isinstance(value, dict):
        # Codex sends `{"verbosity": ...}` alone; no format means plain text.
        value.setdefault("format", {"type": "text"})
        fmt = value["format"]
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            fmt.setdefault("description", None)
            if fmt.get("strict") is None:
                fmt["strict"] = False  # not forwarded, so the provider's default: off
    elif name == "reasoning" and isinstance(value, dict):
        value.setdefault("effort", None)
        value.setdefault("summary", None)
    elif name == "tool_choice" and isinstance(value, dict) and \
            value.get("type") == "allowed_tools" and value.get("mode") is None:
        value["mode"] = "auto"  # the mode the hub translation uses when none is given
    return value


def output_text_part(text: str) -> dict[str, Any]:
    # `logprobs` is required by the Open Responses OutputTextContent (and always a list in
    # OpenAI's answers); the hub carries no log probabilities, so it is empty.
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def refusal_part(text: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": text}


def message_item(item_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant",
            "content": content}


def reasoning_item(item_id: str, status: str, summary: list[str],
                   encrypted_content: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": item_id, "type": "reasoning", "status": status,
        "summary": [{"type": "summary_text", "text": text} for text in summary]}
    if encrypted_content is not None:
        item["encrypted_content"] = encrypted_content
    return item


def function_call_item(item_id: str, status: str, call_id: str, name: str,
                       arguments: str) -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "call_id": call_id,
            "name": name, "arguments": arguments}


def call_item(item_id: str, status: str, call_id: str, tool: ToolName,
              arguments: str) -> dict[str, Any]:
    """A provider's function call as the client declared the tool: a `function_call` with
    the client's own namespace, or a freeform tool's `custom_tool_call` with its text
    (docs/formats.md#tools)."""
    item: dict[str, Any]
    if tool.custom:
        item = {"id": item_id, "type": "custom_tool_call", "status": status,
                "call_id": call_id, "name": tool.name, "input": custom_input(arguments)}
    else:
        item = function_call_item(item_id, status, call_id, tool.name, arguments)
    if tool.namespace:
        item["namespace"] = tool.namespace
    return item


def failed_events(response: dict[str, Any], error: ErrorInfo, sequence: int) -> list[SSEEvent]:
    """How a Responses stream ends with an error: an `error` event, `response.failed` for
    `response` (the answer so far), then `[DONE]`; `sequence` is the next sequence number.

    The Open Responses schema nests the error (ErrorStreamingEvent.error) where OpenAI's
    ResponseErrorEvent is flat: both are sent, so either reader finds them, and the `error`
    key makes the openai SDK raise APIError as it does for a Chat error frame.
    """
    body = openai_error_body(error)["error"]
    failed = {**response, "status": "failed",
              "error": {"code": body["code"] or body["type"] or "server_error",
                        "message": body["message"]}}
    return [json_event({"type": "error", "sequence_number": sequence, "code": body["code"],
                        "message": body["message"], "param": body["param"], "error": body},
                       "error"),
            json_event({"type": "response.failed", "sequence_number": sequence + 1,
                        "response": failed}, "response.failed"),
            SSEEvent(DONE)]
