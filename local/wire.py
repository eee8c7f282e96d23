"""OpenAI Chat Completions envelopes for the local server: one builder per shape.

Every chunk and completion of one answer shares `id` (`chatcmpl-...`), `created` and `model`
(the id the client asked for, not the folder path), so one `Envelope` builds them all.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .discovery import LocalModel


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


DONE = sse("[DONE]")


@dataclass(frozen=True)
class Envelope:
    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def _base(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def chunk(
        self,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        *,
        with_usage: bool = False,
    ) -> dict[str, Any]:
        body = self._base("chat.completion.chunk")
        body["choices"] = [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        ]
        if with_usage:
            # With include_usage OpenAI sends `usage: null` on every chunk but the last.
            body["usage"] = None
        return body

    def usage_chunk(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        body = self._base("chat.completion.chunk")
        body["choices"] = []
        body["usage"] = usage(prompt_tokens, completion_tokens)
        return body

    def completion(
        self, text: str, finish_reason: str, prompt_tokens: int, completion_tokens: int
    ) -> dict[str, Any]:
        body = self._base("chat.completion")
        body["choices"] = [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ]
        body["usage"] = usage(prompt_tokens, completion_tokens)
        return body


def model_list(models: list[LocalModel]) -> dict[str, Any]:
    def created(model: LocalModel) -> int:
        try:
            return int(model.path.stat().st_mtime)
        except OSError:
            return 0

    return {
        "object": "list",
        "data": [
            {"id": m.id, "object": "model", "created": created(m), "owned_by": "local"}
            for m in models
        ],
    }
