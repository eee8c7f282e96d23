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
from typing import Any

from ..chat.fields import TOOL_CHOICE_MODES
from ..chat.types import NO_OPTIONS, RequestOptions, Translated
from ..errors import InvalidRequestError, UnsupportedFieldError
from .client_request_items import input_messages, required_str

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


def responses_request_to_chat(body: dict[str, Any],
                              options: RequestOptions = NO_OPTIONS) -> Translated:
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
