"""OpenAI Chat client → Anthropic Messages provider: the entry point of the translation.

`chat_request_to_anthropic` turns a Chat Completions body into a Messages body
(docs/formats.md#roles and the request topics after it). Fields Anthropic cannot take are
dropped and listed in `Translated.dropped`, or rejected with `UnsupportedFieldError` when
dropping them would change the answer. This module reads the parameters (sampling,
thinking, tools, output format); `provider_request_messages` converts the messages. The
answer direction is in `provider_answer`: `anthropic_response_to_chat`
(docs/formats.md#whole-answers) and the stream translator `AnthropicToChatStream`
(docs/formats.md#anthropic-stream-to-chat).

Pure functions over JSON-like data: inputs are never mutated; client sub-objects that are
passed through (schemas, `thinking`, `cache_control`) are copied.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from ..chat.fields import requested_max_tokens
from ..chat.types import NO_OPTIONS, RequestOptions, Translated
from ..errors import InvalidRequestError, UnsupportedFieldError
from ..json_values import as_dict
from .provider_request_messages import LEGACY_FUNCTION_CALL, Block, convert_messages

# Client fields this module reads. Anything else is dropped and listed: Anthropic rejects
# unknown top-level fields, and penalties, seed, logit_bias, logprobs… have no equivalent
# (docs/formats.md#dropped-and-refused). `thinking` and `top_k` are Anthropic extensions
# passed by LiteLLM-style clients.
_CONSUMED = frozenset({
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "top_k", "stop", "n", "tools", "tool_choice",
    "parallel_tool_calls", "reasoning_effort", "thinking", "response_format", "user",
    "modalities",
})
# Dropping these would silently change what the model does or returns: 400 instead.
_REJECTED = {
    "functions": "legacy functions are not translated; send `tools`",
    "function_call": LEGACY_FUNCTION_CALL,
    "audio": "Anthropic has no audio output",
}
# LiteLLM's defaults for low/medium/high (docs/formats.md#reasoning); `minimal` uses the
# API minimum, and xhigh/max continue the doubling. `none` turns thinking off.
_EFFORT_BUDGETS: dict[str, int | None] = {
    "none": None, "minimal": 1024, "low": 1024, "medium": 2048, "high": 4096,
    "xhigh": 8192, "max": 16384,
}
MIN_THINKING_BUDGET = 1024
_UNBOUNDED_BUDGET = 16384  # the `max` effort's budget
_TOOL_CHOICES: dict[str, Block] = {
    "auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"},
}
_EMPTY_SCHEMA: Block = {"type": "object", "properties": {}}
# claude-opus-4-7, claude-sonnet-5, claude-opus-5-5-20270101: the family's version.
_CLAUDE_VERSION = re.compile(r"claude-(?:opus|sonnet|haiku)-(\d)(?:[-.](\d)(?!\d))?")
# OpenAI's efforts as Anthropic's output_config.effort (low, medium, high, max).
_ANTHROPIC_EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high",
                      "xhigh": "max", "max": "max"}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[\d\s().-]{7,24}")


def chat_request_to_anthropic(body: dict[str, Any],
                              options: RequestOptions = NO_OPTIONS) -> Translated:
    """An OpenAI Chat request as an Anthropic Messages request (docs/formats.md#roles and
    the request topics after it). `model` is kept."""
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    req = {k: v for k, v in body.items() if v is not None}  # null means "not sent"
    for name, reason in _REJECTED.items():
        if name in req:
            raise UnsupportedFieldError(name, reason)
    _check_n_and_modalities(req)
    dropped = [k for k in req if k not in _CONSUMED]
    system, messages = convert_messages(req.get("messages"), dropped, options.memory)
    thinking = _thinking(req, dropped)
    if _thinking_on(thinking) and not continuation_keeps_thinking(messages):
        # With thinking on, Anthropic refuses a tool continuation whose assistant turn does
        # not start with its signed thinking block ("a final `assistant` message must start
        # with a thinking block"); without that block, this turn goes without thinking.
        thinking = None
        dropped.append("thinking (the continued tool turn has no signed thinking block)")
    out: dict[str, Any] = {"model": req["model"]} if "model" in req else {}
    out["max_tokens"] = _max_tokens(req, options.max_tokens_default, thinking)
    defaulted = _defaults(req, out["max_tokens"], thinking)
    if system:
        out["system"] = system
    out["messages"] = messages
    out.update(_sampling(req, thinking, dropped))
    out.update(_tools(req, thinking, dropped))
    if thinking is not None:
        out["thinking"] = thinking
    out.update(_user_and_format(req, dropped))
    if thinking is not None and thinking.get("type") == "adaptive" \
            and req.get("reasoning_effort") in _ANTHROPIC_EFFORTS:
        effort = _ANTHROPIC_EFFORTS[req["reasoning_effort"]]
        out["output_config"] = {**out.get("output_config", {}), "effort": effort}
    if "stream" in req:
        out["stream"] = req["stream"]  # stream_options is never sent (docs/formats.md#usage)
    return Translated(out, tuple(dropped), defaulted)


def _defaults(req: dict[str, Any], max_tokens: int, thinking: Block | None
              ) -> tuple[str, ...]:
    out = []
    if requested_max_tokens(req) is None:
        out.append(f"max_tokens = {max_tokens} (Anthropic requires it; the provider's "
                   "max_tokens_default)")
    elif requested_max_tokens(req) != max_tokens:
        out.append(f"max_tokens = {max_tokens} (the client's limit plus the thinking budget, "
                   "which must stay below it)")
    if thinking is not None and "thinking" not in req:
        out.append(f"thinking = {json.dumps(thinking)} (from reasoning_effort "
                   f"{req.get('reasoning_effort')!r})")
    return tuple(out)


def _check_n_and_modalities(req: dict[str, Any]) -> None:
    if req.get("n", 1) != 1:
        raise UnsupportedFieldError("n", "Anthropic returns one choice; only n=1 is served")
    modalities = req.get("modalities", ["text"])
    if not isinstance(modalities, list) or any(m != "text" for m in modalities):
        raise UnsupportedFieldError("modalities", "Anthropic only produces text")


def _thinking(req: dict[str, Any], dropped: list[str]) -> Block | None:
    if "thinking" in req:  # the client's own, verbatim (req_08, docs/formats.md#reasoning)
        if not isinstance(req["thinking"], dict):
            raise InvalidRequestError("'thinking' must be an object", param="thinking")
        if "reasoning_effort" in req:
            dropped.append("reasoning_effort")
        thinking = copy.deepcopy(req["thinking"])
        budget = valid_budget(thinking.get("budget_tokens"))
        if budget is not None and budget != thinking.get("budget_tokens"):
            dropped.append(f"thinking.budget_tokens {thinking['budget_tokens']} (sent as "
                           f"{budget}: Anthropic's range starts at {MIN_THINKING_BUDGET})")
            thinking["budget_tokens"] = budget
        return thinking
    effort = req.get("reasoning_effort")
    if effort is None:
        return None
    if not isinstance(effort, str) or effort not in _EFFORT_BUDGETS:
        raise InvalidRequestError(f"unknown reasoning_effort {effort!r}",
                                  param="reasoning_effort")
    budget = _EFFORT_BUDGETS[effort]
    if budget is None:
        return None
    if _adaptive_only(req.get("model")):
        # Newer Claude models take adaptive thinking with an effort and refuse a manual budget
        # (docs/formats.md#reasoning); the effort goes in output_config (_user_and_format).
        return {"type": "adaptive"}
    return {"type": "enabled", "budget_tokens": budget}


def _adaptive_only(model: Any) -> bool:
    """Whether the model id names Claude 4.7 or newer, which Anthropic documents as refusing
    manual thinking (`budget_tokens`) in favour of adaptive thinking."""
    found = _CLAUDE_VERSION.search(model) if isinstance(model, str) else None
    if found is None:
        return False
    major, minor = int(found.group(1)), int(found.group(2) or 0)
    return (major, minor) >= (4, 7)


def valid_budget(budget: Any) -> int | None:
    """A thinking budget Anthropic accepts (at least 1024) for what a client asked: a
    negative budget (OpenCode's -1) means "as much as the model likes", a small one the
    minimum. None when no budget was given."""
    if budget is None:
        return None
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise InvalidRequestError("thinking.budget_tokens must be an integer",
                                  param="thinking.budget_tokens")
    if budget < 0:
        return _UNBOUNDED_BUDGET
    return max(budget, MIN_THINKING_BUDGET)


def continuation_keeps_thinking(messages: list[Any]) -> bool:
    """False when the request continues a tool turn (tool results last) whose assistant
    message does not open with a thinking block. Reads a client's own messages too (a
    passthrough), whatever their shape."""
    if len(messages) < 2:
        return True
    turn, reply = as_dict(messages[-2]), as_dict(messages[-1])
    last, content = reply.get("content"), turn.get("content")
    continues = reply.get("role") == "user" and isinstance(last, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in last)
    if not continues or turn.get("role") != "assistant" or not isinstance(content, list):
        return True
    first = as_dict(content[0]) if content else {}
    return first.get("type") in ("thinking", "redacted_thinking")


def _thinking_on(thinking: Block | None) -> bool:
    return thinking is not None and thinking.get("type") != "disabled"


def _max_tokens(req: dict[str, Any], default: int, thinking: Block | None) -> int:
    requested = requested_max_tokens(req)
    value = default if requested is None else requested
    budget = thinking.get("budget_tokens") if _thinking_on(thinking) and thinking else None
    if isinstance(budget, int) and value <= budget:
        # budget_tokens must be < max_tokens (docs/formats.md#sampling-and-limits); the
        # client's limit then bounds the visible answer on top of the thinking budget
        # (req_09: 4096 + 4096).
        value += budget
    return value


def _sampling(req: dict[str, Any], thinking: Block | None,
              dropped: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    on = _thinking_on(thinking)
    if "temperature" in req:
        temperature = _number(req, "temperature")
        if on:  # extended thinking rejects any temperature change (docs/formats.md#reasoning)
            dropped.append("temperature")
        else:  # OpenAI allows 0 to 2, Anthropic 0 to 1 (docs/formats.md#sampling-and-limits)
            out["temperature"] = min(max(temperature, 0.0), 1.0)
    if "top_p" in req:
        top_p = _number(req, "top_p")
        if on and not 0.95 <= top_p <= 1:
            dropped.append("top_p")
        else:
            out["top_p"] = top_p
    if "top_k" in req:
        if on:
            dropped.append("top_k")
        else:
            out["top_k"] = req["top_k"]
    stop = _stop_sequences(req.get("stop"))
    if stop:
        out["stop_sequences"] = stop
    return out


def _number(req: dict[str, Any], name: str) -> float:
    value = req[name]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidRequestError(f"'{name}' must be a number", param=name)
    return value


def _stop_sequences(stop: Any) -> list[str]:
    if stop is None:
        return []
    items = [stop] if isinstance(stop, str) else stop
    if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
        raise InvalidRequestError("'stop' must be a string or a list of strings", param="stop")
    return [s for s in items if s.strip()]  # Anthropic rejects whitespace-only sequences


def _tools(req: dict[str, Any], thinking: Block | None,
           dropped: list[str]) -> dict[str, Any]:
    tools = req.get("tools") or []
    if not isinstance(tools, list):
        raise InvalidRequestError("'tools' must be a list", param="tools")
    if not tools:
        if "tool_choice" in req:  # Anthropic rejects a tool_choice without tools
            dropped.append("tool_choice")
        return {}
    choice = _tool_choice(req.get("tool_choice"))
    if _thinking_on(thinking) and choice and choice["type"] in ("any", "tool"):
        # Extended thinking forbids forced tool use: downgrade to auto (req_09,
        # docs/formats.md#tool-choice).
        choice = {"type": "auto"}
        dropped.append("tool_choice")
    if req.get("parallel_tool_calls") is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":  # not valid on `none` (docs/formats.md#tool-choice)
            choice = {**choice, "disable_parallel_tool_use": True}
    out: dict[str, Any] = {"tools": [_tool(i, tool) for i, tool in enumerate(tools)]}
    if choice:
        out["tool_choice"] = choice
    return out


def _tool(i: int, tool: Any) -> Block:
    if not isinstance(tool, dict) or tool.get("type", "function") != "function":
        raise UnsupportedFieldError(f"tools[{i}].type", "only function tools are translated")
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequestError("a function tool needs function.name",
                                  param=f"tools[{i}].function")
    out: Block = {"name": function["name"]}
    if function.get("description") is not None:
        out["description"] = function["description"]
    out["input_schema"] = copy.deepcopy(function.get("parameters") or _EMPTY_SCHEMA)
    if function.get("strict") is not None:
        out["strict"] = function["strict"]
    return out


def _tool_choice(choice: Any) -> Block | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _TOOL_CHOICES:
        return dict(_TOOL_CHOICES[choice])
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if isinstance(name, str):
            return {"type": "tool", "name": name}
    raise UnsupportedFieldError("tool_choice", f"{choice!r} has no Anthropic equivalent")


def _user_and_format(req: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    user = req.get("user")
    if isinstance(user, str) and user and not _looks_personal(user):
        out["metadata"] = {"user_id": user}
    elif "user" in req:  # Anthropic forbids personal data in user_id (LiteLLM policy)
        dropped.append("user")
    fmt = req.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else fmt
    if fmt is None or kind == "text":
        return out
    if kind == "json_schema" and isinstance(fmt, dict):
        schema = (fmt.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise InvalidRequestError("json_schema.schema must be an object",
                                      param="response_format")
        out["output_config"] = {"format": {"type": "json_schema",
                                           "schema": copy.deepcopy(schema)}}
    elif kind == "json_object":  # no JSON mode without a schema: the prompt has to ask
        dropped.append("response_format")
    else:
        raise UnsupportedFieldError("response_format", f"type {kind!r} is not translated")
    return out


def _looks_personal(user: str) -> bool:
    digits = sum(c.isdigit() for c in user)
    return bool(_EMAIL.fullmatch(user) or (_PHONE.fullmatch(user) and digits >= 7))
