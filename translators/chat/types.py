"""OpenAI Chat Completions: the hub format every translation goes through.

Wire payloads as TypedDicts (total=False: providers add and omit fields freely), and the one
helper that builds a `chat.completion.chunk` envelope.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from ..formats import DEFAULT_MAX_TOKENS, Format, HostedTools
from ..json_values import compact_json
from ..reasoning import ReasoningMemory

FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


class FunctionCall(TypedDict):
    name: str
    arguments: str


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class ChatMessage(TypedDict, total=False):
    role: str
    content: str | list[dict[str, Any]] | None
    name: str
    tool_calls: list[ToolCall]
    tool_call_id: str
    reasoning_content: str
    thinking_blocks: list[dict[str, Any]]  # LiteLLM's extension: Anthropic thinking, signed
    reasoning_details: list[dict[str, Any]]  # OpenRouter's extension (docs/formats.md#reasoning)
    refusal: str | None


class Usage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict[str, int]
    completion_tokens_details: dict[str, int]


class Choice(TypedDict):
    index: int
    message: ChatMessage
    finish_reason: FinishReason | None


class ChatCompletion(TypedDict):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: NotRequired[Usage]


class ChunkChoice(TypedDict):
    index: int
    delta: dict[str, Any]
    finish_reason: FinishReason | None


class ChatChunk(TypedDict):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: NotRequired[Usage | None]


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


@dataclass(slots=True)
class ChunkEnvelope:
    """The fields every chunk of one answer shares; builds each chunk of that answer and the
    whole completion. OpenAI's own `logprobs: null` and per-chunk `usage: null` are left
    out: they carry nothing, and the SDKs read a missing field the same."""

    model: str = ""
    id: str = field(default_factory=new_completion_id)
    created: int = field(default_factory=lambda: int(time.time()))
    # The JSON text every text chunk of this answer starts with, for `delta_json`.
    _head: tuple[str, str] = field(default=("", ""), init=False, repr=False)

    def delta_json(self, key: str, text: str) -> str:
        """`compact_json(self.chunk({key: text}))`, without building and encoding the dict:
        the one chunk a stream sends per token, so the one worth making cheap."""
        head, model = self._head
        if not head or model != self.model:
            prefix = compact_json(self.chunk({}))
            head = prefix[:prefix.index('"delta":{') + len('"delta":{')]
            self._head = (head, self.model)
        return f'{head}{compact_json(key)}:{compact_json(text)}}},"finish_reason":null}}]}}'

    def chunk(self, delta: dict[str, Any], finish_reason: FinishReason | None = None) -> ChatChunk:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    def usage_chunk(self, usage: Usage) -> ChatChunk:
        """The extra chunk sent after the finish chunk when `stream_options.include_usage`."""
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }

    def completion(self, message: ChatMessage, finish_reason: FinishReason | None,
                   usage: Usage | None = None) -> ChatCompletion:
        """The whole (non-streamed) answer."""
        completion: ChatCompletion = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        }
        if usage is not None:
            completion["usage"] = usage
        return completion


def chat_usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """What a provider's settings tell the request translation."""

    max_tokens_default: int = DEFAULT_MAX_TOKENS
    hosted_tools: HostedTools = "drop"
    # The provider's format; set by the hub, so that a refusal names the real target.
    target: Format = "openai"
    # Reasoning of earlier answers, for clients that do not send it back themselves.
    memory: ReasoningMemory | None = None


NO_OPTIONS = RequestOptions()


@dataclass(frozen=True, slots=True)
class Translated:
    """A translated request body, the client fields dropped on the way, and the fields the
    translation filled in itself.

    `dropped` lists fields that have no equivalent and may be dropped (e.g. `seed` for
    Anthropic; docs/formats.md#dropped-and-refused), as `field` or `field (why)`; fields
    that must not be dropped raise `UnsupportedFieldError` instead. `defaulted` lists what
    the provider gets that the client did not ask for, as `field = value (why)`. Both are
    shown in mitmweb's `mitmllm` view.
    """

    body: dict[str, Any]
    dropped: tuple[str, ...] = ()
    defaulted: tuple[str, ...] = ()
