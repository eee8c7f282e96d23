"""Translate answer: the provider's answer in the client's format, streamed or whole.

Hooks:
- `responseheaders`: a 2xx `text/event-stream` answer gets a fresh `StreamAdapter` (one per
  flow) as `flow.response.stream`, so every event reaches the client as soon as it arrives.
- `response`: a whole answer is translated; an error answer (any status >= 400) becomes the
  client format's error shape with the provider's status and message.

It expects the flow's `Route` (set by the router; for a replayed saved flow, the route saved
in its metadata) and the client's body that ingress parsed. It fails closed: an answer that
cannot be translated becomes an error in the client's format, never the provider's own.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from mitmproxy import http

from ..translators import hub
from ..translators.errors import (
    ErrorInfo,
    TranslationError,
    UpstreamFormatError,
    parse_error_body,
    render_error,
)
from ..translators.formats import Format
from ..translators.json_values import json_bytes
from .answers import error_response
from .capture import kept_body
from .fail_closed import fails_closed
from .secret_echo import scrub_bytes
from .state import Gateway, Route, info, is_routed_replay, record
from .streaming import StreamAdapter

logger = logging.getLogger(__name__)

# What an unexpected failure answers. An answer the provider sent that mitmllm cannot
# translate is, to the client, a bad upstream answer: 502, as for a stream (streaming.py).
ANSWER_FAILED = UpstreamFormatError("mitmllm could not translate the provider's answer (the "
                                    "proxy log has the details).").info()


class TranslateAnswer:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        route = self.gateway.route(flow)
        if route is None or flow.response is None:
            return
        response = flow.response
        content_type = response.headers.get("content-type", "")
        if not (200 <= response.status_code < 300 and "text/event-stream" in content_type):
            return  # buffered: translated whole in `response`
        client = route.client_format
        provider_format = route.provider_format
        exchange = self.gateway.exchange(flow)
        try:
            translator = hub.stream_translator(client, provider_format, exchange.body or {},
                                               model=info(flow).get("model", ""),
                                               memory=self.gateway.reasoning)
            adapter = StreamAdapter(translator, flow_id=flow.id, keep=self.gateway.keep_bytes,
                                    started=flow.request.timestamp_start,
                                    secrets=exchange.secret_values)
        except Exception:
            # Fail closed, but not with `@fails_closed`: the answer's headers are the
            # provider's by now and its body is on its way, so a replacement answer would
            # get that body. The client gets an error event, never the raw stream.
            logger.exception("flow %s: cannot set up the stream translation", flow.id)
            ending = hub.stream_translator(client, client, {}, model="")
            adapter = StreamAdapter.failed(ending, UpstreamFormatError(
                "mitmllm could not translate the provider's stream (the proxy log has the "
                "details).").info(), flow_id=flow.id, keep=self.gateway.keep_bytes,
                started=flow.request.timestamp_start)
        exchange.stream = adapter
        response.stream = adapter
        response.headers.pop("content-length", None)
        if client != provider_format:
            response.headers["content-type"] = "text/event-stream; charset=utf-8"

    @fails_closed("translate the answer", answer=ANSWER_FAILED)
    def response(self, flow: http.HTTPFlow) -> None:
        route = self.gateway.route(flow)
        if route is None or flow.response is None or flow.error:
            return
        response = flow.response
        exchange = self.gateway.peek_exchange(flow)
        if exchange is not None and exchange.stream is not None:
            exchange.stream.keep_in(flow, "complete")
            return
        if exchange is not None and exchange.secret_values:
            _scrub(response, exchange.secret_values)
        received = response.raw_content
        try:
            self._translate_whole(flow, route)
        finally:
            self._keep_whole(flow, received)

    def _translate_whole(self, flow: http.HTTPFlow, route: Route) -> None:
        response = flow.response
        assert response is not None
        if info(flow).get("gateway_answer") and not is_routed_replay(flow):
            return  # a refusal of mitmllm's own (addons/answers.py): the client's already
        client = route.client_format
        provider_format = route.provider_format
        request_id = response.headers.get("request-id")
        if request_id and "x-request-id" not in response.headers:
            response.headers["x-request-id"] = request_id
        try:
            if response.status_code >= 400:
                self._translate_error(flow, route)
                return
            if info(flow).get("stream") and response.status_code < 300:
                # A stream was asked for and none came (an event stream would have been
                # taken in `responseheaders`): no client could read this as its stream.
                kind = response.headers.get("content-type") or "no content type"
                raise UpstreamFormatError(f"Provider '{route.provider_name}' answered a "
                                          f"streamed request with {kind}, not an event stream.")
            if client != provider_format and info(flow).get("kind") != "count_tokens":
                self._translate_body(flow, client, provider_format)
            elif response.status_code < 300:
                _json_object(response)  # passed on as it is, if it is an answer at all
        except TranslationError as exc:
            flow.response = error_response(flow, exc.info())
        except RecursionError:
            flow.response = error_response(flow, UpstreamFormatError(
                "the provider's answer is nested too deeply to be translated").info())

    def error(self, flow: http.HTTPFlow) -> None:
        """The client went away while its answer streamed: keep what it got. After the
        stream's terminator that is a normal end (the openai SDK closes the connection as
        soon as it has read `[DONE]`), so the flow is no error."""
        exchange = self.gateway.peek_exchange(flow)
        if exchange is None or exchange.stream is None or exchange.upstream_failed:
            return  # not a stream, or the upstream layer's error hook kept it already
        if exchange.stream.reached_end:
            exchange.stream.keep_in(flow, "client left after the end")
            flow.error = None
        else:
            exchange.stream.keep_in(flow, "client left mid-stream")

    def _keep_whole(self, flow: http.HTTPFlow, received: bytes | None) -> None:
        """A whole answer's two sides for the inspection views: what the provider sent, when
        the client got something else, and when each came."""
        keep = self.gateway.keep_bytes
        response = flow.response
        if not keep or response is None:
            return
        ms = round((time.time() - flow.request.timestamp_start) * 1000, 1)
        client = response.raw_content or b""
        record(flow, client_answer={"cut": 0, "marks": [[ms, len(client)]]}, answer_end="complete")
        if response.raw_content is received:
            record(flow, provider_answer={"same_as_client": True})
        else:
            data = received or b""
            record(flow, provider_answer={**kept_body(data, keep),
                                          "marks": [[ms, min(len(data), keep)]]})

    def _translate_body(self, flow: http.HTTPFlow, client: Format, provider: Format) -> None:
        response = flow.response
        assert response is not None
        body = _json_object(response)
        exchange = self.gateway.peek_exchange(flow)
        translated = hub.translate_response(client, provider, body,
                                            exchange.body if exchange and exchange.body else {},
                                            memory=self.gateway.reasoning)
        response.headers.pop("content-encoding", None)
        response.content = json_bytes(translated)
        response.headers["content-type"] = "application/json"

    def _translate_error(self, flow: http.HTTPFlow, route: Route) -> None:
        response = flow.response
        assert response is not None
        client = route.client_format
        raw = response.get_content(strict=False) or b""
        if client == route.provider_format and _is_error_shape(client, raw):
            return  # the provider already speaks the client's error format
        error = parse_error_body(route.provider_format, response.status_code, raw,
                                 response.headers.get("request-id"))
        status, body = render_error(client, _with_provider(route, error))
        response.status_code = status
        response.headers.pop("content-encoding", None)
        response.content = json_bytes(body)
        response.headers["content-type"] = "application/json"



def _scrub(response: http.Response, secrets: tuple[str, ...]) -> None:
    """The provider's own key out of its answer, should it echo it (secret_echo.py)."""
    raw = response.get_content(strict=False) or b""
    clean = scrub_bytes(raw, tuple(s.encode() for s in secrets))
    if clean is not raw:
        response.content = clean


def _json_object(response: http.Response) -> dict[str, Any]:
    """The answer's JSON object, or the 502 a client gets for anything else."""
    try:
        body = json.loads(response.get_content() or b"")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UpstreamFormatError(f"the provider's answer is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise UpstreamFormatError("the provider's answer is not a JSON object")
    return body


def _with_provider(route: Route, error: ErrorInfo) -> ErrorInfo:
    """Name the provider in the message when its own message does not help much."""
    if error.message.startswith("upstream answered HTTP"):
        provider = route.provider_name
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

