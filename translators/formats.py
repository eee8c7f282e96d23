"""The three wire formats mitmllm speaks, by the names the config and the addons use.

- `openai`: OpenAI Chat Completions, also the hub every translation goes through;
- `anthropic`: Anthropic Messages;
- `responses`: Open Responses (the OpenAI Responses API).

Nothing else of mitmllm is imported here, so `config` can share these names.
"""

from __future__ import annotations

from typing import Literal, TypeGuard

Format = Literal["openai", "anthropic", "responses"]
FORMATS: tuple[Format, ...] = ("openai", "anthropic", "responses")
FORMAT_NAMES: dict[Format, str] = {"openai": "OpenAI Chat Completions",
                                   "anthropic": "Anthropic Messages",
                                   "responses": "Open Responses"}

# The output limit sent when the provider's format requires one (Anthropic's `max_tokens`)
# and the client gave none; a provider's `max_tokens_default` overrides it
# (docs/formats.md#sampling-and-limits).
DEFAULT_MAX_TOKENS = 4096


# What a provider may do with a hosted tool (web search, code interpreter, ...) a client
# declares that only the client format's own API can run (docs/formats.md#tools).
HostedTools = Literal["drop", "refuse"]
HOSTED_TOOLS: tuple[HostedTools, ...] = ("drop", "refuse")


def is_format(value: object) -> TypeGuard[Format]:
    return value in FORMATS
