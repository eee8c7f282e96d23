"""Open Responses clients on the OpenAI Chat hub: requests in, answers out.

`responses_request_to_chat` turns a `POST /v1/responses` body into a Chat Completions
request (the inverse of CONFORMANCE.md section 4, per section 4b); whatever a stateless
gateway cannot serve (`previous_response_id`, built-in tools, item references) raises
`UnsupportedFieldError`, and fields without a Chat equivalent are dropped and listed.
`chat_response_to_responses` turns a `chat.completion` into a `Response` object, and
`ChatToResponsesStream` (in `responses_inbound_stream`) does the same for streams.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from .chat import Translated
from .errors import InvalidRequestError, UnsupportedFieldError, UpstreamFormatError
from .responses_inbound_stream import (
    ChatToResponsesStream,
    function_call_item,
    item_id,
    message_item,
    new_response_id,
    output_text_part,
    reasoning_item,
    refusal_part,
    response_object,
    response_status,
    responses_usage,
)

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

_TOOL_CHOICE_MODES = frozenset({"auto", "none", "required"})
_MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})


def responses_request_to_chat(body: dict[str, Any]) -> Translated:
    """A Responses request as an OpenAI Chat request (model kept); `body` is not changed."""
    for name, reason in _UNSUPPORTED.items():
        if body.get(name):
            raise UnsupportedFieldError(name, reason)
    dropped: list[str] = []
    chat: dict[str, Any] = {}
    if "model" in body:
        chat["model"] = body["model"]
    chat["messages"] = _messages(body, dropped)
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
    status, reason = response_status(choice.get("finish_reason"))
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
        usage=responses_usage(body.get("usage")),
        incomplete_reason=reason,
        completed_at=now if status == "completed" else None,
    )


# -- request: input items ------------------------------------------------------------------


def _messages(body: dict[str, Any], dropped: list[str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidRequestError("'instructions' must be a string", param="instructions")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    items = body.get("input")
    if isinstance(items, str):
        # A string input is one user message (Open Responses spec, "Chat Inference").
        messages.append({"role": "user", "content": items})
    elif isinstance(items, list):
        messages.extend(_Conversation(dropped).convert(items))
    elif items is not None:
        raise InvalidRequestError("'input' must be a string or a list of items", param="input")
    if not messages:
        raise InvalidRequestError("'input' is required", param="input")
    return messages


class _Conversation:
    """Input items -> Chat messages. Consecutive function calls share one assistant message,
    and images returned by tools wait until the run of tool messages ends, because Chat
    wants every tool message right after the assistant message that called it."""

    def __init__(self, dropped: list[str]):
        self.messages: list[dict[str, Any]] = []
        self.dropped = dropped
        self._tool_media: list[dict[str, Any]] = []

    def convert(self, items: list[Any]) -> list[dict[str, Any]]:
        for index, item in enumerate(items):
            path = f"input[{index}]"
            if not isinstance(item, dict):
                raise InvalidRequestError(f"'{path}' must be an object", param=path)
            self._item(path, item)
        self._flush_tool_media()
        return self.messages

    def _item(self, path: str, item: dict[str, Any]) -> None:
        # Messages may leave out `type` (EasyInputMessage).
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind != "function_call_output":
            self._flush_tool_media()
        if kind == "message":
            self.messages.append(_message(path, item))
        elif kind == "function_call":
            self._function_call(path, item)
        elif kind == "function_call_output":
            self._function_output(path, item)
        elif kind == "reasoning":
            # Chat has no field for reasoning sent back, and encrypted_content is opaque.
            self.dropped.append(f"{path} (reasoning)")
        elif kind == "item_reference":
            raise UnsupportedFieldError(path, "item references point at stored items and a "
                                              "stateless gateway keeps none")
        else:
            raise UnsupportedFieldError(path, f"input item type {kind!r} has no Chat "
                                              "Completions equivalent")

    def _function_call(self, path: str, item: dict[str, Any]) -> None:
        call = {"id": _required_str(item, "call_id", path), "type": "function",
                "function": {"name": _required_str(item, "name", path),
                             "arguments": _required_str(item, "arguments", path, empty=True)}}
        last = self.messages[-1] if self.messages else None
        # The assistant text and the calls after it are one Chat message (section 4, reversed).
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            self.messages.append({"role": "assistant", "content": None, "tool_calls": [call]})

    def _function_output(self, path: str, item: dict[str, Any]) -> None:
        call_id = _required_str(item, "call_id", path)
        output = item.get("output", "")
        if isinstance(output, str):
            content: str | list[dict[str, Any]] = output
        elif isinstance(output, list):
            texts: list[dict[str, Any]] = []
            for index, part in enumerate(output):
                converted = _user_part(f"{path}.output[{index}]", part)
                (texts if converted["type"] == "text" else self._tool_media).append(converted)
            if len(texts) < len(output):
                # Chat tool messages carry text only; the rest moves to a user message (§4b).
                self.dropped.append(f"{path}.output (media moved to a user message)")
            content = _compact(texts)
        else:
            raise InvalidRequestError(f"'{path}.output' must be a string or a list",
                                      param=f"{path}.output")
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": content})

    def _flush_tool_media(self) -> None:
        if self._tool_media:
            self.messages.append({"role": "user", "content": self._tool_media})
            self._tool_media = []


def _message(path: str, item: dict[str, Any]) -> dict[str, Any]:
    role = item.get("role")
    if role not in _MESSAGE_ROLES:
        raise InvalidRequestError(f"'{path}.role' must be one of {sorted(_MESSAGE_ROLES)}",
                                  param=f"{path}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequestError(f"'{path}.content' must be a string or a list",
                                  param=f"{path}.content")
    if role == "assistant":
        return _assistant_message(path, content)
    parts = [_user_part(f"{path}.content[{index}]", part) for index, part in enumerate(content)]
    if role != "user" and any(part["type"] != "text" for part in parts):
        raise UnsupportedFieldError(f"{path}.content",
                                    f"Chat {role} messages carry text only")
    return {"role": role, "content": _compact(parts)}


def _assistant_message(path: str, content: list[Any]) -> dict[str, Any]:
    texts: list[dict[str, Any]] = []
    refusals: list[str] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in _TEXT_PARTS:
            texts.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "refusal":
            refusals.append(str(part.get("refusal") or ""))
        else:
            raise UnsupportedFieldError(f"{path}.content[{index}]",
                                        f"assistant content part {kind!r} has no Chat "
                                        "equivalent")
    message: dict[str, Any] = {"role": "assistant", "content": _compact(texts) if texts else None}
    if refusals:
        message["refusal"] = "".join(refusals)
    return message


def _user_part(path: str, part: Any) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in _TEXT_PARTS:
        return {"type": "text", "text": str(part.get("text") or "")}
    if kind == "input_image":
        return _image_part(path, part)
    if kind == "input_file":
        return _file_part(path, part)
    raise UnsupportedFieldError(path, f"content part type {kind!r} has no Chat Completions "
                                      "equivalent")


def _image_part(path: str, part: dict[str, Any]) -> dict[str, Any]:
    url = part.get("image_url")
    if not url:
        raise UnsupportedFieldError(f"{path}.file_id", "images by file id cannot be resolved "
                                                       "by the gateway; send a URL or data URL")
    image: dict[str, Any] = {"url": url}
    if part.get("detail"):
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _file_part(path: str, part: dict[str, Any]) -> dict[str, Any]:
    if part.get("file_url"):
        raise UnsupportedFieldError(f"{path}.file_url", "Chat file parts take inline data or "
                                                        "a file id, not a URL")
    file = {key: part[key] for key in ("file_data", "file_id", "filename") if part.get(key)}
    if "file_data" not in file and "file_id" not in file:
        raise InvalidRequestError(f"'{path}' needs file_data or file_id", param=path)
    return {"type": "file", "file": file}


def _compact(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One text part is the same as a plain string in Chat; the string is what most
    clients send and what the other translators handle best."""
    if not parts:
        return ""
    if len(parts) == 1 and parts[0]["type"] == "text":
        text: str = parts[0]["text"]
        return text
    return parts


def _required_str(item: dict[str, Any], name: str, path: str, *, empty: bool = False) -> str:
    value = item.get(name)
    if not isinstance(value, str) or (not value and not empty):
        raise InvalidRequestError(f"'{path}.{name}' must be a string", param=f"{path}.{name}")
    return value


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
    function = {"name": _required_str(tool, "name", path)}
    # Flattened in Responses, nested in Chat (section 4, reversed).
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = copy.deepcopy(tool[key])
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> str | dict[str, Any]:
    if isinstance(choice, str) and choice in _TOOL_CHOICE_MODES:
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
    return {"type": "function", "function": {"name": _required_str(ref, "name", path)}}


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
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        items.append(reasoning_item(item_id("reasoning", response_id, 0), "completed",
                                    [reasoning]))
    parts = []
    text = _message_text(message.get("content"))
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


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text") or "") for part in content
                       if isinstance(part, dict) and part.get("type") == "text")
    return ""
