"""Open Responses clients on the OpenAI Chat hub: requests in, answers out.

`responses_request_to_chat` turns a `POST /v1/responses` body into a Chat Completions
request (docs/formats.md#roles and the request topics after it, read from Responses to
Chat); whatever a stateless gateway cannot serve (`previous_response_id`, item references)
raises `UnsupportedFieldError`, and fields without a Chat equivalent are dropped and listed
(docs/formats.md#dropped-and-refused); the input items become messages in
`client_request_items`, the tools become functions in `client_request_tools`. The
answer direction is in `client_answer`: `chat_response_to_responses` turns a
`chat.completion` into a `Response` object (built by `objects`), and `ChatToResponsesStream`
does the same for streams.
"""

from __future__ import annotations

import copy
from typing import Any

from ..chat.fields import output_limit, usage_asked_for
from ..chat.types import NO_OPTIONS, RequestOptions, Translated
from ..errors import TARGET, InvalidRequestError, UnsupportedFieldError
from .client_request_items import input_messages
from .client_request_tools import hub_tool_choice, hub_tools

# Same name and meaning in both APIs.
_PASSTHROUGH = ("temperature", "top_p", "parallel_tool_calls", "metadata", "user",
                "presence_penalty", "frequency_penalty", "prompt_cache_key")

# Fields that need state the gateway does not keep: a 400 naming them
# (docs/formats.md#dropped-and-refused).
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
        chat["max_completion_tokens"] = output_limit(body["max_output_tokens"],
                                                     "max_output_tokens")
    tools = hub_tools(body, options, dropped)
    if tools:
        chat["tools"] = tools
        if body.get("tool_choice") is not None:
            choice = hub_tool_choice(body["tool_choice"], tools, options, dropped)
            if choice is not None:
                chat["tool_choice"] = choice
    else:
        # OpenAI Chat rejects both without tools, and without tools they mean nothing.
        chat.pop("parallel_tool_calls", None)
        dropped.extend(name for name in ("tool_choice", "parallel_tool_calls")
                       if body.get(name) is not None)
    _reasoning(body.get("reasoning"), chat, dropped)
    _text(body.get("text"), chat, dropped)
    if body.get("stream"):
        chat["stream"] = True
        # Without it an OpenAI upstream sends no usage and response.completed has none
        # (docs/formats.md#usage).
        chat["stream_options"] = {"include_usage": True}
    dropped.extend(name for name, value in body.items()
                   if name not in _TRANSLATED and value is not None)
    return Translated(chat, tuple(dropped), usage_asked_for(chat))


# -- request: settings ---------------------------------------------------------------------


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
        # Flat in Responses, nested under `json_schema` in Chat (the response formats of
        # docs/formats.md#sampling-and-limits).
        schema = {key: copy.deepcopy(fmt[key]) for key in ("name", "description", "schema",
                                                           "strict") if fmt.get(key) is not None}
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif fmt is not None and kind != "text":
        raise UnsupportedFieldError("text.format", f"output format {kind!r} has no {TARGET} "
                                                   "equivalent")
    if text.get("verbosity") is not None:
        chat["verbosity"] = text["verbosity"]  # OpenAI Chat's own field of the same name
    dropped.extend(f"text.{key}" for key, value in text.items()
                   if key not in ("format", "verbosity") and value is not None)
