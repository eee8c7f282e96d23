"""Open Responses `instructions` and `input` items -> OpenAI Chat messages
(docs/formats.md#roles).

`input_messages` is the messages half of `client_request.responses_request_to_chat`.
Items a stateless gateway cannot serve (item references) and parts Chat cannot carry raise
`UnsupportedFieldError`; reasoning items and media moved out of tool results are appended
to the caller's `dropped` list. Inputs are never mutated.
"""

from __future__ import annotations

from typing import Any

from ..errors import TARGET, InvalidRequestError, UnsupportedFieldError
from ..reasoning import ClientReasoning
from ..tools import custom_arguments, flat_name

_MESSAGE_ROLES = frozenset({"user", "assistant", "system", "developer"})
_OUTPUT_ITEMS = frozenset({"function_call_output", "custom_tool_call_output"})
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})


def input_messages(body: dict[str, Any], dropped: list[str]) -> list[dict[str, Any]]:
    """The Chat messages of a Responses request: `instructions`, then `input`."""
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
        # Reasoning items go with the assistant message that follows them.
        self._reasoning = ClientReasoning()

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
        if kind is not None and not isinstance(kind, str):
            raise InvalidRequestError(f"'{path}.type' must be a string", param=f"{path}.type")
        if kind not in _OUTPUT_ITEMS:
            self._flush_tool_media()
        if kind == "message":
            message = _message(path, item)
            self.messages.append(message)
            if message["role"] == "assistant":
                self._attach_reasoning(message)
        elif kind in ("function_call", "custom_tool_call"):
            self._function_call(path, item)
        elif kind in _OUTPUT_ITEMS:
            self._function_output(path, item)
        elif kind == "additional_tools":
            pass  # Codex's extra tool declarations: read with the request's tools
        elif isinstance(kind, str) and kind.endswith(("_call", "_call_output")):
            # A hosted tool's call (web_search_call, ...): the provider could not have made
            # it, and what it found is in the conversation already.
            self.dropped.append(f"{path} ({kind})")
        elif kind == "reasoning":
            # What the provider needs back on the next turn (docs/formats.md#reasoning).
            self._reasoning.add_responses_item(item)
        elif kind == "item_reference":
            raise UnsupportedFieldError(path, "item references point at stored items and a "
                                              "stateless gateway keeps none")
        else:
            raise UnsupportedFieldError(path, f"input item type {kind!r} has no {TARGET} "
                                              "equivalent")

    def _function_call(self, path: str, item: dict[str, Any]) -> None:
        """A function call, or a freeform (`custom`) tool's call with its text as the one
        argument, named as the hub knows the tool (docs/formats.md#tools)."""
        namespace = item.get("namespace")
        name = flat_name(namespace if isinstance(namespace, str) else None,
                         required_str(item, "name", path))
        arguments = (custom_arguments(required_str(item, "input", path, empty=True))
                     if item.get("type") == "custom_tool_call"
                     else required_str(item, "arguments", path, empty=True))
        call = {"id": required_str(item, "call_id", path), "type": "function",
                "function": {"name": name, "arguments": arguments}}
        last = self.messages[-1] if self.messages else None
        # The assistant text and the calls after it are one Chat message (docs/formats.md#roles).
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            last = {"role": "assistant", "content": None, "tool_calls": [call]}
            self.messages.append(last)
        self._attach_reasoning(last)

    def _attach_reasoning(self, message: dict[str, Any]) -> None:
        if self._reasoning:
            self._reasoning.apply(message)
            self._reasoning = ClientReasoning()

    def _function_output(self, path: str, item: dict[str, Any]) -> None:
        call_id = required_str(item, "call_id", path)
        output = item.get("output", "")
        if isinstance(output, str):
            content: str | list[dict[str, Any]] = output
        elif isinstance(output, list):
            texts: list[dict[str, Any]] = []
            for index, part in enumerate(output):
                converted = _user_part(f"{path}.output[{index}]", part)
                (texts if converted["type"] == "text" else self._tool_media).append(converted)
            if len(texts) < len(output):
                # Chat tool messages carry text only; the rest moves to a user message
                # (docs/formats.md#roles).
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
    if not isinstance(role, str) or role not in _MESSAGE_ROLES:
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
                                    f"{TARGET} {role} messages carry text only")
    return {"role": role, "content": _compact(parts)}


def _assistant_message(path: str, content: list[Any]) -> dict[str, Any]:
    texts: list[dict[str, Any]] = []
    refusals: list[str] = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if isinstance(kind, str) and kind in _TEXT_PARTS:
            texts.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "refusal":
            refusals.append(str(part.get("refusal") or ""))
        else:
            raise UnsupportedFieldError(f"{path}.content[{index}]",
                                        f"assistant content part {kind!r} has no {TARGET} "
                                        "equivalent")
    message: dict[str, Any] = {"role": "assistant", "content": _compact(texts) if texts else None}
    if refusals:
        message["refusal"] = "".join(refusals)
    return message


def _user_part(path: str, part: Any) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if isinstance(kind, str) and kind in _TEXT_PARTS:
        return {"type": "text", "text": str(part.get("text") or "")}
    if kind == "input_image":
        return _image_part(path, part)
    if kind == "input_file":
        return _file_part(path, part)
    raise UnsupportedFieldError(path, f"content part type {kind!r} has no {TARGET} "
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


def required_str(item: dict[str, Any], name: str, path: str, *, empty: bool = False) -> str:
    """`item[name]`, a string that may be empty only if `empty`; else a 400 naming it."""
    value = item.get(name)
    if not isinstance(value, str) or (not value and not empty):
        raise InvalidRequestError(f"'{path}.{name}' must be a string", param=f"{path}.{name}")
    return value
