"""Upstream: the leg to the provider. Wire-only secrets, idle timeouts, clean failures.

mitmproxy answers an unreachable server with an HTML 502 page, has no per-request timeout,
and cuts a broken stream without a word. Clients of an LLM gateway need the error in their
own API format, a 504 after the provider's `timeout`, and a stream that ends with a proper
error event. mitmproxy offers no hook for any of this (mitmproxy PR #7999 proposes the
first), so this module uses its layer extension point: the `next_layer` hook installs
`GatewayHttpLayer`, whose streams (`GatewayHttpStream`) differ from mitmproxy's in three
places only. Everything it needs of mitmproxy's undocumented proxy core comes through the
fence, `addons/mitmproxy_internals.py`, as named hook points; nothing here touches
mitmproxy's state machine directly.

1. When the request is written to the provider, a copy of it gets the secret header values
   from the flow's `Exchange.wire_headers`; the flow itself only ever holds a redacted marker.
2. While the provider owes an answer (headers, or the next body chunk), an idle timer of the
   flow's `timeout` runs; when it fires, the upstream request is cancelled.
3. When the upstream fails (unreachable, closed, timed out), the `error` hook runs as usual,
   and then, instead of mitmproxy's HTML page or a cut connection, the stream sends what an
   addon put in `flow.response` during that hook or, for a stream already under way, the
   `Exchange.stream_tail` (an error event in the client's format) and a clean end of body.

`UpstreamErrors` is the addon that decides those answers in the `error` hook. It also
declares the option `mitmllm_header_timeout` (the layer's deadline for a request's headers)
and, at load, has the fence repair mitmproxy's connection handler, which could leave a
provider's socket open (`close_cancelled_connections`).
"""

from __future__ import annotations

import copy
import logging
import time
from time import monotonic  # a name of this module, so that tests can substitute a clock

from mitmproxy import ctx, exceptions, flow, http
from mitmproxy.addonmanager import Loader
from mitmproxy.connection import Client
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.mode_specs import ReverseMode

from ..translators.errors import ErrorInfo
from .answers import error_response
from .ingress import request_too_large
from .mitmproxy_internals import (
    VERIFIED,
    CommandGenerator,
    ErrorCode,
    HookedHttpStream,
    NextLayer,
    ReverseHttpLayer,
    close_cancelled_connections,
    contract_problems,
    install_http_layer,
)
from .state import Gateway, Route, info, record

logger = logging.getLogger(__name__)


class GatewayHttpStream(HookedHttpStream):
    def __init__(self, context: Context, stream_id: int, gateway: Gateway):
        super().__init__(context, stream_id)
        self.gateway = gateway
        self._last_activity = 0.0  # when the provider last sent something (or was asked)
        self._timer_armed = False

    # --- the request on the wire -------------------------------------------------------

    def wire_request(self, request: http.Request) -> http.Request:
        exchange = self.gateway.peek_exchange(self._flow())
        if exchange is None or not exchange.wire_headers:
            return request
        # A shallow copy with headers of its own: the flow's request keeps the marker, and
        # the body (which may be large) is not copied (`Request.copy` copies everything).
        wire = copy.copy(request)
        wire.data = copy.copy(request.data)
        wire.data.headers = request.headers.copy()
        wire.headers.update(exchange.wire_headers)
        return wire

    # --- idle timeout ------------------------------------------------------------------

    def request_sent(self) -> CommandGenerator:
        self._last_activity = monotonic()
        yield from self._arm_timer()

    def response_activity(self) -> None:
        self._last_activity = monotonic()

    def _timeout(self) -> float | None:
        flow_ = self.http_flow
        route = self.gateway.route(flow_) if flow_ is not None else None
        return route.timeout if route else None

    def _arm_timer(self) -> CommandGenerator:
        timeout = self._timeout()
        if timeout and not self._timer_armed:
            self._timer_armed = True
            remaining = timeout - (monotonic() - self._last_activity)
            yield from self.wake_after(max(remaining, 0.01))

    def wakeup(self) -> CommandGenerator:
        self._timer_armed = False
        timeout = self._timeout()
        if not timeout or not self.awaiting_response():
            return
        if monotonic() - self._last_activity < timeout:
            yield from self._arm_timer()
            return
        record(self._flow(), timed_out=True)
        yield from self.cancel_request("timed out")
        yield from self._fail_upstream(f"no answer from the provider within {timeout:g} s")

    # --- failures ----------------------------------------------------------------------

    def upstream_error(self, message: str, code: ErrorCode) -> CommandGenerator | None:
        if self.gateway.route(self._flow()) is None:
            return None  # not a provider's answer (a gateway answer, an unrouted flow)
        return self._fail_upstream(message, code)

    def body_too_large(self, request: bool) -> http.Response | None:
        flow_ = self._flow()
        if request:
            # Ingress may have answered already (a declared Content-Length over the limit).
            return flow_.response or error_response(flow_, request_too_large(self.gateway))
        route = self.gateway.route(flow_)
        if route is None:
            return None
        limit = self.gateway.config.listen.max_body_mb
        return error_response(flow_, ErrorInfo(
            502, f"Provider '{route.provider_name}' answered with a body larger than "
                 f"listen.max_body_mb ({limit:g} MB).", code="bad_upstream_response"))

    def _fail_upstream(self, message: str, code: ErrorCode | None = None) -> CommandGenerator:
        flow_ = self._flow()
        streaming = self.streaming_response()
        response_before = flow_.response
        flow_.error = flow.Error(message)
        self.gateway.exchange(flow_).upstream_failed = True
        if (yield from self.run_error_hook()):
            return
        exchange = self.gateway.peek_exchange(flow_)
        if streaming and exchange is not None and exchange.stream_tail is not None:
            yield from self.end_response(exchange.stream_tail)
        elif not streaming and flow_.response is not None \
                and flow_.response is not response_before:
            answer = flow_.response
            answer.timestamp_start = answer.timestamp_end = time.time()
            yield from self.respond(answer)
        else:
            yield from self.abort_response(message, code)

    def _flow(self) -> http.HTTPFlow:
        flow_ = self.http_flow
        assert flow_ is not None, "the request headers have arrived by now"
        return flow_


# Seconds a client may take over a request's headers, from their first byte (nginx's
# client_header_timeout is 60 s; an SDK sends them in one write). The option
# `mitmllm_header_timeout` changes it.
HEADER_TIMEOUT = 30


class GatewayHttpLayer(ReverseHttpLayer):
    def __init__(self, context: Context, gateway: Gateway,
                 header_timeout: float = HEADER_TIMEOUT):
        super().__init__(context, header_timeout=header_timeout)
        self.gateway = gateway

    def new_stream(self, context: Context, stream_id: int) -> GatewayHttpStream:
        return GatewayHttpStream(context, stream_id, self.gateway)


class UpstreamErrors:
    """Installs `GatewayHttpLayer`, and answers upstream failures in the client's format."""

    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.header_timeout: float = HEADER_TIMEOUT

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "mitmllm_header_timeout", int, HEADER_TIMEOUT,
            "Seconds a client may take to send a request's headers, from their first byte; "
            "a client still sending them then is disconnected.")
        # A mitmproxy release mitmllm was not verified with: say what will not work.
        for problem in contract_problems():
            logger.error("%s (mitmllm is verified with mitmproxy %s)", problem, VERIFIED)
        close_cancelled_connections()

    def next_layer(self, nextlayer: NextLayer) -> None:
        install_http_layer(nextlayer, _plain_http_reverse_proxy, lambda context: GatewayHttpLayer(
            context, self.gateway, self.header_timeout))

    def configure(self, updated: set[str]) -> None:
        if "proxy_debug" in updated and ctx.options.proxy_debug:
            # It logs every byte on both connections, the provider's key and the client's
            # token included, to the log and mitmweb's event list.
            raise exceptions.OptionsError(
                "mitmllm refuses proxy_debug: it would log the provider's keys and the "
                "listen token in clear. Every exchange is in mitmweb instead (mitmllm web).")
        if "mitmllm_header_timeout" in updated:
            seconds = ctx.options.mitmllm_header_timeout
            if seconds < 1:
                raise exceptions.OptionsError(
                    f"mitmllm_header_timeout must be 1 or more, not {seconds}")
            self.header_timeout = seconds
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
            # What both sides got, for the inspection views.
            exchange.stream.keep_in(flow_, f"provider broke off: {error.message}")
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


def _plain_http_reverse_proxy(client: Client) -> bool:
    """The listen port mitmllm runs: a reverse proxy for plain HTTP over TCP."""
    mode = client.proxy_mode
    return isinstance(mode, ReverseMode) and mode.scheme == "http" \
        and client.transport_protocol == "tcp"
