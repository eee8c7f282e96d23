"""Translate: the request body and endpoint for the provider, the answer for the client.

Hooks:
- `request`: the provider's endpoint (`base_path` + `/chat/completions`, `/messages` or
  `/responses`) and body. Same format in and out: the client's bytes go on untouched but for
  the model name. Otherwise `translators.hub` rewrites the body; fields dropped by policy are
  listed in the flow's metadata, and what cannot be translated is a 400 naming the field.
- `responseheaders`: a 2xx `text/event-stream` answer gets a fresh `StreamAdapter` (one per
  flow) as `flow.response.stream`, so every event reaches the client as soon as it arrives.
- `response`: a whole answer is translated; an error answer (any status >= 400) becomes the
  client format's error shape with the provider's status and message.

It fails closed: a translation error becomes an error answer in the client's format, never
an untranslated body sent on (mitmproxy would otherwise log the exception and forward).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mitmproxy import http

from ..translators import hub
from ..translators.chat.types import NO_OPTIONS, RequestOptions
from ..translators.errors import (
    ErrorInfo,
    TranslationError,
    UpstreamFormatError,
    parse_error_body,
    render_error,
)
from ..translators.formats import Format
from ..translators.json_edit import replace_top_level_string
from .answers import answer_error, error_response, is_answered
from .ingress import MODEL_KINDS
from .state import Gateway, info, is_ours, is_routed_replay
from .streaming import StreamAdapter

logger = logging.getLogger(__name__)

LOCAL_BASE_PATH = "/v1"


def _format(value: str | None) -> Format:
    return value if value in ("anthropic", "responses") else "openai"  # type: ignore[return-value]


class Translate:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway

    # --- request -------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> None:
        if is_answered(flow) or is_routed_replay(flow):
            return
        meta = info(flow)
        if meta.get("kind") not in MODEL_KINDS or "provider" not in meta:
            return
        try:
            self._rewrite_request(flow)
        except TranslationError as exc:
            answer_error(flow, exc.status, exc.message, param=exc.param, code=exc.code,
                         error_type=exc.error_type)
        except Exception:
            logger.exception("flow %s: cannot translate the request", flow.id)
            answer_error(flow, 500, "mitmllm could not translate this request (a bug: the "
                         "proxy log has the details).", code="translation_failed",
                         error_type="server_error")

    def _rewrite_request(self, flow: http.HTTPFlow) -> None:
        meta = info(flow)
        exchange = self.gateway.exchange(flow)
        body = exchange.body
        assert body is not None
        client = _format(meta.get("client_format"))
        provider_format = _format(meta.get("provider_format"))
        upstream_model = meta["upstream_model"]
        provider = exchange.provider
        base_path = provider.base_path if provider else LOCAL_BASE_PATH
        request = flow.request
        endpoint = hub.endpoint(provider_format)
        if meta.get("kind") == "count_tokens":
            # Only Anthropic counts tokens for a Messages request; any other count would be
            # a guess with another model's tokenizer, so it is refused rather than invented.
            if provider_format != "anthropic":
                answer_error(flow, 501, "POST /v1/messages/count_tokens is only available "
                             f"for Anthropic-format providers; '{meta.get('provider')}' "
                             f"speaks {provider_format}.", code="not_implemented")
                return
            endpoint = "/messages/count_tokens"
        if client == provider_format:
            if upstream_model != body["model"]:
                request.content = replace_top_level_string(request.get_content() or b"",
                                                           "model", upstream_model)
        else:
            options = RequestOptions(max_tokens_default=provider.max_tokens_default) \
                if provider else NO_OPTIONS
            translated = hub.translate_request(client, provider_format,
                                               {**body, "model": upstream_model}, options)
            meta["dropped"] = list(translated.dropped)
            # Popped first: with the header on, mitmproxy would re-compress the new content.
            request.headers.pop("content-encoding", None)
            request.content = json.dumps(translated.body, ensure_ascii=False).encode()
        # The body was parsed as JSON; say so even if the client did not (curl -d).
        request.headers["content-type"] = "application/json"
        path = base_path.rstrip("/") + endpoint
        query = request.path.partition("?")[2]
        if query and client == provider_format:
            path += "?" + query  # e.g. the Anthropic SDK's ?beta=true: the same API's own
        request.path = path
        # Compressed answers could not be translated (nor read in mitmweb) as they arrive.
        request.headers["accept-encoding"] = "identity"

    # --- answer ----------------------------------------------------------------------

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if not self._routed(flow) or flow.response is None:
            return
        response = flow.response
        content_type = response.headers.get("content-type", "")
        if not (200 <= response.status_code < 300 and "text/event-stream" in content_type):
            return  # buffered: translated whole in `response`
        meta = info(flow)
        client = _format(meta.get("client_format"))
        provider_format = _format(meta.get("provider_format"))
        exchange = self.gateway.exchange(flow)
        try:
            translator = hub.stream_translator(client, provider_format, exchange.body or {},
                                               model=meta.get("model", ""))
            adapter = StreamAdapter(translator, flow_id=flow.id)
        except Exception:
            # Fail closed: the client gets an error event, never the provider's raw stream.
            logger.exception("flow %s: cannot set up the stream translation", flow.id)
            ending = hub.stream_translator(client, client, {}, model="")
            adapter = StreamAdapter.failed(ending, UpstreamFormatError(
                "mitmllm could not translate the provider's stream (the proxy log has the "
                "details).").info(), flow_id=flow.id)
        exchange.stream = adapter
        response.stream = adapter
        response.headers.pop("content-length", None)
        if client != provider_format:
            response.headers["content-type"] = "text/event-stream; charset=utf-8"

    def response(self, flow: http.HTTPFlow) -> None:
        if not self._routed(flow) or flow.response is None or flow.error:
            return
        response = flow.response
        exchange = self.gateway.peek_exchange(flow)
        if exchange is not None and exchange.stream is not None:
            exchange.stream.keep_in(response)
            return
        meta = info(flow)
        client = _format(meta.get("client_format"))
        provider_format = _format(meta.get("provider_format"))
        request_id = response.headers.get("request-id")
        if request_id and "x-request-id" not in response.headers:
            response.headers["x-request-id"] = request_id
        try:
            if response.status_code >= 400:
                self._translate_error(flow, client, provider_format)
            elif client != provider_format and meta.get("kind") != "count_tokens":
                self._translate_body(flow, client, provider_format)
        except TranslationError as exc:
            flow.response = error_response(flow, exc.info())
        except Exception:
            logger.exception("flow %s: cannot translate the answer", flow.id)
            flow.response = error_response(flow, UpstreamFormatError(
                "mitmllm could not translate the provider's answer (the proxy log has the "
                "details).").info())

    def _translate_body(self, flow: http.HTTPFlow, client: Format, provider: Format) -> None:
        response = flow.response
        assert response is not None
        try:
            body = json.loads(response.get_content() or b"")
        except ValueError as exc:
            raise UpstreamFormatError(f"the provider's answer is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise UpstreamFormatError("the provider's answer is not a JSON object")
        exchange = self.gateway.peek_exchange(flow)
        translated = hub.translate_response(client, provider, body,
                                            exchange.body if exchange and exchange.body else {})
        response.headers.pop("content-encoding", None)
        response.content = json.dumps(translated, ensure_ascii=False).encode()
        response.headers["content-type"] = "application/json"

    def _translate_error(self, flow: http.HTTPFlow, client: Format, provider: Format) -> None:
        response = flow.response
        assert response is not None
        raw = response.get_content(strict=False) or b""
        if client == provider and _is_error_shape(client, raw):
            return  # the provider already speaks the client's error format
        error = parse_error_body(provider, response.status_code, raw,
                                 response.headers.get("request-id"))
        status, body = render_error(client, _with_provider(flow, error))
        response.status_code = status
        response.headers.pop("content-encoding", None)
        response.content = json.dumps(body, ensure_ascii=False).encode()
        response.headers["content-type"] = "application/json"

    def _routed(self, flow: http.HTTPFlow) -> bool:
        if not is_ours(flow):
            return False
        meta = info(flow)
        return meta.get("kind") in MODEL_KINDS and "provider" in meta


def _with_provider(flow: http.HTTPFlow, error: ErrorInfo) -> ErrorInfo:
    """Name the provider in the message when its own message does not help much."""
    if error.message.startswith("upstream answered HTTP"):
        provider = info(flow).get("provider", "?")
        return ErrorInfo(error.status, f"Provider '{provider}' answered HTTP {error.status} "
                         "without an error message.", error.type, error.param, error.code,
                         error.origin, error.request_id)
    return error


def _is_error_shape(client: Format, raw: bytes) -> bool:
    try:
        body: Any = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    if client == "anthropic":
        return body.get("type") == "error" and isinstance(body.get("error"), dict)
    return isinstance(body.get("error"), dict) and "message" in body["error"]

