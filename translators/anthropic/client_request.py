"""Anthropic Messages clients (Claude Code and the like) on the OpenAI Chat hub.

- `anthropic_request_to_chat`: an Anthropic request becomes an OpenAI Chat request
  (docs/formats.md#roles and the request topics after it); later code turns that hub
  request into the provider's format.
- The answer, whole (docs/formats.md#whole-answers) or streamed
  (docs/formats.md#chat-stream-to-anthropic), is `client_answer`'s:
  `chat_response_to_anthropic` and `ChatToAnthropicStream`.

Pure functions on plain JSON data; inputs are never mutated. Fields without an OpenAI
equivalent that may be lost are listed in `Translated.dropped`; fields whose loss would
change the answer raise `UnsupportedFieldError`, which the addon turns into a 400.
"""

from __future__ import annotations

import copy
from typing import Any

from ..chat.data_urls import base64_data_url
from ..chat.fields import effort_for_budget, output_limit, usage_asked_for
from ..chat.types import NO_OPTIONS, ChatMessage, RequestOptions, Translated
from ..errors import TARGET, InvalidRequestError, UnsupportedFieldError
from ..json_values import compact_json
from ..reasoning import ClientReasoning
from ..tools import hosted_tool

_TOOL_CHOICES: dict[str, str] = {"auto": "auto", "any": "required", "none": "none"}
# Anthropic `output_config.effort` (adaptive thinking); OpenAI's top value is `xhigh`.
_EFFORT_BY_LEVEL: dict[str, str] = {"low": "low", "medium": "medium", "high": "high",
                                    "xhigh": "xhigh", "max": "xhigh"}
_MAX_STOP_SEQUENCES = 4  # OpenAI's limit for `stop`
# OpenAI rejects a longer `user` (bifrost#1000); Claude Code's user_id is ~150 characters.
_MAX_USER_LENGTH = 64
# Server-side features a Chat upstream cannot perform: dropping them changes the answer.
_UNSUPPORTED: dict[str, str] = {
    "mcp_servers": "remote MCP servers run inside Anthropic's API",
    "container": "code-execution containers run inside Anthropic's API",
}
_HANDLED = frozenset({"model", "messages", "system", "max_tokens", "stop_sequences", "stream",
                      "metadata", "tools", "tool_choice", "thinking", "output_config",
                      "temperature", "top_p"})
_TOOL_KEYS = frozenset({"type", "name", "description", "input_schema", "strict"})
# A tool message whose result was only an image would otherwise read as an empty result.
_MOVED_NOTE = "(the tool's attachment follows in the next user message)"


def anthropic_request_to_chat(body: dict[str, Any],
                              options: RequestOptions = NO_OPTIONS) -> Translated:
    """An Anthropic Messages request as an OpenAI Chat request; the model name is kept."""
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    for key, reason in _UNSUPPORTED.items():
        if body.get(key):
            raise UnsupportedFieldError(key, reason)
    dropped: list[str] = []
    out: dict[str, Any] = {"model": body["model"]} if "model" in body else {}
    out["messages"] = (_system_messages(body.get("system"), dropped)
                       + _messages(body.get("messages"), dropped))
    out |= _sampling(body, options.target)
    out |= _tooling(body, options, dropped)
    out |= _output(body, dropped)
    out |= _metadata(body.get("metadata"), dropped)
    # Unknown fields (new betas) are listed rather than refused, so that new client
    # versions keep working; the ones that matter are refused above.
    dropped += [key for key in body if key not in _HANDLED and key not in _UNSUPPORTED]
    return Translated(out, tuple(dict.fromkeys(dropped)), usage_asked_for(out))


def _sampling(body: dict[str, Any], target: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if body.get("max_tokens") is not None:
        out["max_completion_tokens"] = output_limit(body["max_tokens"], "max_tokens")
    for key in ("temperature", "top_p"):  # Anthropic's ranges fit inside OpenAI's
        if body.get(key) is not None:
            out[key] = body[key]
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise InvalidRequestError("stop_sequences must be a list of strings",
                                      param="stop_sequences")
        if len(stops) > _MAX_STOP_SEQUENCES and target == "openai":
            # Only Chat providers count them; toward Responses `stop` is dropped anyway.
            raise UnsupportedFieldError("stop_sequences", f"{TARGET} accepts at most "
                                        f"{_MAX_STOP_SEQUENCES} stop sequences")
        if stops:
            out["stop"] = list(stops)
    if "stream" in body:
        out["stream"] = bool(body["stream"])
        if out["stream"]:
            # Without it the upstream sends no usage for message_delta (docs/formats.md#usage).
            out["stream_options"] = {"include_usage": True}
    return out


def _tooling(body: dict[str, Any], options: RequestOptions,
             dropped: list[str]) -> dict[str, Any]:
    given = body.get("tools")
    if given is not None and not isinstance(given, list):
        raise InvalidRequestError("tools must be a list", param="tools")
    tools = [tool for i, raw in enumerate(given or [])
             if (tool := _tool(i, raw, options, dropped)) is not None]
    out: dict[str, Any] = {"tools": tools} if tools else {}
    choice = body.get("tool_choice")
    if choice is None:
        return out
    if not tools:
        # OpenAI rejects tool_choice and parallel_tool_calls without tools.
        dropped.append("tool_choice")
        return out
    if not isinstance(choice, dict) or not isinstance(choice.get("type"), str):
        raise InvalidRequestError("tool_choice must be an object with a type",
                                  param="tool_choice")
    kind = choice["type"]
    if kind == "tool":
        if not isinstance(choice.get("name"), str):
            raise InvalidRequestError("tool_choice.name must be a string",
                                      param="tool_choice.name")
        if choice["name"] not in {tool["function"]["name"] for tool in tools}:
            # Claude Code's web search asks for its server tool by name; it was dropped.
            dropped.append("tool_choice (it names a tool that was dropped)")
            return out
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    elif kind in _TOOL_CHOICES:
        out["tool_choice"] = _TOOL_CHOICES[kind]
    else:
        raise InvalidRequestError(f"unknown tool_choice type {kind!r}", param="tool_choice")
    if choice.get("disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False
    return out


def _tool(i: int, tool: Any, options: RequestOptions,
          dropped: list[str]) -> dict[str, Any] | None:
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        raise InvalidRequestError(f"tools[{i}] must be an object with a name",
                                  param=f"tools[{i}]")
    if tool.get("type") not in (None, "custom"):
        # Anthropic-defined tools (web_search_..., code_execution_..., bash_...,
        # text_editor_...) run inside Anthropic's API or on a schema only Anthropic knows.
        hosted_tool(f"tools[{i}]", str(tool["type"]), "anthropic", options.target,
                    options.hosted_tools, dropped)
        return None
    schema = tool.get("input_schema")
    function: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description") is not None:
        function["description"] = tool["description"]
    function["parameters"] = (copy.deepcopy(schema) if isinstance(schema, dict)
                              else {"type": "object", "properties": {}})
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    dropped += [f"tools.{key}" if key != "cache_control" else key
                for key in tool if key not in _TOOL_KEYS]
    return {"type": "function", "function": function}


def _output(body: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    """`thinking` and `output_config` (effort, structured output)."""
    out: dict[str, Any] = {}
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            raise InvalidRequestError("thinking.budget_tokens must be an integer",
                                      param="thinking.budget_tokens")
        out["reasoning_effort"] = effort_for_budget(budget)
    elif isinstance(thinking, dict) and thinking.get("type") not in ("disabled", "adaptive"):
        dropped.append("thinking")
    config = body.get("output_config")
    if not isinstance(config, dict):
        return out
    effort = config.get("effort")
    if isinstance(effort, str) and effort in _EFFORT_BY_LEVEL and "reasoning_effort" not in out:
        out["reasoning_effort"] = _EFFORT_BY_LEVEL[effort]
    fmt = config.get("format")
    if isinstance(fmt, dict):
        if fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
            raise UnsupportedFieldError("output_config.format", "only json_schema formats "
                                        f"can be expressed as a {TARGET} response format")
        out["response_format"] = {"type": "json_schema", "json_schema": {
            "name": "response", "schema": copy.deepcopy(fmt["schema"])}}
    dropped += [f"output_config.{key}" for key in config if key not in ("effort", "format")]
    return out


def _metadata(metadata: Any, dropped: list[str]) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        return {}
    dropped += [f"metadata.{key}" for key in metadata if key != "user_id"]
    user = metadata.get("user_id")
    if isinstance(user, str) and 0 < len(user) <= _MAX_USER_LENGTH:
        return {"user": user}
    if user is not None:
        dropped.append("metadata.user_id")
    return {}


def _system_messages(system: Any, dropped: list[str], path: str = "system"
                     ) -> list[ChatMessage]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if not isinstance(system, list):
        raise InvalidRequestError(f"{path} must be a string or a list of text blocks",
                                  param=path)
    texts = [_text_of(block, f"{path}[{j}]", dropped) for j, block in enumerate(system)]
    # One block reads best as a plain string; several stay separate parts so that a hub ->
    # Anthropic translation can give the same blocks back (docs/formats.md#system-prompts).
    if len(texts) <= 1:
        return [{"role": "system", "content": t} for t in texts]
    return [{"role": "system", "content": [{"type": "text", "text": t} for t in texts]}]


def _text_of(block: Any, path: str, dropped: list[str]) -> str:
    if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(
            block.get("text"), str):
        raise InvalidRequestError(f"{path} must be a text block", param=path)
    _note_markers(block, dropped)
    text: str = block["text"]
    return text


def _note_markers(block: dict[str, Any], dropped: list[str]) -> None:
    dropped += [key for key in ("cache_control", "citations") if block.get(key)]


def _messages(messages: Any, dropped: list[str]) -> list[ChatMessage]:
    if not isinstance(messages, list):
        raise InvalidRequestError("messages must be a list", param="messages")
    out: list[ChatMessage] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequestError(f"messages[{i}] must be an object", param=f"messages[{i}]")
        content = message.get("content")
        if not isinstance(content, str | list):
            raise InvalidRequestError(f"messages[{i}].content must be a string or a list",
                                      param=f"messages[{i}].content")
        role = message.get("role")
        if role == "user":
            out += _user_turn(i, content, dropped)
        elif role == "assistant":
            out.append(_assistant_turn(i, content, dropped))
        elif role == "system":
            # A system message in the conversation (Claude Code sends them for model ids it
            # does not know): kept in its place, as Chat allows anywhere.
            out += _system_messages(content, dropped, path=f"messages[{i}].content")
        else:
            raise InvalidRequestError(f"messages[{i}].role must be 'user', 'assistant' or "
                                      "'system'", param=f"messages[{i}].role")
    return out


def _user_turn(i: int, content: str | list[Any], dropped: list[str]) -> list[ChatMessage]:
    """Tool results first, each its own `tool` message in order; the rest of the turn (and
    attachments of the results, which a tool message cannot hold) in one user message after
    them (docs/formats.md#roles)."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tool_messages: list[ChatMessage] = []
    moved: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        path = f"messages[{i}].content[{j}]"
        if isinstance(block, dict) and block.get("type") == "tool_result":
            message, attachments = _tool_result(block, path, dropped)
            tool_messages.append(message)
            moved += attachments
        else:
            parts.append(_user_part(block, path, dropped))
    out = tool_messages
    if moved or parts or not tool_messages:
        out.append({"role": "user", "content": moved + parts})
    return out


def _tool_result(block: dict[str, Any], path: str,
                 dropped: list[str]) -> tuple[ChatMessage, list[dict[str, Any]]]:
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str):
        raise InvalidRequestError(f"{path}.tool_use_id must be a string", param=path)
    if block.get("is_error"):
        dropped.append("tool_result.is_error")  # no OpenAI field (req_07)
    _note_markers(block, dropped)
    content = block.get("content")
    texts: list[str] = []
    moved: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, item in enumerate(content):
            part = _user_part(item, f"{path}.content[{k}]", dropped)
            if part["type"] == "text":
                texts.append(part["text"])
            else:
                moved.append(part)
    elif content is not None:
        raise InvalidRequestError(f"{path}.content must be a string or a list", param=path)
    result: str | list[dict[str, Any]]
    if len(texts) > 1:
        result = [{"type": "text", "text": t} for t in texts]
    else:
        result = texts[0] if texts else (_MOVED_NOTE if moved else "")
    return {"role": "tool", "tool_call_id": tool_use_id, "content": result}, moved


def _user_part(block: Any, path: str, dropped: list[str]) -> dict[str, Any]:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        return {"type": "text", "text": _text_of(block, path, dropped)}
    if kind == "image":
        _note_markers(block, dropped)
        return {"type": "image_url", "image_url": {"url": _image_url(block, path)}}
    if kind == "document":
        _note_markers(block, dropped)
        return _document(block, path)
    if kind == "tool_reference" and isinstance(block.get("tool_name"), str):
        # Claude Code's ToolSearch answers with references to the tools it loaded; other
        # formats have no such block, so the model reads the name.
        return {"type": "text", "text": f"Tool loaded: {block['tool_name']}"}
    raise UnsupportedFieldError(path, f"the content block type {kind!r} has no {TARGET} "
                                "equivalent")


def _image_url(block: dict[str, Any], path: str) -> str:
    source = block.get("source")
    source = source if isinstance(source, dict) else {}
    if source.get("type") == "base64":
        return base64_data_url(source.get("media_type"), source.get("data"))
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return str(source["url"])
    raise UnsupportedFieldError(f"{path}.source", "only base64 and url image sources can be "
                                f"sent to a {TARGET} provider")


def _document(block: dict[str, Any], path: str) -> dict[str, Any]:
    source = block.get("source")
    source = source if isinstance(source, dict) else {}
    if source.get("type") == "text" and isinstance(source.get("data"), str):
        return {"type": "text", "text": source["data"]}
    if source.get("type") == "base64" and source.get("media_type") == "application/pdf":
        title = block.get("title")
        return {"type": "file", "file": {
            "filename": title if isinstance(title, str) and title else "document.pdf",
            "file_data": base64_data_url("application/pdf", source.get("data"))}}
    raise UnsupportedFieldError(f"{path}.source", "only base64 PDF and plain-text documents "
                                f"can be sent to a {TARGET} provider")


def _assistant_turn(i: int, content: str | list[Any], dropped: list[str]) -> ChatMessage:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    reasoning = ClientReasoning()
    calls: list[Any] = []
    for j, block in enumerate(content):
        path = f"messages[{i}].content[{j}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(_text_of(block, path, dropped))
        elif kind == "tool_use":
            calls.append(_tool_call(block, path, dropped))
        elif kind in ("thinking", "redacted_thinking"):
            # What the provider needs back on a tool continuation, in its own shape
            # (docs/formats.md#reasoning).
            reasoning.add_anthropic_block(block)
        else:
            raise UnsupportedFieldError(path, f"the assistant content block type {kind!r} "
                                        f"has no {TARGET} equivalent")
    message: ChatMessage = {"role": "assistant",
                            "content": "".join(texts) if texts else (None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    reasoning.apply(message)  # type: ignore[arg-type]
    return message


def _tool_call(block: dict[str, Any], path: str, dropped: list[str]) -> dict[str, Any]:
    if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
        raise InvalidRequestError(f"{path} must have a string id and name", param=path)
    _note_markers(block, dropped)
    tool_input = block.get("input")
    arguments = compact_json(tool_input if tool_input is not None else {})
    return {"id": block["id"], "type": "function",
            "function": {"name": block["name"], "arguments": arguments}}
