"""OpenAI Chat client → Anthropic Messages provider: the entry point of the translation.

`chat_request_to_anthropic` turns a Chat Completions body into a Messages body
(CONFORMANCE.md §3, §5.1). Fields Anthropic cannot take are dropped and listed in
`Translated.dropped`, or rejected with `UnsupportedFieldError` when dropping them would
change the answer. The answer direction lives in `anthropic_upstream_stream` and is
re-exported here: `anthropic_response_to_chat` (§7.1), `anthropic_models_to_openai` (§12)
and the stream translator `AnthropicToChatStream` (§10.1).

Pure functions over JSON-like data: inputs are never mutated; client sub-objects that are
passed through (schemas, `thinking`, `cache_control`) are copied.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from .anthropic_upstream_stream import (
    AnthropicToChatStream,
    anthropic_models_to_openai,
    anthropic_response_to_chat,
)
from .chat import Translated
from .errors import InvalidRequestError, UnsupportedFieldError

__all__ = ["AnthropicToChatStream", "anthropic_models_to_openai", "anthropic_response_to_chat",
           "chat_request_to_anthropic"]

Block = dict[str, Any]
Content = str | list[Block]

# Client fields this module reads. Anything else is dropped and listed: Anthropic rejects
# unknown top-level fields, and penalties, seed, logit_bias, logprobs… have no equivalent
# (§3.2). `thinking` and `top_k` are Anthropic extensions passed by LiteLLM-style clients.
_CONSUMED = frozenset({
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "top_k", "stop", "n", "tools", "tool_choice",
    "parallel_tool_calls", "reasoning_effort", "thinking", "response_format", "user",
    "modalities",
})
# Dropping these would silently change what the model does or returns: 400 instead.
_REJECTED = {
    "functions": "legacy functions are not translated; send `tools`",
    "function_call": "legacy function_call is not translated; send `tool_choice`",
    "audio": "Anthropic has no audio output",
}
# §5.1, LiteLLM's defaults for low/medium/high; `minimal` uses the API minimum, and
# xhigh/max continue the doubling. `none` turns thinking off.
_EFFORT_BUDGETS: dict[str, int | None] = {
    "none": None, "minimal": 1024, "low": 1024, "medium": 2048, "high": 4096,
    "xhigh": 8192, "max": 16384,
}
_TOOL_CHOICES: dict[str, Block] = {
    "auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"},
}
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_EMPTY_SCHEMA: Block = {"type": "object", "properties": {}}
_TOOL_ID = re.compile(r"[A-Za-z0-9_-]+")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[\d\s().-]{7,24}")
# A user turn must come first (§3.1, LiteLLM `modify_params`); one character keeps the
# conversation intact without giving the model an instruction.
_PLACEHOLDER_USER = {"role": "user", "content": "."}


def chat_request_to_anthropic(body: dict[str, Any], *,
                              max_tokens_default: int = 4096) -> Translated:
    """An OpenAI Chat request as an Anthropic Messages request (§3). `model` is kept."""
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    req = {k: v for k, v in body.items() if v is not None}  # null means "not sent"
    for name, reason in _REJECTED.items():
        if name in req:
            raise UnsupportedFieldError(name, reason)
    _check_n_and_modalities(req)
    dropped = [k for k in req if k not in _CONSUMED]
    system, messages = _convert_messages(req.get("messages"), dropped)
    thinking = _thinking(req, dropped)
    out: dict[str, Any] = {"model": req["model"]} if "model" in req else {}
    out["max_tokens"] = _max_tokens(req, max_tokens_default, thinking)
    if system:
        out["system"] = system
    out["messages"] = messages
    out.update(_sampling(req, thinking, dropped))
    out.update(_tools(req, thinking, dropped))
    if thinking is not None:
        out["thinking"] = thinking
    out.update(_user_and_format(req, dropped))
    if "stream" in req:
        out["stream"] = req["stream"]  # stream_options is consumed by the proxy (§10.1)
    return Translated(out, tuple(dropped))


def _check_n_and_modalities(req: dict[str, Any]) -> None:
    if req.get("n", 1) != 1:
        raise UnsupportedFieldError("n", "Anthropic returns one choice; only n=1 is served")
    modalities = req.get("modalities", ["text"])
    if not isinstance(modalities, list) or any(m != "text" for m in modalities):
        raise UnsupportedFieldError("modalities", "Anthropic only produces text")


def _thinking(req: dict[str, Any], dropped: list[str]) -> Block | None:
    if "thinking" in req:  # §5.1: a client's own `thinking` is forwarded verbatim (req_08)
        if not isinstance(req["thinking"], dict):
            raise InvalidRequestError("'thinking' must be an object", param="thinking")
        if "reasoning_effort" in req:
            dropped.append("reasoning_effort")
        return copy.deepcopy(req["thinking"])
    effort = req.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in _EFFORT_BUDGETS:
        raise InvalidRequestError(f"unknown reasoning_effort {effort!r}",
                                  param="reasoning_effort")
    budget = _EFFORT_BUDGETS[effort]
    return None if budget is None else {"type": "enabled", "budget_tokens": budget}


def _thinking_on(thinking: Block | None) -> bool:
    return thinking is not None and thinking.get("type") != "disabled"


def _max_tokens(req: dict[str, Any], default: int, thinking: Block | None) -> int:
    value = default
    for name in ("max_completion_tokens", "max_tokens"):  # the newer name wins (§3.2)
        if name in req:
            value = req[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidRequestError(f"'{name}' must be a positive integer", param=name)
            break
    budget = thinking.get("budget_tokens") if _thinking_on(thinking) and thinking else None
    if isinstance(budget, int) and value <= budget:
        # budget_tokens must be < max_tokens (§5.1); the client's limit then bounds the
        # visible answer on top of the thinking budget (req_09: 4096 + 4096).
        value += budget
    return value


def _sampling(req: dict[str, Any], thinking: Block | None,
              dropped: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    on = _thinking_on(thinking)
    if "temperature" in req:
        temperature = _number(req, "temperature")
        if on:  # extended thinking rejects any temperature change (§5.1)
            dropped.append("temperature")
        else:  # OpenAI's range is 0 to 2, Anthropic's 0 to 1 (§3.2)
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
        # Extended thinking forbids forced tool use: downgrade to auto (§5.1, req_09).
        choice = {"type": "auto"}
        dropped.append("tool_choice")
    if req.get("parallel_tool_calls") is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":  # the flag is not valid on `none` (§3.2)
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


def _convert_messages(raw: Any, dropped: list[str]) -> tuple[Content, list[Block]]:
    if not isinstance(raw, list) or not raw:
        raise InvalidRequestError("'messages' must be a non-empty list", param="messages")
    system: list[Content] = []
    turns: list[tuple[str, Content]] = []
    for i, msg in enumerate(raw):
        if not isinstance(msg, dict):
            raise InvalidRequestError("a message must be an object", param=f"messages[{i}]")
        role = msg.get("role")
        if msg.get("function_call") is not None or role == "function":
            raise UnsupportedFieldError(f"messages[{i}]", _REJECTED["function_call"])
        if "name" in msg:
            dropped.append(f"messages[{i}].name")
        if role in ("system", "developer"):
            # §3.1: every one of them, in order, wherever it stands (never just the last).
            system.append(_content(i, msg.get("content"), _SYSTEM_PARTS))
        elif role == "user":
            turns.append(("user", _content(i, msg.get("content"), _USER_PARTS)))
        elif role == "assistant":
            turns.append(("assistant", _assistant(i, msg, dropped)))
        elif role == "tool":
            turns.append(("user", [_tool_result(i, msg)]))
        else:
            raise InvalidRequestError(f"unsupported role {role!r}", param=f"messages[{i}].role")
    messages = _merge(turns)
    if not messages:
        raise InvalidRequestError("no user or assistant message has content",
                                  param="messages")
    if messages[0]["role"] == "assistant":
        messages.insert(0, dict(_PLACEHOLDER_USER))
    return _system(system), messages


def _system(parts: list[Content]) -> Content:
    parts = [p for p in parts if p]
    if len(parts) == 1 and isinstance(parts[0], str):
        return parts[0]
    return [block for part in parts for block in _as_blocks(part)]


def _merge(turns: list[tuple[str, Content]]) -> list[Block]:
    """Consecutive same-role turns become one (§3.1): parallel tool results end up in ONE
    user message (req_06), with a following user message after them."""
    out: list[Block] = []
    for role, content in turns:
        if not content:  # Anthropic rejects empty messages (§3.1)
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"] = _as_blocks(out[-1]["content"]) + _as_blocks(content)
        else:
            out.append({"role": role, "content": content})
    for msg in out:
        if msg["role"] == "user" and isinstance(msg["content"], list):
            # tool_result blocks must open the user turn, whatever order the client used.
            blocks = msg["content"]
            msg["content"] = ([b for b in blocks if b["type"] == "tool_result"]
                              + [b for b in blocks if b["type"] != "tool_result"])
    return out


def _as_blocks(content: Content) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content)


def _assistant(i: int, msg: dict[str, Any], dropped: list[str]) -> Content:
    thinking = _replayed_thinking(i, msg, dropped)
    content = _content(i, msg.get("content"), _ASSISTANT_PARTS)
    calls = msg.get("tool_calls") or []
    if not isinstance(calls, list):
        raise InvalidRequestError("'tool_calls' must be a list", param=f"messages[{i}]")
    if not thinking and not calls:
        return content  # a plain string stays a string (and a trailing one is prefill)
    # Thinking first (§5.3), then text, then tool_use (§3.1).
    return [*thinking, *_as_blocks(content),
            *(_tool_use(f"messages[{i}].tool_calls[{k}]", c) for k, c in enumerate(calls))]


def _replayed_thinking(i: int, msg: dict[str, Any], dropped: list[str]) -> list[Block]:
    """Echoed thinking with its signature, which Anthropic needs back on a tool-use
    continuation (§5.3); text without a signature cannot be replayed."""
    blocks: list[Block] = []
    for block in msg.get("thinking_blocks") or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "thinking" and block.get("signature"):
            blocks.append({"type": "thinking", "thinking": block.get("thinking", ""),
                           "signature": block["signature"]})
        elif kind == "redacted_thinking" and block.get("data"):
            blocks.append({"type": "redacted_thinking", "data": block["data"]})
        elif f"messages[{i}].thinking_blocks" not in dropped:
            dropped.append(f"messages[{i}].thinking_blocks")  # unsigned: cannot be replayed
    if not blocks and msg.get("reasoning_content"):
        dropped.append(f"messages[{i}].reasoning_content")
    return blocks


def _tool_use(where: str, call: Any) -> Block:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequestError("a tool call needs function.name", param=where)
    arguments = function.get("arguments") or "{}"
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            arguments = None
    if not isinstance(arguments, dict):  # input must be an object; answer 400 (§3.1)
        raise InvalidRequestError("tool call arguments are not a JSON object",
                                  param=f"{where}.function.arguments")
    return {"type": "tool_use", "id": _tool_id(call.get("id"), where),
            "name": function["name"], "input": copy.deepcopy(arguments)}


def _tool_result(i: int, msg: dict[str, Any]) -> Block:
    block: Block = {"type": "tool_result",
                    "tool_use_id": _tool_id(msg.get("tool_call_id"), f"messages[{i}]")}
    content = _content(i, msg.get("content"), _TOOL_PARTS)
    if content:  # `is_error` has no OpenAI source and is never set (req_07)
        block["content"] = content
    return block


def _tool_id(raw: Any, where: str) -> str:
    """Ids outside Anthropic's grammar are rewritten (§3.1). The rewrite depends on the id
    alone, so a call and its result still match without a lookup table; the hash keeps
    ids that differ only in replaced characters apart."""
    if not isinstance(raw, str) or not raw:
        raise InvalidRequestError("a tool call id must be a non-empty string", param=where)
    if _TOOL_ID.fullmatch(raw):
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', raw)[:48]}_{digest}"


def _content(i: int, content: Any, parts: dict[str, PartFn]) -> Content:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise InvalidRequestError("content must be a string or a list of parts",
                                  param=f"messages[{i}].content")
    blocks: list[Block] = []
    for j, part in enumerate(content):
        where = f"messages[{i}].content[{j}]"
        if not isinstance(part, dict):
            raise InvalidRequestError("a content part must be an object", param=where)
        kind = part.get("type")
        convert = parts.get(kind) if isinstance(kind, str) else None
        if convert is None:
            raise UnsupportedFieldError(f"{where}.{kind or 'type'}",
                                        f"content part {kind!r} cannot be sent to Anthropic")
        block = convert(where, part)
        if block is not None:
            if part.get("cache_control") is not None:
                block["cache_control"] = copy.deepcopy(part["cache_control"])
            blocks.append(block)
    return blocks


def _text_part(where: str, part: Block) -> Block | None:
    text = part.get("text", part.get("refusal"))
    if not isinstance(text, str):
        raise InvalidRequestError("a text part needs a string", param=where)
    return {"type": "text", "text": text} if text else None  # empty blocks are rejected


def _image_part(where: str, part: Block) -> Block:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str):
        raise InvalidRequestError("image_url needs a url", param=where)
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}  # `detail` dropped
    media_type, data = _data_url(where, url)
    if media_type not in _IMAGE_TYPES:
        raise UnsupportedFieldError(f"{where}.image_url",
                                    f"image type {media_type!r}; Anthropic takes jpeg/png/gif/webp")
    return {"type": "image", "source": {"type": "base64", "media_type": media_type,
                                        "data": data}}


def _file_part(where: str, part: Block) -> Block:
    file = part.get("file")
    data_url = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data_url, str):
        raise UnsupportedFieldError(f"{where}.file",
                                    "only inline file_data is translated, not file ids")
    media_type, data = _data_url(where, data_url)
    if media_type != "application/pdf":
        raise UnsupportedFieldError(f"{where}.file", f"file type {media_type!r}; only PDF")
    return {"type": "document",
            "source": {"type": "base64", "media_type": media_type, "data": data}}


def _data_url(where: str, url: str) -> tuple[str, str]:
    head, sep, data = url.partition(";base64,")  # split on the first one (§3.1)
    if not head.startswith("data:") or not sep or not data:
        raise InvalidRequestError("expected an https URL or a base64 data: URL", param=where)
    return head[len("data:"):].lower(), data


def _unsupported_part(where: str, part: Block) -> Block:
    raise UnsupportedFieldError(f"{where}.{part['type']}", "Anthropic takes no audio input")


PartFn = Callable[[str, Block], Block | None]
_SYSTEM_PARTS: dict[str, PartFn] = {"text": _text_part}
_ASSISTANT_PARTS: dict[str, PartFn] = {"text": _text_part, "refusal": _text_part}
_USER_PARTS: dict[str, PartFn] = {"text": _text_part, "image_url": _image_part,
                                  "file": _file_part, "input_audio": _unsupported_part}
_TOOL_PARTS: dict[str, PartFn] = {"text": _text_part, "image_url": _image_part,
                                  "file": _file_part}
