"""Validate an OpenAI Chat Completions body into the parameters one local generation needs.

Pure (no mlx): every rejection is a `BadRequest` naming the field, as OpenAI does. Accepted
and honoured: `messages` (text content; `developer` read as `system`), `tools` (unless
`tool_choice` is `"none"`), `stream`, `stream_options.include_usage`,
`max_completion_tokens` / `max_tokens`, `temperature`, `top_p`, `seed`, `stop`, `logit_bias`,
`presence_penalty`, `frequency_penalty`. Refused rather than silently ignored, because the
answer would not be what the client asked for: `n` > 1, `logprobs`, a non-text
`response_format`, image/audio/file content parts. Any other field is accepted and has no
effect (`user`, `metadata`, `store`, `parallel_tool_calls`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..translators.formats import DEFAULT_MAX_TOKENS
from .errors import BadRequest

# DEFAULT_MAX_TOKENS is used when the client sets no limit: a small local model can
# otherwise loop for a long time.


@dataclass(frozen=True)
class ChatParams:
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    stream: bool = False
    include_usage: bool = False
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logit_bias: dict[int, float] = field(default_factory=dict)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


def _number(body: Mapping[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise BadRequest(f"{name} must be a number from {low:g} to {high:g}", param=name)
    return float(value)


def _integer(body: Mapping[str, Any], name: str, low: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise BadRequest(f"{name} must be an integer of at least {low}", param=name)
    return value


def _text_content(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise BadRequest(f"{where} must be a string or a list of parts", param=where)
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind != "text" or not isinstance(part.get("text"), str):
            raise BadRequest(
                f"{where}[{j}]: local models take text parts only (got {kind!r})",
                param=f"{where}[{j}]",
            )
        texts.append(part["text"])
    return "".join(texts)


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise BadRequest("messages must be a non-empty list", param="messages")
    out = []
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise BadRequest(f"{where} must be an object with a string role", param=where)
        # Chat templates know `system`; OpenAI's newer `developer` role means the same.
        role = "system" if message["role"] == "developer" else message["role"]
        content = _text_content(message.get("content"), f"{where}.content")
        # Other keys (tool_calls, tool_call_id, name) are for the template to render.
        out.append({**message, "role": role, "content": content})
    return out


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise BadRequest("stop must be a non-empty string or a list of them", param="stop")
    return tuple(stops)


def _logit_bias(value: Any) -> dict[int, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("logit_bias must map token ids to numbers", param="logit_bias")
    bias = {}
    for key, amount in value.items():
        try:
            token = int(key)
        except (TypeError, ValueError):
            token = -1
        ok_amount = isinstance(amount, int | float) and not isinstance(amount, bool)
        if token < 0 or not ok_amount or not -100 <= amount <= 100:
            raise BadRequest(
                f"logit_bias[{key!r}]: keys are token ids, values numbers from -100 to 100",
                param="logit_bias",
            )
        bias[token] = float(amount)
    return bias


def _tools(body: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    tools = body.get("tools")
    if tools is None or body.get("tool_choice") == "none":
        return None
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise BadRequest("tools must be a list of objects", param="tools")
    return tools or None


def _refuse_unsupported(body: Mapping[str, Any]) -> None:
    if body.get("n") not in (None, 1):
        raise BadRequest("n: local models return one choice", param="n")
    if body.get("logprobs"):
        raise BadRequest("logprobs are not supported by local models", param="logprobs")
    response_format = body.get("response_format")
    if response_format is not None and (
        not isinstance(response_format, dict) or response_format.get("type") != "text"
    ):
        raise BadRequest(
            "response_format: local models produce plain text only", param="response_format"
        )


def parse_chat(body: Any) -> ChatParams:
    """Check a parsed JSON body; raise `BadRequest` on the first bad field."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model must be a non-empty string", param="model")
    _refuse_unsupported(body)
    stream = body.get("stream") or False
    if not isinstance(stream, bool):
        raise BadRequest("stream must be a boolean", param="stream")
    options = body.get("stream_options")
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise BadRequest("stream_options must be an object", param="stream_options")

    max_tokens = _integer(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = _integer(body, "max_tokens", 1)
    temperature = _number(body, "temperature", 0, 2)
    top_p = _number(body, "top_p", 0, 1)
    return ChatParams(
        model=model,
        messages=_messages(body.get("messages")),
        tools=_tools(body),
        stream=stream,
        include_usage=stream and bool(options.get("include_usage")),
        max_tokens=max_tokens or DEFAULT_MAX_TOKENS,
        temperature=1.0 if temperature is None else temperature,
        top_p=1.0 if top_p is None else top_p,
        seed=_integer(body, "seed", 0),
        stop=_stop(body.get("stop")),
        logit_bias=_logit_bias(body.get("logit_bias")),
        presence_penalty=_number(body, "presence_penalty", -2, 2),
        frequency_penalty=_number(body, "frequency_penalty", -2, 2),
    )
