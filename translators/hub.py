"""The 3x3 matrix through one hub: any client format to any provider format via OpenAI Chat.

A client request is first brought to OpenAI Chat (the hub), then to the provider's format;
the answer goes the other way. Same format in and out is not translated at all (the addon
passes those bodies and streams through byte for byte). Every function here is pure; the
stream translators chain two single-direction translators when both sides differ from the
hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .anthropic_inbound import (
    ChatToAnthropicStream,
    anthropic_request_to_chat,
    chat_response_to_anthropic,
)
from .anthropic_upstream import (
    AnthropicToChatStream,
    anthropic_response_to_chat,
    chat_request_to_anthropic,
)
from .chat import Translated
from .errors import ErrorInfo, Format
from .responses_inbound import (
    ChatToResponsesStream,
    chat_response_to_responses,
    responses_request_to_chat,
)
from .responses_upstream import (
    ResponsesToChatStream,
    chat_request_to_responses,
    responses_response_to_chat,
)
from .sse import SSEEvent
from .stream import StreamTranslator

ENDPOINTS: dict[str, str] = {
    "openai": "/chat/completions",
    "anthropic": "/messages",
    "responses": "/responses",
}


def translate_request(client: Format, provider: Format, body: dict[str, Any], *,
                      max_tokens_default: int = 4096) -> Translated:
    """The provider's request body for a client body (whose `model` is already upstream)."""
    if client == provider:
        return Translated(body)
    dropped: list[str] = []
    if client == "anthropic":
        hub = anthropic_request_to_chat(body)
    elif client == "responses":
        hub = responses_request_to_chat(body)
    else:
        hub = Translated(body)
    dropped.extend(hub.dropped)
    if provider == "anthropic":
        out = chat_request_to_anthropic(hub.body, max_tokens_default=max_tokens_default)
    elif provider == "responses":
        out = chat_request_to_responses(hub.body)
    else:
        out = Translated(hub.body)
    dropped.extend(d for d in out.dropped if d not in dropped)
    return Translated(out.body, tuple(dropped))


def translate_response(client: Format, provider: Format, body: dict[str, Any],
                       request: dict[str, Any]) -> dict[str, Any]:
    """The client's answer for a provider's whole (non-streamed) answer."""
    if client == provider:
        return body
    hub: dict[str, Any]
    if provider == "anthropic":
        hub = anthropic_response_to_chat(body)
    elif provider == "responses":
        hub = dict(responses_response_to_chat(body))
    else:
        hub = body
    if client == "anthropic":
        return chat_response_to_anthropic(hub)
    if client == "responses":
        return chat_response_to_responses(hub, request)
    return hub


def client_wants_usage(client: Format, request: dict[str, Any]) -> bool:
    if client != "openai":
        return True  # Anthropic and Responses streams always end with usage
    options = request.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def stream_translator(client: Format, provider: Format, request: dict[str, Any], *,
                      model: str) -> StreamTranslator | None:
    """A fresh translator for one streamed answer; None when the formats match."""
    if client == provider:
        return None
    include_usage = client_wants_usage(client, request)
    first: StreamTranslator | None = None
    if provider == "anthropic":
        first = AnthropicToChatStream(include_usage=include_usage)
    elif provider == "responses":
        first = ResponsesToChatStream(include_usage=include_usage)
    second: StreamTranslator | None = None
    if client == "anthropic":
        second = ChatToAnthropicStream(model=model)
    elif client == "responses":
        second = ChatToResponsesStream(request=request)
    if first is None:
        assert second is not None
        return second
    if second is None:
        return first
    return ChainedStream(first, second)


@dataclass(slots=True)
class ChainedStream:
    """Provider format -> hub -> client format, event by event."""

    first: StreamTranslator
    second: StreamTranslator

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        return self._through(self.first.feed(event))

    def finish(self) -> list[SSEEvent]:
        return self._through(self.first.finish()) + self.second.finish()

    def fail(self, error: ErrorInfo) -> list[SSEEvent]:
        self.first.fail(error)
        return self.second.fail(error)

    def _through(self, hub_events: list[SSEEvent]) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        for event in hub_events:
            out.extend(self.second.feed(event))
        return out
