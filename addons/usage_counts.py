"""Token counts read back from what a client got, for the metrics: a whole answer's body,
or the last stream chunks that carried usage. Every format says input and output tokens in
its own words (docs/formats.md#usage); Anthropic's input leaves out cached tokens, which
are added back so that all three count the same thing."""

from __future__ import annotations

import json
from typing import Any

from ..translators.json_values import as_dict


def tokens_of(usage: Any) -> tuple[int, int]:
    """(input, output) of one usage object of any format; 0 for what is missing."""
    usage = as_dict(usage)
    if "prompt_tokens" in usage or "completion_tokens" in usage:  # OpenAI Chat
        return _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
    cached = _int(usage.get("cache_read_input_tokens")) + _int(
        usage.get("cache_creation_input_tokens"))  # Anthropic only; 0 for Responses
    return _int(usage.get("input_tokens")) + cached, _int(usage.get("output_tokens"))


def _usage_in(payload: dict[str, Any]) -> Any:
    """Where each format keeps usage: at the top, in `message` (Anthropic's message_start)
    or in `response` (Responses' terminal events)."""
    for key in ("message", "response"):
        inner = as_dict(payload.get(key))
        if inner.get("usage") is not None:
            return inner["usage"]
    return payload.get("usage")


def body_tokens(body: bytes) -> tuple[int, int]:
    """A whole answer's tokens; (0, 0) for a body without usage (or not JSON)."""
    if b'"usage"' not in body:
        return 0, 0
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return 0, 0
    return tokens_of(_usage_in(payload)) if isinstance(payload, dict) else (0, 0)


def stream_tokens(chunks: list[bytes]) -> tuple[int, int]:
    """A stream's tokens from its chunks that carry usage: the largest count seen of each
    (Anthropic says input in message_start and output in message_delta, cumulatively)."""
    best_in = best_out = 0
    for chunk in chunks:
        for line in chunk.splitlines():
            if not line.startswith(b"data:") or b'"usage"' not in line:
                continue
            try:
                payload = json.loads(line[5:])
            except (ValueError, RecursionError):
                continue
            if isinstance(payload, dict):
                tokens_in, tokens_out = tokens_of(_usage_in(payload))
                best_in, best_out = max(best_in, tokens_in), max(best_out, tokens_out)
    return best_in, best_out


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
