"""Upstream: the leg to the provider. Wire-only secrets, idle timeouts, clean failures.

mitmproxy answers an unreachable server with an HTML 502 page, has no per-request timeout,
and cuts a broken stream without a word. Clients of an LLM gateway need the error in their
own API format, a 504 after the provider's `timeout`, and a stream that ends with a proper
error event. mitmproxy offers no hook for any of this (mitmproxy PR #7999 proposes the
first), so this module uses its layer extension point: the `next_layer` hook installs
`GatewayHttpLayer`, whose streams (`GatewayHttpStream`) differ from mitmproxy's in three
places only:

1. When the request is written to the provider, a copy of it gets the secret header values
   from the flow's `Exchange.wire_headers`; the flow itself only ever holds a redacted marker.
2. While the provider owes an answer (headers, or the next body chunk), an idle timer of the
   flow's `timeout` runs; when it fires, the upstream request is cancelled.
3. When the upstream fails (unreachable, closed, timed out), the `error` hook runs as usual,
   and then, instead of mitmproxy's HTML page or a cut connection, the stream sends what an
   addon put in `flow.response` during that hook or, for a stream already under way, the
   `Exchange.stream_tail` (an error event in the client's format) and a clean end of body.

`UpstreamErrors` is the addon that decides those answers in the `error` hook.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from typing import Any

from mitmproxy import ctx, flow, http
from mitmproxy.addons.next_layer import stack_match
from mitmproxy.net.tls import starts_like_tls_record
from mitmproxy.proxy import commands, events, layer
from mitmproxy.proxy.layers import modes
from mitmproxy.proxy.layers.http import (
    DropStream,
    HttpErrorHook,
    HttpLayer,
    HTTPMode,
    HttpStream,
    RequestHeaders,
    RequestProtocolError,
    ResponseData,
    ResponseEndOfMessage,
    ResponseHeaders,
    ResponseProtocolError,
    SendHttp,
)
from mitmproxy.proxy.layers.http._events import ErrorCode
from mitmproxy.proxy.mode_specs import ReverseMode

from ..translators.errors import ErrorInfo
from .answers import error_response
from .state import Gateway, Route, info, record

logger = logging.getLogger(__name__)

CommandGenerator = Generator[commands.Command, Any, Any]


def _forward(generator: CommandGenerator,
             transform: Callable[[commands.Command], commands.Command]) -> CommandGenerator:
    """`yield from generator`, with each command passed through `transform`. Replies to
    blocking commands (hooks, connections) are sent back in, as `yield from` would."""
    reply = None
    try:
        while True:
            command = generator.send(reply)
            reply = yield transform(command)
    except StopIteration as stop:
        return stop.value


class GatewayHttpStream(HttpStream):
    def __init__(self, context: Any, stream_id: int, gateway: Gateway):
        super().__init__(context, stream_id)
        self.gateway = gateway
        self._sent_at: float | None = None  # when the request went upstream
        self._last_activity = 0.0
        self._timer_armed = False

    # --- events --------------------------------------------------------------------

    def _handle_event(self, event: events.Event) -> CommandGenerator:
        if isinstance(event, events.Wakeup):
            self._timer_armed = False
            yield from self._on_timer()
            return
        if isinstance(event, ResponseHeaders | ResponseData):
            self._last_activity = time.monotonic()
        yield from _forward(super()._handle_event(event), self._on_command)
        yield from self._arm_timer()

    def _on_command(self, command: commands.Command) -> commands.Command:
        if (isinstance(command, SendHttp) and isinstance(command.event, RequestHeaders)
                and command.connection is self.context.server):
            self._sent_at = self._last_activity = time.monotonic()
            exchange = self.gateway.peek_exchange(self.flow)
            if exchange is not None and exchange.wire_headers:
                wire = command.event.request.copy()
                wire.headers.update(exchange.wire_headers)
                return SendHttp(RequestHeaders(self.stream_id, wire, command.event.end_stream),
                                command.connection)
        return command

    # --- idle timeout ----------------------------------------------------------------

    def _timeout(self) -> float | None:
        flow_ = getattr(self, "flow", None)  # set once the request headers arrived
        route = self.gateway.route(flow_) if flow_ is not None else None
        return route.timeout if route else None

    def _awaiting_upstream(self) -> bool:
        return self._sent_at is not None and self.server_state in (
            self.state_wait_for_response_headers, self.state_stream_response_body,
            self.state_consume_response_body)

    def _arm_timer(self) -> CommandGenerator:
        timeout = self._timeout()
        if timeout and not self._timer_armed and self._awaiting_upstream():
            self._timer_armed = True
            remaining = timeout - (time.monotonic() - self._last_activity)
            yield commands.RequestWakeup(max(remaining, 0.01))

    def _on_timer(self) -> CommandGenerator:
        timeout = self._timeout()
        if not timeout or not self._awaiting_upstream():
            return
        if time.monotonic() - self._last_activity < timeout:
            yield from self._arm_timer()
            return
        record(self.flow, timed_out=True)
        # Cancel the upstream request the way mitmproxy does when a client goes away:
        # HTTP/1 closes that connection, HTTP/2 resets only this stream.
        yield SendHttp(RequestProtocolError(self.stream_id, "timed out", ErrorCode.CANCEL),
                       self.context.server)
        yield from self._fail_upstream(f"no answer from the provider within {timeout:g} s",
                                       ErrorCode.GENERIC_SERVER_ERROR)

    # --- failures --------------------------------------------------------------------

    def handle_protocol_error(self, event: RequestProtocolError | ResponseProtocolError
                              ) -> CommandGenerator:
        answerable = not (self.client_state == self.state_errored
                          or self.server_state in (self.state_done, self.state_errored))
        if isinstance(event, ResponseProtocolError) and answerable \
                and self.gateway.route(self.flow) is not None:
            yield from self._fail_upstream(event.message, event.code)
        else:
            yield from super().handle_protocol_error(event)

    def _fail_upstream(self, message: str, code: ErrorCode) -> CommandGenerator:
        streaming = self.server_state == self.state_stream_response_body
        response_before = self.flow.response
        self.flow.error = flow.Error(message)
        self.gateway.exchange(self.flow).upstream_failed = True
        yield HttpErrorHook(self.flow)
        if (yield from self.check_killed(False)):
            return
        exchange = self.gateway.peek_exchange(self.flow)
        client = self.context.client
        if streaming and exchange is not None and exchange.stream_tail is not None:
            if exchange.stream_tail:
                yield SendHttp(ResponseData(self.stream_id, exchange.stream_tail), client)
            yield from self._end_response()
        elif not streaming and self.flow.response is not None \
                and self.flow.response is not response_before:
            answer = self.flow.response
            answer.timestamp_start = answer.timestamp_end = time.time()
            content = answer.raw_content or b""
            yield SendHttp(ResponseHeaders(self.stream_id, answer, not content), client)
            if content:
                yield SendHttp(ResponseData(self.stream_id, content), client)
            yield from self._end_response()
        else:
            yield SendHttp(ResponseProtocolError(self.stream_id, message, code), client)
            self.server_state = self.state_errored
            self.flow.live = False
            yield DropStream(self.stream_id)

    def _end_response(self) -> CommandGenerator:
        self.server_state = self.state_errored  # ignore whatever the upstream still sends
        self.flow.live = False
        yield DropStream(self.stream_id)
        yield SendHttp(ResponseEndOfMessage(self.stream_id), self.context.client)


class GatewayHttpLayer(HttpLayer):
    def __init__(self, context: Any, mode: Any, gateway: Gateway):
        super().__init__(context, mode)
        self.gateway = gateway

    def make_stream(self, stream_id: int) -> layer.CommandGenerator[None]:
        ctx_ = self.context.fork()
        self.streams[stream_id] = GatewayHttpStream(ctx_, stream_id, self.gateway)
        yield from self.event_to_child(self.streams[stream_id], events.Start())


class UpstreamErrors:
    """Installs `GatewayHttpLayer`, and answers upstream failures in the client's format."""

    def __init__(self, gateway: Gateway):
        self.gateway = gateway

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        # Only for the plain-HTTP reverse proxy mitmllm listens with. mitmproxy's NextLayer
        # addon leaves a decision alone once made; when it ran first (this addon loaded
        # after it, as in `mitmllm web`), its plain HttpLayer is swapped for ours.
        context = nextlayer.context
        mode = context.client.proxy_mode
        if not (isinstance(mode, ReverseMode) and mode.scheme == "http"
                and context.client.transport_protocol == "tcp"):
            return
        decided = nextlayer.layer
        if decided is not None:
            if not (type(decided) is HttpLayer
                    and stack_match(context, [modes.ReverseProxy, HttpLayer])):
                return
            context.layers.pop()
        elif not stack_match(context, [modes.ReverseProxy]):
            return
        elif starts_like_tls_record(nextlayer.data_client()):
            return  # TLS towards the listen port: leave it to mitmproxy
        nextlayer.layer = GatewayHttpLayer(context, HTTPMode.transparent, self.gateway)

    def configure(self, updated: set[str]) -> None:
        if "connection_strategy" in updated and ctx.options.connection_strategy != "lazy":
            logger.warning("mitmllm needs `--set connection_strategy=lazy`: with eager "
                           "connections mitmproxy connects to the reverse target before the "
                           "router has chosen a provider")

    def error(self, flow_: http.HTTPFlow) -> None:
        exchange = self.gateway.peek_exchange(flow_)
        if exchange is None or not exchange.upstream_failed:
            return  # e.g. the client went away: nobody to answer
        route = self.gateway.route(flow_)
        error = self._describe(flow_, route)
        logger.warning("%s %s: %s", route.provider_name if route else "?",
                       route.upstream_model if route else None, error.message)
        if exchange.stream is not None:
            exchange.stream_tail = exchange.stream.fail(error)
            if flow_.response is not None:
                exchange.stream.keep_in(flow_.response)  # what the client got, for mitmweb
        else:
            flow_.response = error_response(flow_, error)

    def _describe(self, flow_: http.HTTPFlow, route: Route | None) -> ErrorInfo:
        provider_name = route.provider_name if route else "?"
        message = flow_.error.msg if flow_.error else "unknown error"
        provider = route.provider if route else None
        where = provider.origin if provider else f"{flow_.request.scheme}://" \
            f"{flow_.request.pretty_host}:{flow_.request.port}"
        if info(flow_).get("timed_out"):
            timeout = route.timeout if route else 0
            return ErrorInfo(504, f"Provider '{provider_name}' did not answer within "
                             f"{timeout:g} s (its timeout).", code="provider_timeout")
        if flow_.response is None and flow_.server_conn.timestamp_tcp_setup is None:
            return ErrorInfo(502, f"Provider '{provider_name}' is unreachable at {where}: "
                             f"{message}", code="provider_unreachable")
        return ErrorInfo(502, f"Provider '{provider_name}' broke off the answer: {message}",
                         code="provider_error")
