"""Open Responses clients on the OpenAI Chat hub: requests in, answers out.

`responses_request_to_chat` turns a `POST /v1/responses` body into a Chat Completions
request (the inverse of CONFORMANCE.md section 4, per section 4b); whatever a stateless
gateway cannot serve (`previous_response_id`, built-in tools, item references) raises
`UnsupportedFieldError`, and fields without a Chat equivalent are dropped and listed; the
input items become messages in `responses_inbound_items`. `chat_response_to_responses`
turns a `chat.completion` into a `Response` object (built by `responses_objects`), and
`ChatToResponsesStream` (in `responses_inbound_stream`) does the same for streams.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from .chat import Translated
from .chat_fields import TOOL_CHOICE_MODES, message_text, reasoning_text
from .errors import InvalidRequestError, UnsupportedFieldError, UpstreamFormatError
from .ids import new_response_id
from .responses_inbound_items import input_messages, required_str
from .responses_inbound_stream import ChatToResponsesStream
from .responses_objects import (
    function_call_item,
    item_id,
    message_item,
    output_text_part,
    reasoning_item,
    refusal_part,
    response_object,
)
from .stop_reasons import responses_status
from .usage import chat_usage_to_responses

__all__ = ["ChatToResponsesStream", "chat_response_to_responses", "responses_request_to_chat"]

# Same name and meaning in both APIs.
_PASSTHROUGH = ("temperature", "top_p", "parallel_tool_calls", "metadata", "user",
                "presence_penalty", "frequency_penalty")

# Fields that need state the gateway does not keep: a 400 naming them (section 4b).
_UNSUPPORTED: dict[str, str] = {
    "previous_response_id": "a stateless gateway keeps no earlier responses; send the whole "
                            "conversation in 'input'",
    "conversation": "a stateless gateway keeps no conversations; send the whole conversation "
                    "in 'input'",
    "prompt": "stored prompt templates are kept by OpenAI, not by this gateway",
    "background": "background responses need storage and polling",
}

# Handled by the functions below; every other field is dropped and listed.
_TRANSLATED = frozenset({*_PASSTHROUGH, *_UNSUPPORTED, "model", "input", "instructions", "tools",
                         "tool_choice", "max_output_tokens", "reasoning", "text", "stream"})


def responses_request_to_chat(body: dict[str, Any]) -> Translated:
    """A Responses request as an OpenAI Chat request (model kept); `body` is not changed."""
    for name, reason in _UNSUPPORTED.items():
        if body.get(name):
            raise UnsupportedFieldError(name, reason)
    dropped: list[str] = []
    chat: dict[str, Any] = {}
    if "model" in body:
        chat["model"] = body["model"]
    chat["messages"] = input_messages(body, dropped)
    for name in _PASSTHROUGH:
        if body.get(name) is not None:
            chat[name] = copy.deepcopy(body[name])
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
        if body.get("tool_choice") is not None:
            chat["tool_choice"] = _tool_choice(body["tool_choice"])
    else:
        # OpenAI Chat rejects both without tools, and without tools they mean nothing.
        chat.pop("parallel_tool_calls", None)
        dropped.extend(name for name in ("tool_choice", "parallel_tool_calls")
                       if body.get(name) is not None)
    _reasoning(body.get("reasoning"), chat, dropped)
    _text(body.get("text"), chat, dropped)
    if body.get("stream"):
        chat["stream"] = True
        # Without it an OpenAI upstream sends no usage and response.completed has none (§8).
        chat["stream_options"] = {"include_usage": True}
    dropped.extend(name for name, value in body.items()
                   if name not in _TRANSLATED and value is not None)
    return Translated(chat, tuple(dropped))


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
        output=_output_items(message, response_id, status),
        usage=chat_usage_to_responses(body.get("usage")),
        incomplete_reason=reason,
        completed_at=now if status == "completed" else None,
    )


# -- request: settings ---------------------------------------------------------------------


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequestError("'tools' must be a list", param="tools")
    return [_tool(f"tools[{index}]", tool) for index, tool in enumerate(tools)]


def _tool(path: str, tool: Any) -> dict[str, Any]:
    kind = tool.get("type") if isinstance(tool, dict) else None
    if kind != "function":
        # web_search, file_search, code_interpreter, custom, ... run on OpenAI's side or
        # need their own item types; a Chat upstream cannot serve them.
        raise UnsupportedFieldError(path, f"built-in tool {kind!r} has no Chat Completions "
                                          "equivalent; only function tools are translated")
    function = {"name": required_str(tool, "name", path)}
    # Flattened in Responses, nested in Chat (section 4, reversed).
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = copy.deepcopy(tool[key])
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> str | dict[str, Any]:
    if isinstance(choice, str) and choice in TOOL_CHOICE_MODES:
        return choice
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "function":
        return _function_ref("tool_choice", choice)
    if kind == "allowed_tools":
        refs = choice.get("tools") or []
        return {"type": "allowed_tools",
                "allowed_tools": {"mode": choice.get("mode") or "auto",
                                  "tools": [_function_ref(f"tool_choice.tools[{index}]", ref)
                                            for index, ref in enumerate(refs)]}}
    raise UnsupportedFieldError("tool_choice", f"tool choice {choice!r} has no Chat "
                                               "Completions equivalent")


def _function_ref(path: str, ref: Any) -> dict[str, Any]:
    if not isinstance(ref, dict) or ref.get("type") != "function":
        raise UnsupportedFieldError(path, "only function tools can be chosen")
    return {"type": "function", "function": {"name": required_str(ref, "name", path)}}


def _reasoning(reasoning: Any, chat: dict[str, Any], dropped: list[str]) -> None:
    if reasoning is None:
        return
    if not isinstance(reasoning, dict):
        raise InvalidRequestError("'reasoning' must be an object", param="reasoning")
    if reasoning.get("effort"):
        chat["reasoning_effort"] = reasoning["effort"]
    # `summary` asks for reasoning text; Chat cannot ask, it streams what the model gives.
    dropped.extend(f"reasoning.{key}" for key, value in reasoning.items()
                   if key != "effort" and value is not None)


def _text(text: Any, chat: dict[str, Any], dropped: list[str]) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise InvalidRequestError("'text' must be an object", param="text")
    fmt = text.get("format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif kind == "json_schema" and isinstance(fmt, dict):
        # Flat in Responses, nested under `json_schema` in Chat (section 4, reversed).
        schema = {key: copy.deepcopy(fmt[key]) for key in ("name", "description", "schema",
                                                           "strict") if fmt.get(key) is not None}
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif fmt is not None and kind != "text":
        raise UnsupportedFieldError("text.format", f"output format {kind!r} has no Chat "
                                                   "Completions equivalent")
    dropped.extend(f"text.{key}" for key, value in text.items()
                   if key != "format" and value is not None)


# -- answer --------------------------------------------------------------------------------


def _output_items(message: dict[str, Any], response_id: str,
                  status: str) -> list[dict[str, Any]]:
    """Reasoning, then the message, then the calls: the order the model produced them in."""
    items: list[dict[str, Any]] = []
    reasoning = reasoning_text(message)
    if reasoning:
        items.append(reasoning_item(item_id("reasoning", response_id, 0), "completed",
                                    [reasoning]))
    parts = []
    text = message_text(message.get("content"))
    if text:
        parts.append(output_text_part(text))
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        parts.append(refusal_part(message["refusal"]))
    if parts:
        items.append(message_item(item_id("message", response_id, len(items)), "completed",
                                  parts))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        items.append(function_call_item(
            item_id("function_call", response_id, len(items)), "completed",
            str(call.get("id") or ""), str(function.get("name") or ""),
            # A tool without parameters: "{}" so the client can parse it (section 13).
            str(function.get("arguments") or "{}"),
        ))
    if status == "incomplete" and items:
        # An item cut off by the limit is incomplete and is the last one (Open Responses).
        items[-1]["status"] = "incomplete"
    return items
