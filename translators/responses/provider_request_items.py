"""OpenAI Chat messages -> Open Responses `instructions` and `input` items
(docs/formats.md#roles).

`input_items` is the messages half of `provider_request.chat_request_to_responses`:
leading system and developer messages become `instructions`, every other message one or
more input items through one builder per role, and each tool call its own
`function_call` item. Content parts that cannot be sent raise `UnsupportedFieldError`,
malformed ones `InvalidRequestError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidRequestError, UnsupportedFieldError
from ..reasoning import ReasoningMemory, call_ids, details_of, to_responses_items

Item = dict[str, Any]

_SYSTEM_ROLES = frozenset({"system", "developer"})


def input_items(messages: Any, memory: ReasoningMemory | None = None
                ) -> tuple[str | None, list[Item]]:
    """Leading system/developer messages -> instructions, the rest -> input items
    (docs/formats.md#system-prompts)."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("'messages' must be a non-empty array", param="messages")
    instructions: list[str] = []
    items: list[Item] = []
    leading = True
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequestError("each message must be an object", param=f"messages[{i}]")
        role = message.get("role")
        leading = leading and isinstance(role, str) and role in _SYSTEM_ROLES
        if leading:
            # Joined rather than keeping only the last one, which would lose prompts.
            instructions.append(_text(message.get("content"), f"messages[{i}].content"))
            continue
        builder = _MESSAGE_BUILDERS.get(role) if isinstance(role, str) else None
        if builder is None:
            raise InvalidRequestError(f"unknown message role {role!r}",
                                      param=f"messages[{i}].role")
        if role == "assistant":
            items.extend(_reasoning_items(message, memory))
        items.extend(builder(message, f"messages[{i}]"))
    return ("\n\n".join(instructions) if instructions else None), items


def _reasoning_items(message: Item, memory: ReasoningMemory | None) -> list[Item]:
    """The provider's own reasoning items, which it needs back with `store: false` to keep
    its reasoning across a tool loop (docs/formats.md#reasoning): as the client sent them
    back, or as the gateway remembers them for a client that does not."""
    details = details_of(message)
    if not details and memory is not None:
        recalled = memory.recall(call_ids(message))
        details = recalled[0] if recalled else []
    items = to_responses_items(details)
    text = message.get("reasoning_content")
    if not items and isinstance(text, str) and text:
        # Plain reasoning text (another provider's, or a client's own) as Open Responses
        # carries raw reasoning: a `reasoning_text` part.
        items = [{"type": "reasoning", "summary": [],
                  "content": [{"type": "reasoning_text", "text": text}]}]
    return items


def _system_items(message: Item, where: str) -> list[Item]:
    # A later system/developer message keeps its place and role as an input message.
    text = _text(message.get("content"), f"{where}.content")
    return [{"type": "message", "role": message["role"],
             "content": [{"type": "input_text", "text": text}]}]


def _user_items(message: Item, where: str) -> list[Item]:
    content = message.get("content")
    if isinstance(content, str):
        parts = [{"type": "input_text", "text": content}]
    elif isinstance(content, list):
        parts = [_user_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]
    else:
        raise InvalidRequestError("user content must be a string or an array",
                                  param=f"{where}.content")
    return [{"type": "message", "role": "user", "content": parts}]


def _assistant_items(message: Item, where: str) -> list[Item]:
    """The text as an output_text message, then one function_call item per call
    (docs/formats.md#roles)."""
    parts = _assistant_parts(message.get("content"), f"{where}.content")
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal and not any(p["type"] == "refusal" for p in parts):
        parts.append({"type": "refusal", "refusal": refusal})
    items: list[Item] = []
    if parts:
        items.append({"type": "message", "role": "assistant", "content": parts})
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise InvalidRequestError("'tool_calls' must be an array", param=f"{where}.tool_calls")
    items.extend(_function_call(call, f"{where}.tool_calls[{j}]") for j, call in enumerate(calls))
    return items


def _tool_items(message: Item, where: str) -> list[Item]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise InvalidRequestError("a tool message needs 'tool_call_id'",
                                  param=f"{where}.tool_call_id")
    # Text parts of a tool result are one output, concatenated as OpenAI reads them.
    output = _text(message.get("content") or "", f"{where}.content", separator="")
    return [{"type": "function_call_output", "call_id": call_id, "output": output}]


def _function_role(message: Item, where: str) -> list[Item]:
    raise UnsupportedFieldError(f"{where}.role", "the deprecated 'function' role has no "
                                "call id; use tool messages")


_MESSAGE_BUILDERS: dict[str, Callable[[Item, str], list[Item]]] = {
    "system": _system_items,
    "developer": _system_items,
    "user": _user_items,
    "assistant": _assistant_items,
    "tool": _tool_items,
    "function": _function_role,
}


def _text(content: Any, where: str, separator: str = "\n\n") -> str:
    """String content, or the text of an array of text parts (system and tool messages)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequestError("content must be a string or an array of text parts",
                                  param=where)
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(
                part.get("text"), str):
            raise InvalidRequestError("only text parts are allowed here", param=f"{where}[{j}]")
        texts.append(part["text"])
    return separator.join(texts)


def _user_part(part: Any, where: str) -> Item:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text" and isinstance(part.get("text"), str):
        return {"type": "input_text", "text": part["text"]}
    if kind == "image_url":
        return _input_image(part.get("image_url"), where)
    if kind == "file":
        return _input_file(part.get("file"), where)
    if isinstance(kind, str):
        # input_audio and anything newer MUST NOT be dropped silently
        # (docs/formats.md#content-parts).
        raise UnsupportedFieldError(where, f"content parts of type '{kind}' cannot be sent to "
                                    "an Open Responses provider")
    raise InvalidRequestError("malformed content part", param=where)


def _input_image(image: Any, where: str) -> Item:
    url = image.get("url") if isinstance(image, dict) else None
    if not isinstance(url, str) or not url:
        raise InvalidRequestError("image_url needs a 'url'", param=f"{where}.image_url.url")
    detail = image.get("detail") or "auto"
    return {"type": "input_image", "image_url": url, "detail": detail}


def _input_file(file: Any, where: str) -> Item:
    if not isinstance(file, dict):
        raise InvalidRequestError("a file part needs a 'file' object", param=f"{where}.file")
    fields = {key: file[key] for key in ("file_id", "file_data", "filename", "file_url")
              if file.get(key) is not None}
    if not fields.keys() & {"file_id", "file_data", "file_url"}:
        raise InvalidRequestError("a file part needs file_id, file_data or file_url",
                                  param=f"{where}.file")
    return {"type": "input_file", **fields}


def _assistant_parts(content: Any, where: str) -> list[Item]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "output_text", "text": content}]
    if not isinstance(content, list):
        raise InvalidRequestError("assistant content must be a string or an array", param=where)
    parts: list[Item] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            if part["text"]:
                parts.append({"type": "output_text", "text": part["text"]})
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            parts.append({"type": "refusal", "refusal": part["refusal"]})
        elif kind in ("thinking", "redacted_thinking"):
            continue  # Anthropic's blocks inline (openai-agents): nothing a Responses API takes
        else:
            raise InvalidRequestError("assistant parts must be text or refusal",
                                      param=f"{where}[{j}]")
    return parts


def _function_call(call: Any, where: str) -> Item:
    if not isinstance(call, dict):
        raise InvalidRequestError("a tool call must be an object", param=where)
    if call.get("type", "function") != "function":
        raise UnsupportedFieldError(f"{where}.type", "only function tool calls are supported")
    function = call.get("function")
    if (not isinstance(call.get("id"), str) or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)):
        raise InvalidRequestError("a tool call needs id, function.name and function.arguments "
                                  "(a JSON string)", param=where)
    # call_id is the Chat tool call id, so the later tool message's id matches it
    # (docs/formats.md#tools).
    return {"type": "function_call", "call_id": call["id"], "name": function["name"],
            "arguments": function["arguments"]}
