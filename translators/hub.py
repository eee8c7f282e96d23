"""The 3x3 format matrix through one hub: any client format to any provider format via OpenAI
Chat (docs/formats.md#the-hub).

Each wire format joins the hub through one `FormatAdapter`, a row of `ADAPTERS` naming its
four directions in the words the addons use:

    client request  -> hub              `<format>/client_request.py`
    hub             -> provider request `<format>/provider_request.py`
    provider answer -> hub              `<format>/provider_answer.py` (whole and streamed)
    hub             -> client answer    `<format>/client_answer.py`   (whole and streamed)

OpenAI Chat is the hub itself, so its row has no translation steps but one: the hub request
as a Chat provider gets it (`chat/provider_request.py`). A request goes from the
client's row to the hub and on through the provider's row; the answer goes back the other
way. When client and provider speak the same format nothing is translated: the addon passes
bodies through byte for byte (but the model name), and streams through a passthrough watcher
that only knows how that format ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from .anthropic.client_answer import ChatToAnthropicStream, chat_response_to_anthropic
from .anthropic.client_request import anthropic_request_to_chat
from .anthropic.passthrough import AnthropicPassthrough, repaired_request
from .anthropic.provider_answer import AnthropicToChatStream, anthropic_response_to_chat
from .anthropic.provider_request import chat_request_to_anthropic
from .chat.passthrough import ChatPassthrough
from .chat.provider_request import hub_request_to_chat
from .chat.types import NO_OPTIONS, RequestOptions, Translated
from .errors import UnsupportedFieldError
from .formats import FORMAT_NAMES, Format
from .reasoning import ReasoningMemory, call_ids, details_of, dialect_of
from .responses.client_answer import ChatToResponsesStream, chat_response_to_responses
from .responses.client_request import responses_request_to_chat
from .responses.passthrough import ResponsesPassthrough
from .responses.provider_answer import ResponsesToChatStream, responses_response_to_chat
from .responses.provider_request import chat_request_to_responses
from .stream import ChainedStream, StreamTranslator

Body = dict[str, Any]
RequestStep = Callable[[Body, RequestOptions], Translated]


@dataclass(frozen=True, slots=True)
class StreamContext:
    """What a stream translator is built from: the client's request (as the client sent it,
    but for `model`, which is the upstream id) and the model name the client asked for."""

    request: Body
    model: str
    include_usage: bool
    memory: ReasoningMemory | None = None


@dataclass(frozen=True, slots=True)
class FormatAdapter:
    """How one wire format joins the hub. A step that is None is the identity: the format
    is the hub's own."""

    endpoint: str  # appended to a provider's base path
    client_request: RequestStep | None = None
    provider_request: RequestStep | None = None
    provider_answer: Callable[[Body], Body] | None = None
    client_answer: Callable[[Body, Body], Body] | None = None  # (hub answer, client request)
    provider_stream: Callable[[StreamContext], StreamTranslator] | None = None
    client_stream: Callable[[StreamContext], StreamTranslator] | None = None
    passthrough_stream: Callable[[], StreamTranslator] = ChatPassthrough
    # Same format on both sides: a repaired body, with what changed, for a request the
    # provider would refuse for a value a client means differently; None: bytes go on.
    passthrough_request: Callable[[Body, bytes], tuple[Body, list[str]] | None] = (
        lambda _body, _raw: None)


ADAPTERS: dict[Format, FormatAdapter] = {
    "openai": FormatAdapter(endpoint="/chat/completions", provider_request=hub_request_to_chat),
    "anthropic": FormatAdapter(
        endpoint="/messages",
        client_request=anthropic_request_to_chat,
        provider_request=chat_request_to_anthropic,
        provider_answer=anthropic_response_to_chat,
        client_answer=lambda answer, _request: chat_response_to_anthropic(answer),
        provider_stream=lambda context: AnthropicToChatStream(
            include_usage=context.include_usage, memory=context.memory),
        client_stream=lambda context: ChatToAnthropicStream(model=context.model),
        passthrough_stream=AnthropicPassthrough,
        passthrough_request=repaired_request,
    ),
    "responses": FormatAdapter(
        endpoint="/responses",
        client_request=responses_request_to_chat,
        provider_request=chat_request_to_responses,
        provider_answer=responses_response_to_chat,  # type: ignore[arg-type]  # a TypedDict
        client_answer=chat_response_to_responses,
        provider_stream=lambda context: ResponsesToChatStream(
            include_usage=context.include_usage, memory=context.memory),
        client_stream=lambda context: ChatToResponsesStream(request=context.request),
        passthrough_stream=ResponsesPassthrough,
    ),
}


def endpoint(provider: Format) -> str:
    return ADAPTERS[provider].endpoint


def translate_request(client: Format, provider: Format, body: Body,
                      options: RequestOptions = NO_OPTIONS) -> Translated:
    """The provider's request body for a client body (whose `model` is already upstream)."""
    if client == provider:
        return Translated(body)
    options = replace(options, target=provider)
    to_hub = ADAPTERS[client].client_request
    try:
        hub = to_hub(body, options) if to_hub else Translated(body)
    except UnsupportedFieldError as exc:
        raise exc.naming(FORMAT_NAMES[provider]) from None
    from_hub = ADAPTERS[provider].provider_request
    if from_hub is None:
        return hub
    out = from_hub(hub.body, options)
    return Translated(out.body, tuple(dict.fromkeys([*hub.dropped, *out.dropped])),
                      (*hub.defaulted, *out.defaulted))


def repair_passthrough(client: Format, body: Body, raw: bytes
                       ) -> tuple[Body, list[str]] | None:
    """For a same-format request (`body` parsed from `raw`): a repaired body and what
    changed, or None when the client's bytes go on untouched (docs/formats.md#the-hub)."""
    return ADAPTERS[client].passthrough_request(body, raw)


def translate_response(client: Format, provider: Format, body: Body, request: Body, *,
                       memory: ReasoningMemory | None = None) -> Body:
    """The client's answer for a provider's whole (non-streamed) answer. `memory` keeps the
    reasoning of an answer that calls tools, for clients that will not send it back."""
    if client == provider:
        return body
    to_hub = ADAPTERS[provider].provider_answer
    hub = to_hub(body) if to_hub else body
    if memory is not None:
        _remember(memory, hub)
    from_hub = ADAPTERS[client].client_answer
    return from_hub(hub, request) if from_hub else hub


def _remember(memory: ReasoningMemory, answer: Body) -> None:
    choices = answer.get("choices")
    message = choices[0].get("message") if isinstance(choices, list) and choices and \
        isinstance(choices[0], dict) else None
    if isinstance(message, dict) and call_ids(message):
        memory.remember(call_ids(message), details_of(message), dialect_of(message))


def client_wants_usage(client: Format, request: Body) -> bool:
    if client != "openai":
        return True  # Anthropic and Responses streams always end with usage
    options = request.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def stream_translator(client: Format, provider: Format, request: Body, *, model: str,
                      memory: ReasoningMemory | None = None) -> StreamTranslator:
    """A fresh translator for one streamed answer; a passthrough watcher when the formats
    match."""
    if client == provider:
        return ADAPTERS[client].passthrough_stream()
    context = StreamContext(request, model, client_wants_usage(client, request), memory)
    to_hub = ADAPTERS[provider].provider_stream
    from_hub = ADAPTERS[client].client_stream
    if to_hub is None:
        assert from_hub is not None  # the formats differ, so one side is not the hub
        return from_hub(context)
    if from_hub is None:
        return to_hub(context)
    return ChainedStream(first=to_hub(context), second=from_hub(context))
