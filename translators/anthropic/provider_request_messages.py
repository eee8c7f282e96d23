"""OpenAI Chat messages -> Anthropic Messages `system` and `messages` (docs/formats.md#roles).

`convert_messages` is the messages half of `provider_request.chat_request_to_anthropic`:
every system and developer message joins `system`, tool results become `tool_result`
blocks of a user turn, consecutive same-role turns merge, and content parts become
Anthropic blocks through one table per role. Ids outside Anthropic's grammar are
rewritten. Fields that cannot be replayed are appended to the caller's `dropped` list;
parts Anthropic cannot take raise `UnsupportedFieldError`. Inputs are never mutated.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..chat.data_urls import parse_base64_data_url
from ..errors import InvalidRequestError, UnsupportedFieldError
from ..ids import anthropic_tool_id
from ..json_values import parse_object
from ..reasoning import (
    ReasoningMemory,
    call_ids,
    details_of,
    from_anthropic_blocks,
    to_anthropic_blocks,
)

Block = dict[str, Any]
Content = str | list[Block]

LEGACY_FUNCTION_CALL = "legacy function_call is not translated; send `tool_choice`"
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
# A user turn must come first (docs/formats.md#roles; LiteLLM's `modify_params`); one
# character keeps the conversation intact without giving the model an instruction.
_PLACEHOLDER_USER = {"role": "user", "content": "."}


def convert_messages(raw: Any, dropped: list[str],
                     memory: ReasoningMemory | None = None) -> tuple[Content, list[Block]]:
    """`(system, messages)` of an Anthropic request for a Chat `messages` list."""
    if not isinstance(raw, list) or not raw:
        raise InvalidRequestError("'messages' must be a non-empty list", param="messages")
    system: list[Content] = []
    turns: list[tuple[str, Content]] = []
    for i, msg in enumerate(raw):
        if not isinstance(msg, dict):
            raise InvalidRequestError("a message must be an object", param=f"messages[{i}]")
        role = msg.get("role")
        if msg.get("function_call") is not None or role == "function":
            raise UnsupportedFieldError(f"messages[{i}]", LEGACY_FUNCTION_CALL)
        if "name" in msg:
            dropped.append(f"messages[{i}].name")
        if role in ("system", "developer"):
            # Every one of them, in order, wherever it stands (docs/formats.md#system-prompts).
            system.append(_content(i, msg.get("content"), _SYSTEM_PARTS))
        elif role == "user":
            turns.append(("user", _content(i, msg.get("content"), _USER_PARTS)))
        elif role == "assistant":
            turns.append(("assistant", _assistant(i, msg, dropped, memory)))
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
    """Consecutive same-role turns become one (docs/formats.md#roles): parallel tool
    results end up in ONE user message (req_06), with a following user message after them."""
    out: list[Block] = []
    for role, content in turns:
        if not content:  # Anthropic rejects empty messages (docs/formats.md#roles)
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


def _assistant(i: int, msg: dict[str, Any], dropped: list[str],
               memory: ReasoningMemory | None) -> Content:
    thinking = _replayed_thinking(i, msg, dropped, memory)
    content = _content(i, msg.get("content"), _ASSISTANT_PARTS)
    calls = msg.get("tool_calls") or []
    if not isinstance(calls, list):
        raise InvalidRequestError("'tool_calls' must be a list", param=f"messages[{i}]")
    if not thinking and not calls:
        return content  # a plain string stays a string (and a trailing one is prefill)
    # Thinking first (docs/formats.md#reasoning), then text, then tool_use.
    return [*thinking, *_as_blocks(content),
            *(_tool_use(f"messages[{i}].tool_calls[{k}]", c) for k, c in enumerate(calls))]


def _replayed_thinking(i: int, msg: dict[str, Any], dropped: list[str],
                      memory: ReasoningMemory | None) -> list[Block]:
    """Anthropic's own thinking blocks, signed, which it needs back on a tool-use
    continuation (docs/formats.md#reasoning): as the client sent them back, or as the
    gateway remembers them for a client that does not."""
    details = details_of(msg)
    if not details and memory is not None:
        recalled = memory.recall(call_ids(msg))
        details = recalled[0] if recalled else []
    blocks = to_anthropic_blocks(details)
    if not blocks and (details or msg.get("reasoning_content")):
        dropped.append(f"messages[{i}].reasoning (not Anthropic's own, so not replayable)")
    return blocks


def _tool_use(where: str, call: Any) -> Block:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise InvalidRequestError("a tool call needs function.name", param=where)
    arguments = function.get("arguments") or "{}"
    if isinstance(arguments, str):
        arguments = parse_object(arguments)
    if not isinstance(arguments, dict):  # must be an object, else 400 (docs/formats.md#tools)
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
    if not isinstance(raw, str) or not raw:
        raise InvalidRequestError("a tool call id must be a non-empty string", param=where)
    return anthropic_tool_id(raw)  # rewritten if Anthropic rejects it (docs/formats.md#tools)


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
        marker = part.get("cache_control")
        if block is not None:
            if marker is not None:
                block["cache_control"] = copy.deepcopy(marker)
            blocks.append(block)
        elif marker is not None and blocks:
            # The part carried the cache breakpoint but cannot be sent: the breakpoint moves
            # to the block before it, which ends the same prefix.
            blocks[-1]["cache_control"] = copy.deepcopy(marker)
    return blocks


def _text_part(where: str, part: Block) -> Block | None:
    text = part.get("text", part.get("refusal"))
    if not isinstance(text, str):
        raise InvalidRequestError("a text part needs a string", param=where)
    # Anthropic rejects empty and whitespace-only text blocks ("text content blocks must
    # contain non-whitespace text"); Cline ends a message with " " to carry cache_control.
    return {"type": "text", "text": text} if text.strip() else None


def _thinking_part(where: str, part: Block) -> Block | None:
    """Anthropic's own thinking block inside a Chat message's content (openai-agents puts
    them there): kept when signed, since Anthropic wants it back as it was."""
    blocks = to_anthropic_blocks(from_anthropic_blocks([part]))
    return blocks[0] if blocks else None


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
    parsed = parse_base64_data_url(url)
    if parsed is None:
        raise InvalidRequestError("expected an https URL or a base64 data: URL", param=where)
    return parsed


def _unsupported_part(where: str, part: Block) -> Block:
    raise UnsupportedFieldError(f"{where}.{part['type']}", "Anthropic takes no audio input")


PartFn = Callable[[str, Block], Block | None]
_SYSTEM_PARTS: dict[str, PartFn] = {"text": _text_part}
_ASSISTANT_PARTS: dict[str, PartFn] = {"text": _text_part, "refusal": _text_part,
                                       "thinking": _thinking_part,
                                       "redacted_thinking": _thinking_part}
_USER_PARTS: dict[str, PartFn] = {"text": _text_part, "image_url": _image_part,
                                  "file": _file_part, "input_audio": _unsupported_part}
_TOOL_PARTS: dict[str, PartFn] = {"text": _text_part, "image_url": _image_part,
                                  "file": _file_part}
