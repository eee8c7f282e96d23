"""Reasoning that has to survive a tool loop, in one shape on the hub (docs/formats.md#reasoning).

A reasoning model's provider wants its own reasoning back on the next turn: Anthropic its
signed `thinking` blocks (or it refuses a tool continuation), the Responses API its
`reasoning` items with `encrypted_content` (with `store: false`), DeepSeek-style Chat
servers their `reasoning_content`, OpenRouter its `reasoning_details`. Whatever the client's
format, mitmllm carries that reasoning across as:

- **details** on the hub: OpenRouter's `reasoning_details` list on an assistant message
  (`reasoning.text` with an optional `signature`, `reasoning.summary`, `reasoning.encrypted`
  with `data`; each with a `format` saying whose it is: `anthropic-claude-v1`,
  `openai-responses-v1`, ...), next to the plain `reasoning_content` text;
- a **dialect**: which of those fields a Chat provider used itself, so that only that one
  goes back to it (Groq and Cerebras refuse a `reasoning_content` they did not ask for,
  DeepSeek refuses a tool continuation without it); kept on the hub message under
  `HUB_DIALECT`, a key the Chat provider request removes;
- a **seal** for clients of the other formats, which only carry opaque strings back: the
  details and the dialect as one string, in an Anthropic thinking block's `signature` or a
  Responses reasoning item's `encrypted_content`; a later request gives it back and
  `unseal` restores what the provider needs;
- a **memory** for Chat clients that drop fields they do not know: the details of an answer
  that called tools, keyed by the tool call ids, restored when the client sends those calls
  back without them.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .json_values import compact_json, dicts

Detail = dict[str, Any]
Dialect = Literal["reasoning_details", "reasoning_content", "reasoning"]
DIALECTS: tuple[Dialect, ...] = ("reasoning_details", "reasoning_content", "reasoning")

ANTHROPIC = "anthropic-claude-v1"  # OpenRouter's names for where a detail comes from
RESPONSES = "openai-responses-v1"
HUB_DIALECT = "mitmllm_reasoning_dialect"  # hub-only key on an assistant message
SEAL_PREFIX = "mitmllm.r1."
MEMORY_ENTRIES = 2048  # tool-calling answers whose reasoning is remembered (LRU)


# -- the hub message ---------------------------------------------------------------------------


def details_of(message: dict[str, Any]) -> list[Detail]:
    """The replayable reasoning of a hub message: `reasoning_details` as given, else LiteLLM's
    `thinking_blocks` (Anthropic blocks, signed) read as details."""
    given = message.get("reasoning_details")
    if isinstance(given, list) and given:
        return [dict(d) for d in given if isinstance(d, dict)]
    blocks = message.get("thinking_blocks")
    return from_anthropic_blocks(blocks) if isinstance(blocks, list) else []


def call_ids(message: dict[str, Any]) -> list[str]:
    """The ids of a hub assistant message's tool calls."""
    calls = message.get("tool_calls")
    return [c["id"] for c in calls if isinstance(c, dict) and isinstance(c.get("id"), str)] \
        if isinstance(calls, list) else []


# A message or delta carries reasoning at all only if it has one of these keys: the cheap
# test (`REASONING_KEYS.isdisjoint(delta)`) that lets a stream's content chunks skip the rest.
REASONING_KEYS = frozenset({*DIALECTS, HUB_DIALECT, "thinking_blocks"})


def dialect_of(message: dict[str, Any]) -> Dialect | None:
    """Which reasoning field a Chat answer (or delta) used."""
    marked = message.get(HUB_DIALECT)
    if marked in DIALECTS:
        return marked  # type: ignore[no-any-return]
    for name in DIALECTS:
        value = message.get(name)
        if value:
            return name
    return None


def text_of(details: Iterable[Detail]) -> str:
    """The readable reasoning of details: their texts and summaries, in order."""
    parts: list[str] = []
    for detail in details:
        text = detail.get("text") if detail.get("type") == "reasoning.text" else (
            detail.get("summary") if detail.get("type") == "reasoning.summary" else None)
        if isinstance(text, str) and text:
            parts.append(text)
    return "\n\n".join(parts)


def for_chat_provider(message: dict[str, Any]) -> dict[str, Any]:
    """A hub assistant message as a Chat provider gets it: reasoning goes back only in the
    dialect that provider used itself, and the hub-only key goes."""
    dialect = message.get(HUB_DIALECT)
    if dialect is None and not any(name in message for name in DIALECTS):
        return message
    out = {k: v for k, v in message.items() if k != HUB_DIALECT and k not in DIALECTS
           and k != "thinking_blocks"}
    if dialect in DIALECTS and dialect != "reasoning" and message.get(dialect):
        out[dialect] = message[dialect]  # `reasoning` (vLLM, Groq) is never asked back
    return out


# -- Anthropic thinking blocks ------------------------------------------------------------------


def from_anthropic_blocks(blocks: Iterable[Any]) -> list[Detail]:
    """Anthropic `thinking` / `redacted_thinking` blocks as details."""
    details: list[Detail] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "thinking":
            detail: Detail = {"type": "reasoning.text", "text": str(block.get("thinking") or ""),
                              "format": ANTHROPIC, "index": len(details)}
            if block.get("signature"):
                detail["signature"] = block["signature"]
            details.append(detail)
        elif block.get("type") == "redacted_thinking" and block.get("data"):
            details.append({"type": "reasoning.encrypted", "data": block["data"],
                            "format": ANTHROPIC, "index": len(details)})
    return details


def to_anthropic_blocks(details: Iterable[Detail]) -> list[dict[str, Any]]:
    """The details Anthropic can take back: its own signed and redacted blocks."""
    blocks: list[dict[str, Any]] = []
    for detail in details:
        if detail.get("format") not in (ANTHROPIC, None):
            continue
        if detail.get("type") == "reasoning.text" and detail.get("signature") \
                and not str(detail["signature"]).startswith(SEAL_PREFIX):
            blocks.append({"type": "thinking", "thinking": str(detail.get("text") or ""),
                           "signature": detail["signature"]})
        elif detail.get("type") == "reasoning.encrypted" and detail.get("data") \
                and detail.get("format") == ANTHROPIC:
            blocks.append({"type": "redacted_thinking", "data": detail["data"]})
    return blocks


# -- Responses reasoning items -------------------------------------------------------------------


def from_responses_item(item: dict[str, Any]) -> list[Detail]:
    """A Responses `reasoning` item as details: its summaries and its encrypted content."""
    item_id = item.get("id") if isinstance(item.get("id"), str) else None
    details: list[Detail] = []
    for part in dicts(item.get("summary")):
        if isinstance(part.get("text"), str):
            details.append(_with_id({"type": "reasoning.summary", "summary": part["text"],
                                     "format": RESPONSES}, item_id))
    for part in dicts(item.get("content")):
        if isinstance(part.get("text"), str):
            details.append(_with_id({"type": "reasoning.text", "text": part["text"],
                                     "format": RESPONSES}, item_id))
    encrypted = item.get("encrypted_content")
    if isinstance(encrypted, str) and encrypted:
        details.append(_with_id({"type": "reasoning.encrypted", "data": encrypted,
                                 "format": RESPONSES}, item_id))
    for index, detail in enumerate(details):
        detail["index"] = index
    return details


def to_responses_items(details: Iterable[Detail]) -> list[dict[str, Any]]:
    """The details a Responses provider can take back: its own reasoning items, one per id.
    Only items with encrypted content are sent: without `store`, the provider can do
    nothing with a summary alone."""
    items: dict[str | None, dict[str, Any]] = {}
    for detail in details:
        if detail.get("format") != RESPONSES:
            continue
        item_id = detail.get("id")
        item = items.setdefault(item_id if isinstance(item_id, str) else None,
                                {"type": "reasoning", "summary": []})
        if detail.get("type") == "reasoning.summary":
            item["summary"].append({"type": "summary_text",
                                    "text": str(detail.get("summary") or "")})
        elif detail.get("type") == "reasoning.encrypted":
            item["encrypted_content"] = detail.get("data")
    out = []
    for item_id, item in items.items():
        if not item.get("encrypted_content"):
            continue
        out.append({"type": "reasoning", **({"id": item_id} if item_id else {}),
                    "summary": item["summary"], "encrypted_content": item["encrypted_content"]})
    return out


def _with_id(detail: Detail, item_id: str | None) -> Detail:
    if item_id:
        detail["id"] = item_id
    return detail


# -- the seal ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sealed:
    details: list[Detail]
    dialect: Dialect | None


def seal(details: list[Detail], dialect: Dialect | None) -> str:
    """Details and dialect as one opaque string a client carries back unchanged."""
    payload = compact_json({"d": details, "v": dialect})
    return SEAL_PREFIX + base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def unseal(text: Any) -> Sealed | None:
    """What `seal` packed; None for any string that is not a seal of ours."""
    if not isinstance(text, str) or not text.startswith(SEAL_PREFIX):
        return None
    body = text[len(SEAL_PREFIX):]
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("d"), list):
        return None
    dialect = payload.get("v")
    return Sealed([d for d in payload["d"] if isinstance(d, dict)],
                  dialect if dialect in DIALECTS else None)


# -- reasoning a client sends back ---------------------------------------------------------------


@dataclass
class ClientReasoning:
    """Reasoning an Anthropic or Responses client sends back with an assistant turn, gathered
    for the hub message: sealed blocks give back what was sealed, a provider's own blocks
    are kept as its details, and the readable text becomes `reasoning_content`."""

    texts: list[str] = field(default_factory=list)
    details: list[Detail] = field(default_factory=list)
    dialect: Dialect | None = None

    def __bool__(self) -> bool:
        return bool(self.texts or self.details or self.dialect)

    def add_anthropic_block(self, block: dict[str, Any]) -> None:
        if block.get("type") == "thinking" and block.get("thinking"):
            self.texts.append(str(block["thinking"]))
        signature = block.get("signature")
        sealed = unseal(signature)
        if sealed is not None:
            self._add_sealed(sealed)
        elif block.get("type") == "thinking" and not signature:
            # Unsigned: another provider's reasoning from before seals existed; DeepSeek-
            # style servers are the ones that ask for it back.
            self.dialect = self.dialect or "reasoning_content"
        else:
            self.details.extend(from_anthropic_blocks([block]))

    def add_responses_item(self, item: dict[str, Any]) -> None:
        summaries = [p.get("text") for p in dicts(item.get("summary"))]
        self.texts.extend(text for text in summaries if isinstance(text, str) and text)
        sealed = unseal(item.get("encrypted_content"))
        if sealed is not None:
            self._add_sealed(sealed)
        else:
            self.details.extend(from_responses_item(item))

    def _add_sealed(self, sealed: Sealed) -> None:
        self.details.extend(sealed.details)
        if sealed.dialect is not None:
            self.dialect = sealed.dialect

    def apply(self, message: dict[str, Any]) -> None:
        """Put the reasoning on a hub assistant message."""
        text = "\n\n".join(self.texts)
        if text:
            message["reasoning_content"] = text
        if self.details:
            message["reasoning_details"] = self.details
        if self.dialect is not None:
            message[HUB_DIALECT] = self.dialect


# -- the memory ----------------------------------------------------------------------------------


@dataclass
class ReasoningMemory:
    """The reasoning of recent tool-calling answers, by tool call id (bounded, LRU), for
    clients that do not send `reasoning_details` back. Thread-safe."""

    size: int = MEMORY_ENTRIES
    _entries: OrderedDict[str, tuple[list[Detail], Dialect | None]] = field(
        default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, call_ids: Iterable[str], details: list[Detail],
                 dialect: Dialect | None) -> None:
        if not details:
            return
        with self._lock:
            for call_id in call_ids:
                self._entries[call_id] = (details, dialect)
                self._entries.move_to_end(call_id)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def recall(self, call_ids: Iterable[str]) -> tuple[list[Detail], Dialect | None] | None:
        with self._lock:
            for call_id in call_ids:
                found = self._entries.get(call_id)
                if found is not None:
                    self._entries.move_to_end(call_id)
                    return found
        return None
