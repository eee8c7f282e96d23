"""OpenAI Chat clients on an Open Responses provider: the request and the whole answer.

- `chat_request_to_responses`: a Chat Completions request -> a `POST /responses` body
  (docs/formats.md#roles and the request topics after it), with the client fields that had
  to be dropped.
- The answer, in `provider_answer`: `responses_response_to_chat`, a Responses object -> a
  `chat.completion` (docs/formats.md#whole-answers), and `ResponsesToChatStream`, the
  streamed answer (docs/formats.md#responses-stream-to-chat).

The messages become input items in `provider_request_items`; this module reads the
parameters.

Pure functions on JSON-like data; the input is never mutated and the output shares no
mutable object with it. What cannot be expressed raises `UnsupportedFieldError` (a 400
naming the field); malformed input raises `InvalidRequestError`; an answer that is not a
usable Responses object raises `UpstreamFormatError` or `ResponseFailedError`.
"""

from __future__ import annotations

import copy
from typing import Any

from ..chat.fields import TOOL_CHOICE_MODES, effort_for_budget, requested_max_tokens
from ..chat.types import NO_OPTIONS, RequestOptions, Translated
from ..errors import InvalidRequestError, UnsupportedFieldError
from .provider_request_items import Item, input_items

# Responses rejects max_output_tokens below 16 (docs/formats.md#sampling-and-limits).
_MIN_OUTPUT_TOKENS = 16

# Same name and meaning in both APIs (docs/formats.md#sampling-and-limits; temperature and
# top_p are handled with reasoning).
_PASSTHROUGH = ("stream", "parallel_tool_calls", "metadata", "service_tier",
                "prompt_cache_key", "safety_identifier")
# OpenAI reasoning models reject these, so they go when reasoning is requested
# (docs/formats.md#sampling-and-limits).
_SAMPLING = ("temperature", "top_p")
# No Responses equivalent: dropped, and `Translated.dropped` lists them
# (docs/formats.md#dropped-and-refused).
_DROPPABLE = ("stop", "presence_penalty", "frequency_penalty", "seed", "logit_bias",
              "logprobs", "top_logprobs", "user", "prediction", "top_k")
# Fields that would change what the client gets back: a 400 rather than a silent loss.
_UNSUPPORTED: dict[str, str] = {
    "audio": "audio output is not available through the Responses API",
    "functions": "use 'tools' instead of the deprecated 'functions'",
    "function_call": "use 'tool_choice' instead of the deprecated 'function_call'",
    "web_search_options": "web search is a Responses tool, not a Chat option",
}
# Read by the translation below (or by the proxy, like stream_options:
# docs/formats.md#usage), never copied.
_HANDLED = frozenset({
    "model", "messages", "max_tokens", "max_completion_tokens", "n", "tools", "tool_choice",
    "reasoning_effort", "response_format", "verbosity", "store", "stream_options", "thinking",
    "modalities", *_PASSTHROUGH, *_SAMPLING, *_DROPPABLE, *_UNSUPPORTED,
})
# Per-message fields Responses message items cannot carry. (Reasoning goes back as the
# provider's own reasoning items; see provider_request_items.)
_MESSAGE_LOSSES = ("name",)
ENCRYPTED_REASONING = "reasoning.encrypted_content"


def chat_request_to_responses(body: dict[str, Any],
                              options: RequestOptions = NO_OPTIONS) -> Translated:
    """A Chat Completions request as a Responses request (docs/formats.md#roles and the
    request topics after it); `model` is kept as given."""
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    body = copy.deepcopy(body)  # the output may then share objects with this copy only
    _reject_unsupported(body)
    instructions, items = input_items(body.get("messages"), options.memory)
    out: dict[str, Any] = {"model": body.get("model")}
    if instructions is not None:
        out["instructions"] = instructions
    out["input"] = items
    dropped = [*_message_losses(body["messages"]), *_dropped_fields(body)]
    max_output = _max_output_tokens(body)
    if max_output is not None:
        out["max_output_tokens"] = max_output
    reasoning = _reasoning(body.get("reasoning_effort") or _effort_of_thinking(body, dropped))
    for key in _SAMPLING:
        if body.get(key) is None:
            continue
        if reasoning is not None and reasoning["effort"] != "none":
            dropped.append(key)
        else:
            out[key] = body[key]
    out.update({key: body[key] for key in _PASSTHROUGH if body.get(key) is not None})
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        out["tool_choice"] = _tool_choice(body["tool_choice"])
    if reasoning is not None:
        out["reasoning"] = reasoning
    text = _text_config(body.get("response_format"), body.get("verbosity"))
    if text:
        out["text"] = text
    # Extension fields a client adds for this provider go through unchanged, not dropped.
    out.update({key: value for key, value in body.items() if key not in _HANDLED})
    # A stateless proxy does not ask for stored responses unless the client did
    # (docs/formats.md#sampling-and-limits).
    defaulted: list[str] = []
    out["store"] = body["store"] if isinstance(body.get("store"), bool) else False
    if not isinstance(body.get("store"), bool):
        defaulted.append("store = false (a stateless gateway asks for nothing to be stored)")
    if out["store"] is False:
        # Without storage the provider's reasoning survives a tool loop only if it sends
        # it along, encrypted, for the next request to give back (docs/formats.md#reasoning).
        given = out.get("include")
        include: list[Any] = list(given) if isinstance(given, list) else []
        if ENCRYPTED_REASONING not in include:
            include.append(ENCRYPTED_REASONING)
            defaulted.append(f"include += {ENCRYPTED_REASONING} (the reasoning to give back "
                             "on the next turn, without storage)")
        out["include"] = include
    return Translated(out, tuple(dict.fromkeys(dropped)), tuple(defaulted))


def _reject_unsupported(body: dict[str, Any]) -> None:
    for key, reason in _UNSUPPORTED.items():
        if body.get(key) is not None:
            raise UnsupportedFieldError(key, reason)
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise InvalidRequestError("'n' must be a positive integer", param="n")
    if n is not None and n > 1:
        raise UnsupportedFieldError("n", "a Responses request yields one choice; only n=1")
    modalities = body.get("modalities")
    if isinstance(modalities, list) and any(m != "text" for m in modalities):
        raise UnsupportedFieldError("modalities", "only text output is available")


def _dropped_fields(body: dict[str, Any]) -> list[str]:
    # `logprobs: false` asks for nothing, so it is no loss; n == 1 is listed
    # (docs/formats.md#dropped-and-refused).
    dropped = [key for key in _DROPPABLE if body.get(key) not in (None, False)]
    return ["n", *dropped] if body.get("n") is not None else dropped


def _message_losses(messages: list[Item]) -> list[str]:
    return [f"messages[].{key}" for key in _MESSAGE_LOSSES
            if any(message.get(key) is not None for message in messages)]


def _tools(tools: Any) -> list[Item]:
    if not isinstance(tools, list):
        raise InvalidRequestError("'tools' must be an array", param="tools")
    return [_tool(tool, f"tools[{j}]") for j, tool in enumerate(tools)]


def _tool(tool: Any, where: str) -> Item:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        raise UnsupportedFieldError(where, "only function tools can be sent to an Open "
                                    "Responses provider")
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequestError("a function tool needs function.name", param=where)
    flat: Item = {"type": "function", "name": function["name"]}
    if function.get("description") is not None:
        flat["description"] = function["description"]
    flat["parameters"] = function.get("parameters") or {"type": "object", "properties": {}}
    # `strict` is required by FunctionTool; strict mode needs a closed schema, so it is only
    # on when the client asked for it (docs/formats.md#tools).
    flat["strict"] = function.get("strict") is True
    return flat


def _tool_choice(choice: Any) -> str | Item:
    if isinstance(choice, str) and choice in TOOL_CHOICE_MODES:
        return choice
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "function":
        name = _function_name(choice)
        if name is not None:
            return {"type": "function", "name": name}
    elif kind == "allowed_tools":
        allowed = choice.get("allowed_tools")
        if isinstance(allowed, dict) and isinstance(allowed.get("tools"), list):
            names = [_function_name(tool) for tool in allowed["tools"]]
            if all(names):
                return {"type": "allowed_tools", "mode": allowed.get("mode", "auto"),
                        "tools": [{"type": "function", "name": name} for name in names]}
    elif isinstance(kind, str):
        raise UnsupportedFieldError("tool_choice", f"tool choice type '{kind}' has no Open "
                                    "Responses equivalent")
    raise InvalidRequestError("malformed tool_choice", param="tool_choice")


def _function_name(choice: Any) -> str | None:
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    return name if isinstance(name, str) and name else None


def _effort_of_thinking(body: dict[str, Any], dropped: list[str]) -> str | None:
    """Anthropic's `thinking` as a Chat client's extension (aider, LiteLLM-style clients):
    its budget as an effort, since a Responses provider refuses the field itself."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict):
        return None
    budget = thinking.get("budget_tokens")
    if thinking.get("type") != "enabled" or not isinstance(budget, int) or \
            isinstance(budget, bool):
        dropped.append("thinking")
        return None
    return effort_for_budget(budget)


def _max_output_tokens(body: dict[str, Any]) -> int | None:
    requested = requested_max_tokens(body)
    return None if requested is None else max(requested, _MIN_OUTPUT_TOKENS)


def _reasoning(effort: Any) -> dict[str, str] | None:
    if effort is None:
        return None
    if not isinstance(effort, str):
        raise InvalidRequestError("'reasoning_effort' must be a string",
                                  param="reasoning_effort")
    if effort == "none":
        return {"effort": effort}  # no reasoning, so no summary to ask for
    # Without a summary setting no reasoning text comes back at all (docs/formats.md#reasoning).
    return {"effort": effort, "summary": "auto"}


def _text_config(response_format: Any, verbosity: Any) -> Item:
    text: Item = {}
    if response_format is not None:
        text["format"] = _text_format(response_format)
    if verbosity is not None:
        text["verbosity"] = verbosity
    return text


def _text_format(response_format: Any) -> Item:
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind in ("text", "json_object"):
        return {"type": kind}
    if kind == "json_schema":
        schema = response_format.get("json_schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
            raise InvalidRequestError("json_schema needs a name",
                                      param="response_format.json_schema")
        # Responses flattens the Chat `json_schema` object into the format itself
        # (docs/formats.md#sampling-and-limits).
        flat: Item = {"type": "json_schema", "name": schema["name"],
                      "schema": schema.get("schema") or {"type": "object"}}
        flat.update({key: schema[key] for key in ("description", "strict")
                     if schema.get(key) is not None})
        return flat
    if isinstance(kind, str):
        raise UnsupportedFieldError("response_format", f"type '{kind}' is not supported")
    raise InvalidRequestError("malformed response_format", param="response_format")
