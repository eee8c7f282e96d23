"""Hub -> Chat provider request: the hub request as an OpenAI Chat provider gets it.

The hub is OpenAI Chat already, so little changes: reasoning an Anthropic or Responses
client sent back goes to a Chat provider only in the field that provider used itself
(`reasoning_content` for DeepSeek-style servers, OpenRouter's `reasoning_details`), because
servers such as Groq and Cerebras refuse fields they do not know; and the hub-only key that
remembered that dialect goes (docs/formats.md#reasoning).
"""

from __future__ import annotations

from typing import Any

from ..reasoning import for_chat_provider
from .types import NO_OPTIONS, RequestOptions, Translated


def hub_request_to_chat(body: dict[str, Any],
                        options: RequestOptions = NO_OPTIONS) -> Translated:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return Translated(body)
    out = [for_chat_provider(m) if isinstance(m, dict) and m.get("role") == "assistant" else m
           for m in messages]
    return Translated({**body, "messages": out})
