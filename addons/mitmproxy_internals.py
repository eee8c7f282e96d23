"""The one place mitmllm touches mitmproxy's undocumented proxy internals.

mitmproxy documents its addon API (hooks, flows, options, connections); the proxy core
behind it (`proxy.layer`, `layers.http` and its private `_events`, `HttpStream`'s state
machine, `HttpLayer.make_stream`, `next_layer.stack_match`, `net.tls`) may change in any
release. The upstream leg (`addons/upstream.py`) needs it, since no hook offers a
per-request timeout or an answer to an upstream failure (mitmproxy PR #7999 proposes the
first). So every such name is imported or looked up here only, behind an interface in the
gateway's terms:

- `HookedHttpStream`: mitmproxy's HTTP stream with hook points for a subclass
  (`wire_request`, `request_sent`, `response_activity`, `wakeup`, `upstream_error`),
  questions (`http_flow`, `awaiting_response`, `streaming_response`) and answers
  (`wake_after`, `cancel_request`, `run_error_hook`, `respond`, `end_response`,
  `abort_response`); `body_too_large` answers in place of mitmproxy's size-limit page.
  Only those points are hooked: the events in between (each chunk of a stream) run
  through mitmproxy's code unwrapped, but for one timestamp per chunk.
- `ReverseHttpLayer`: mitmproxy's reverse-proxy HTTP layer, its streams made by `new_stream`,
  with a deadline for each request's headers (`header_timeout`).
- `install_http_layer`: the `next_layer` hook's part, in place of mitmproxy's own choice.
- `listen_with_reuse_port`: listeners bound with SO_REUSEPORT, for `run --workers N`.
- `HeadlessMaster`: the master of `mitmllm run`, whose addon manager dispatches a hook from
  a table of the addons that have it, and which leaves out the type checks mitmproxy runs
  on every request and answer it makes outside `python -O` (see there).
- `move_to_chain_end`: addons reordered in the chain without loading them again.
- `close_cancelled_connections`: a repair of mitmproxy's connection handler, which leaves a
  socket open when its task is cancelled at the wrong moment (see there).
- `contract_problems()`: one sentence per entry of `NEEDS` (what all this relies on) that
  the installed mitmproxy lacks, saying what would break; `tests/addons/
  test_mitmproxy_contract.py` fails on any and `UpstreamErrors` logs them at startup. A
  missing module or class stops the import of this module, naming it. The behaviour behind
  the names is what `tests/addons/test_upstream_layer.py` drives.

Verified with mitmproxy 12.0.0, 12.0.1, 12.1.0, 12.1.2, 12.2.0, 12.2.3, 12.3.0 and 12.3.1:
the contract and layer tests pass with each (the modules used here differ only in
formatting between them).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, is_dataclass, replace
from types import SimpleNamespace
from typing import Any, cast

from mitmproxy import addonmanager, connection, exceptions, hooks, http, options, optmanager
from mitmproxy.addons import termlog
from mitmproxy.connection import ConnectionState
from mitmproxy.master import Master
from mitmproxy.proxy import mode_servers
from mitmproxy.proxy.context import Context
from mitmproxy.version import VERSION

VERIFIED = "12.0.0 to 12.3.1"  # the releases the docstring lists

try:
    from mitmproxy.addons.next_layer import stack_match
    from mitmproxy.net.tls import starts_like_tls_record
    from mitmproxy.proxy.commands import CloseConnection, Command, RequestWakeup
    from mitmproxy.proxy.events import DataReceived, Event, Start, Wakeup
    from mitmproxy.proxy.layer import Layer, NextLayer
    from mitmproxy.proxy.layers.http import (
        DropStream,
        HttpErrorHook,
        HttpLayer,
        HTTPMode,
        HttpStream,
        RequestEndOfMessage,
        RequestHeaders,
        RequestProtocolError,
        ResponseData,
        ResponseEndOfMessage,
        ResponseHeaders,
        ResponseProtocolError,
        SendHttp,
    )
    from mitmproxy.proxy.layers.http._events import ErrorCode
    from mitmproxy.proxy.layers.modes import ReverseProxy
    from mitmproxy.proxy.server import ConnectionHandler
except ImportError as exc:  # a release moved or renamed one of them
    raise ImportError(
        f"mitmproxy {VERSION} lacks a part of its proxy core that mitmllm's upstream layer "
        f"is built on ({exc}); mitmllm is verified with mitmproxy {VERIFIED}") from exc

CommandGenerator = Generator[Command, Any, Any]
# How mitmproxy's size check fails a body over `body_size_limit`.
TOO_LARGE = frozenset({ErrorCode.REQUEST_TOO_LARGE, ErrorCode.RESPONSE_TOO_LARGE})


def _untyped(commands: Any) -> CommandGenerator:
    """mitmproxy's state methods carry no annotations (their `@expect` decorator hides
    them): what they return is a command generator."""
    return cast(CommandGenerator, commands)


class HookedHttpStream(HttpStream):
    """mitmproxy's `HttpStream`, hooked at the few points the gateway needs. Subclasses
    override the hooks (no-ops here) and never touch the state machine themselves."""

    def __init__(self, context: Context, stream_id: int):
        super().__init__(context, stream_id)
        self._request_written = False
        # Set by `ReverseHttpLayer`: asks the layer for a wakeup (see `wake_after`).
        self.alarm: Callable[[int, float], None] | None = None

    # --- hooks for subclasses ---------------------------------------------------------

    def wire_request(self, request: http.Request) -> http.Request:
        """The request as written to the server; `request` is the flow's own. Called once,
        when the request headers go upstream."""
        return request

    def request_sent(self) -> CommandGenerator:
        """The request headers went to the server."""
        yield from ()

    def response_activity(self) -> None:
        """The server sent response headers, a body chunk or trailers."""

    def wakeup(self) -> CommandGenerator:
        """A wakeup asked for with `wake_after` is due."""
        yield from ()

    def upstream_error(self, message: str, code: ErrorCode) -> CommandGenerator | None:
        """The server side failed (unreachable, closed, reset) while the client can still
        be answered. Return the commands that answer it, or None for mitmproxy's own
        handling (an HTML 502 page before the answer, a cut connection during it)."""
        return None

    def body_too_large(self, request: bool) -> http.Response | None:
        """A body went over the option `body_size_limit` (the request's, or the server's
        buffered answer's), checked as it arrives; the flow's `error` says so and the error
        hook has run. Return the answer for the client, or None for mitmproxy's HTML page."""
        return None

    # --- questions --------------------------------------------------------------------

    @property
    def http_flow(self) -> http.HTTPFlow | None:
        """The stream's flow; None until the request headers arrived."""
        return getattr(self, "flow", None)

    def awaiting_response(self) -> bool:
        """The request went to the server, which still owes the answer's headers or body."""
        return self._request_written and self.server_state in (
            self.state_wait_for_response_headers, self.state_stream_response_body,
            self.state_consume_response_body)

    def streaming_response(self) -> bool:
        """The answer's headers went to the client and its body is being streamed."""
        return bool(self.server_state == self.state_stream_response_body)

    # --- answers ----------------------------------------------------------------------

    def wake_after(self, delay: float) -> CommandGenerator:
        """Have `wakeup` called in `delay` seconds. Through the layer when there is one: a
        stream's own RequestWakeup would keep the whole stream (its flow, its bodies) alive
        in mitmproxy's HttpLayer until the timer fires, long after the flow ended."""
        if self.alarm is not None:
            self.alarm(self.stream_id, delay)
            return
        yield RequestWakeup(delay)

    def cancel_request(self, reason: str) -> CommandGenerator:
        """Give up on the server: as when a client goes away, HTTP/1 closes that connection
        and HTTP/2 resets only this stream."""
        yield SendHttp(RequestProtocolError(self.stream_id, reason, ErrorCode.CANCEL),
                       self.context.server)

    def run_error_hook(self) -> CommandGenerator:
        """Run the addons' `error` hook on the flow (its `error` set by the caller).
        Returns True if the flow was killed meanwhile: mitmproxy has then answered."""
        yield HttpErrorHook(self.flow)
        return (yield from self.check_killed(False))

    def respond(self, response: http.Response) -> CommandGenerator:
        """Send `response` whole to the client, in place of the server's, and end."""
        content = response.raw_content or b""
        yield SendHttp(ResponseHeaders(self.stream_id, response, not content),
                       self.context.client)
        if content:
            yield SendHttp(ResponseData(self.stream_id, content), self.context.client)
        yield from self.end_response()

    def end_response(self, tail: bytes = b"") -> CommandGenerator:
        """Send `tail`, then a clean end of the answer's body; whatever the server still
        sends is ignored."""
        if tail:
            yield SendHttp(ResponseData(self.stream_id, tail), self.context.client)
        self._give_up_on_server()
        yield DropStream(self.stream_id)
        yield SendHttp(ResponseEndOfMessage(self.stream_id), self.context.client)

    def abort_response(self, message: str, code: ErrorCode | None = None) -> CommandGenerator:
        """Fail the client's side the way mitmproxy does: its error page before the answer's
        headers went out, a cut connection after."""
        yield SendHttp(ResponseProtocolError(self.stream_id, message,
                                             code or ErrorCode.GENERIC_SERVER_ERROR),
                       self.context.client)
        self._give_up_on_server()
        yield DropStream(self.stream_id)

    def _give_up_on_server(self) -> None:
        self.server_state = self.state_errored  # consumes every later event silently
        self.flow.live = False

    # --- where mitmproxy's stream is hooked -------------------------------------------

    def _handle_event(self, event: Event) -> CommandGenerator:
        # Not a generator itself: every other event goes to mitmproxy's code unwrapped.
        if isinstance(event, Wakeup):
            return self.wakeup()
        return _untyped(super()._handle_event(event))

    def state_consume_request_body(self, event: Event) -> CommandGenerator:
        commands = _untyped(super().state_consume_request_body(event))
        if isinstance(event, RequestEndOfMessage):  # the request goes upstream now
            return self._writing_request(commands)
        return commands

    def start_request_stream(self) -> CommandGenerator:
        return self._writing_request(_untyped(super().start_request_stream()))

    def state_wait_for_response_headers(self, event: Event) -> CommandGenerator:
        self.response_activity()
        return _untyped(super().state_wait_for_response_headers(event))

    def state_stream_response_body(self, event: Event) -> CommandGenerator:
        self.response_activity()
        return _untyped(super().state_stream_response_body(event))

    def state_consume_response_body(self, event: Event) -> CommandGenerator:
        self.response_activity()
        return _untyped(super().state_consume_response_body(event))

    def check_body_size(self, request: bool) -> CommandGenerator:
        """mitmproxy's own size check, with its error page to the client replaced by
        `body_too_large`'s answer (sent whole; the connection then closes as mitmproxy's
        would)."""
        commands = _untyped(super().check_body_size(request))
        reply = None
        try:
            while True:
                command = commands.send(reply)
                reply = None
                if isinstance(command, SendHttp) and command.connection is self.context.client \
                        and isinstance(command.event, ResponseProtocolError) \
                        and command.event.code in TOO_LARGE:
                    answer = self.body_too_large(request)
                    if answer is not None:
                        yield from self._send_whole(answer)
                        continue
                reply = yield command
        except StopIteration as stop:
            return stop.value

    def _send_whole(self, response: http.Response) -> CommandGenerator:
        content = response.raw_content or b""
        yield SendHttp(ResponseHeaders(self.stream_id, response, not content),
                       self.context.client)
        if content:
            yield SendHttp(ResponseData(self.stream_id, content), self.context.client)
        yield SendHttp(ResponseEndOfMessage(self.stream_id), self.context.client)

    def handle_protocol_error(self, event: RequestProtocolError | ResponseProtocolError
                              ) -> CommandGenerator:
        # The condition under which mitmproxy itself would run the error hook.
        answerable = not (self.client_state == self.state_errored
                          or self.server_state in (self.state_done, self.state_errored))
        if isinstance(event, ResponseProtocolError) and answerable \
                and self.http_flow is not None:
            handler = self.upstream_error(event.message, event.code)
            if handler is not None:
                return (yield from handler)
        return (yield from super().handle_protocol_error(event))

    def _writing_request(self, commands: CommandGenerator) -> CommandGenerator:
        """`yield from commands`, with the request headers for the server replaced by
        `wire_request`'s copy, and `request_sent` after them. Replies to blocking commands
        (the hook, the connection) go back in, as with `yield from`."""
        reply = None
        written = False
        try:
            while True:
                command = commands.send(reply)
                if isinstance(command, SendHttp) and isinstance(command.event, RequestHeaders) \
                        and command.connection is self.context.server:
                    wire = self.wire_request(command.event.request)
                    command = SendHttp(replace(command.event, request=wire), command.connection)
                    written = self._request_written = True
                reply = yield command
        except StopIteration as stop:
            result = stop.value
        if written:
            yield from self.request_sent()
        return result


class ReverseHttpLayer(HttpLayer):
    """mitmproxy's HTTP layer as its NextLayer addon sets it up for a reverse proxy, but
    with streams made by `new_stream`, and two timers of its own:

    - the streams' wakeups (`HookedHttpStream.wake_after`): one RequestWakeup of the layer
      for the earliest one, the streams known only by id, so a finished stream is gone at
      once instead of living on until its timer fires;
    - a deadline for a request's headers: a client that starts a request and has not
      finished its headers `header_timeout` seconds later (a slow-headers attack holds a
      connection with one byte at a time, which mitmproxy's idle timeout never sees as
      idle) is disconnected.
    """

    def __init__(self, context: Context, header_timeout: float | None = None):
        super().__init__(context, HTTPMode.transparent)
        self.header_timeout = header_timeout
        self._headers_since: float | None = None  # a request started, headers incomplete
        self._header_timer: RequestWakeup | None = None
        self._alarms: dict[int, float] = {}  # stream id -> when it wants its wakeup
        self._alarm_timer: RequestWakeup | None = None
        self._alarm_at = 0.0  # when `_alarm_timer` fires
        self._alarms_changed = False

    def new_stream(self, context: Context, stream_id: int) -> HttpStream:
        return HttpStream(context, stream_id)

    def make_stream(self, stream_id: int) -> CommandGenerator:
        self._headers_since = None  # the headers are complete
        stream = self.streams[stream_id] = self.new_stream(self.context.fork(), stream_id)
        if isinstance(stream, HookedHttpStream):
            stream.alarm = self._set_alarm
        yield from self.event_to_child(stream, Start())

    def _set_alarm(self, stream_id: int, delay: float) -> None:
        self._alarms[stream_id] = time.monotonic() + delay
        self._alarms_changed = True

    def _handle_event(self, event: Event) -> CommandGenerator:
        if isinstance(event, Wakeup) and event.command is self._header_timer:
            self._header_timer = None
            return self._headers_due()
        if isinstance(event, Wakeup) and event.command is self._alarm_timer:
            self._alarm_timer = None
            return self._then_timers(self._alarms_due(event))
        commands = _untyped(super()._handle_event(event))
        if self.header_timeout and isinstance(event, DataReceived) \
                and event.connection is self.context.client and not self.streams \
                and self._headers_since is None:
            self._headers_since = time.monotonic()  # the first byte of a new request
        return self._then_timers(commands)

    def _then_timers(self, commands: CommandGenerator) -> CommandGenerator:
        """`yield from commands`, then whatever timer the layer now needs."""
        result = yield from commands
        if self._headers_since is not None and self._header_timer is None \
                and self.header_timeout:
            self._header_timer = RequestWakeup(self.header_timeout)
            yield self._header_timer
        if self._alarms_changed:
            self._alarms_changed = False
            earliest = min(self._alarms.values(), default=None)
            if earliest is not None and (self._alarm_timer is None
                                         or earliest < self._alarm_at):
                self._alarm_at = earliest
                self._alarm_timer = RequestWakeup(max(earliest - time.monotonic(), 0.0))
                yield self._alarm_timer
        return result

    def _alarms_due(self, event: Wakeup) -> CommandGenerator:
        """The streams whose wakeup was due by the timer's time get it (each checks its own
        clock, and asks again if it was early); the rest wait for the next timer."""
        due = [sid for sid, at in self._alarms.items() if at <= self._alarm_at]
        for stream_id in due:
            del self._alarms[stream_id]
            stream = self.streams.get(stream_id)
            if stream is not None:
                yield from self.event_to_child(stream, event)
        self._alarms = {sid: at for sid, at in self._alarms.items() if sid in self.streams}
        self._alarms_changed = True  # the next earliest, if any

    def _headers_due(self) -> CommandGenerator:
        if self._headers_since is None or not self.header_timeout:
            return
        waited = time.monotonic() - self._headers_since
        if waited < self.header_timeout:  # a newer request started since: its own deadline
            self._header_timer = RequestWakeup(self.header_timeout - waited)
            yield self._header_timer
            return
        yield CloseConnection(self.context.client)


def install_http_layer(nextlayer: NextLayer, wanted: Callable[[connection.Client], bool],
                       make: Callable[[Context], Layer]) -> bool:
    """In the `next_layer` hook: put `make(context)` as the HTTP layer right on the mode
    layer of a connection whose client is `wanted`, unless the client speaks TLS.
    mitmproxy's NextLayer addon leaves a decision alone once made; if it ran first (as in
    `mitmllm web`, where it is loaded before mitmllm), its plain `HttpLayer` is replaced.
    Returns whether the layer was installed."""
    context = nextlayer.context
    if not wanted(context.client):
        return False
    decided = nextlayer.layer
    if decided is not None:
        if not (type(decided) is HttpLayer
                and stack_match(context, [ReverseProxy, HttpLayer])):
            return False
        context.layers.pop()  # the plain HttpLayer put itself there when it was made
    elif not stack_match(context, [ReverseProxy]):
        return False
    elif starts_like_tls_record(nextlayer.data_client()):
        return False  # TLS towards the listen port: left to mitmproxy
    nextlayer.layer = make(context)
    return True


# --- a repair -------------------------------------------------------------------------


def listen_with_reuse_port() -> None:
    """Make mitmproxy's TCP listeners bind with SO_REUSEPORT, so that the worker processes
    of `mitmllm run --workers N` all listen on the one port and the kernel spreads the
    connections between them. mitmproxy binds with `asyncio.start_server(handler, host,
    port)` (`mode_servers.AsyncioServerInstance.listen`) and offers no option for it; only a
    worker process calls this, before mitmproxy starts."""
    if getattr(mode_servers.asyncio.start_server, "reuses_port", False):
        return
    original = mode_servers.asyncio.start_server

    @functools.wraps(original)
    async def start_server(*args: Any, **kwargs: Any) -> asyncio.Server:
        kwargs.setdefault("reuse_port", True)
        return await original(*args, **kwargs)

    start_server.reuses_port = True  # type: ignore[attr-defined]
    mode_servers.asyncio.start_server = start_server


def close_cancelled_connections() -> None:
    """Make mitmproxy close a connection's socket however its task is cancelled.

    `ConnectionHandler.handle_connection` reads a connection, hands each chunk to the layers
    (`server_event`, behind a lock) and closes the socket at its end. It catches the task's
    cancellation (how a connection is closed by command, or when the client leaves) while
    it reads or drains, but not while it waits for that lock: the cancellation then leaves
    the function before the socket is closed, and the socket stays open for the life of the
    process. That happens when a provider is still sending while another task closes its
    connection, as mitmproxy does for an answer over `body_size_limit` once the error hook
    has run (tests/e2e/test_faults.py, the 50 MB answer). Wrapped once: whatever the
    handler leaves behind is closed as it would have closed it."""
    original = ConnectionHandler.handle_connection
    if getattr(original, "closes_when_cancelled", False):
        return

    @functools.wraps(original)  # its signature stays mitmproxy's, for the contract
    async def handle_connection(self: ConnectionHandler, conn: connection.Connection) -> None:
        try:
            await original(self, conn)
        except asyncio.CancelledError:
            left = self.transports.pop(conn, None)  # gone if it closed the socket itself
            if left is not None and left.writer is not None:
                conn.state = ConnectionState.CLOSED
                try:
                    left.writer.close()
                except OSError:
                    pass
            raise

    handle_connection.closes_when_cancelled = True  # type: ignore[attr-defined]
    ConnectionHandler.handle_connection = handle_connection  # type: ignore[method-assign,assignment]


# --- the contract ---------------------------------------------------------------------


class HookTableAddonManager(addonmanager.AddonManager):
    """mitmproxy's addon manager, dispatching each hook from a table of the functions that
    handle it, built once per hook name and chain.

    mitmproxy's own `trigger_event` looks every hook up on every addon each time (a
    generator over the addon tree, `getattr`, a `contextmanager` per addon, the hook's
    arguments rebuilt per call): with ~25 addons and ~10 hooks per request, a third of the
    proxy's CPU under load was that dispatch (py-spy), most of it for addons without the
    hook. The table gives the same calls in the same order with the same error handling
    (`safecall`: an addon's exception is logged and the next addon runs; `AddonHalt` stops
    the hook; `OptionsError` propagates). It is rebuilt when the chain changes (`add`
    appends, `remove` and `clear` replace the list); a chain with nested addons (an addon
    with `.addons`, e.g. scripts, which can change at any time) is dispatched by mitmproxy's
    own code.
    """

    def __init__(self, master: Any) -> None:
        super().__init__(master)
        self._table: dict[str, list[Callable[..., Any]]] = {}
        self._table_chain: list[Any] | None = None
        self._table_length = -1
        self._nested = False

    def _handlers(self, event: hooks.Hook) -> list[Callable[..., Any]] | None:
        """The functions handling `event`, in chain order; None to dispatch as mitmproxy
        does."""
        chain = self.chain
        if chain is not self._table_chain or len(chain) != self._table_length:
            self._table.clear()
            self._table_chain, self._table_length = chain, len(chain)
            self._nested = any(hasattr(addon, "addons") for addon in chain)
        if self._nested:
            return None
        handlers = self._table.get(event.name)
        if handlers is None:
            handlers = [func for addon in chain for _, func in self._iter_hooks(addon, event)]
            self._table[event.name] = handlers
        return handlers

    async def trigger_event(self, event: hooks.Hook) -> None:
        handlers = self._handlers(event)
        if handlers is None:
            await super().trigger_event(event)
            return None
        if not handlers:
            return None
        args = event.args()
        for func in handlers:
            try:
                result = func(*args)
                if result is not None and inspect.isawaitable(result):
                    await result
            except exceptions.AddonHalt:
                return None
            except exceptions.OptionsError:
                raise
            except Exception as exc:  # as mitmproxy's `safecall`: log it, go on
                _addon_log.error(f"Addon error: {exc}", exc_info=True)
        return None


_addon_log = logging.getLogger(addonmanager.__name__)


class HeadlessMaster(Master):
    """`Master` with `HookTableAddonManager`; without mitmproxy's debug-only type checks
    of every request and answer it makes (`MessageData.__post_init__`, 5 % of the CPU per
    request; `python -O` leaves them out too); reading an option whose value is immutable
    (a bool, number, string or None) without deep-copying it twice (mitmproxy's stream
    code reads one per chunk; the value is the same); and without the deprecated `add_log`
    hook, which mitmproxy triggers on every addon for every log record (no addon of `run`
    has it; it cost more than writing the line). For `mitmllm run`, which has no scripts and
    no console; `mitmllm web` keeps mitmweb's own master."""

    def __init__(self, opts: options.Options) -> None:
        super().__init__(opts, with_termlog=False)
        legacy = getattr(self, "_legacy_log_events", None)  # per instance, if still there
        if legacy is not None:
            legacy.uninstall()
        # The manager Master made (empty) goes; options hold only a weak reference to it.
        self.addons = HookTableAddonManager(self)
        self._termlog_addon = termlog.TermLog()
        self.addons.add(self._termlog_addon)
        _skip_debug_type_checks()
        _read_immutable_options_uncopied()


def move_to_chain_end(addons: addonmanager.AddonManager, names: tuple[str, ...]) -> None:
    """The named addons (those present) last in the chain, in `names`' order, without
    loading them again. A new list, as `remove` makes one: `HookTableAddonManager` sees the
    change."""
    moved = [addon for name in names if (addon := addons.get(name)) is not None]
    ids = {id(addon) for addon in moved}
    addons.chain = [addon for addon in addons.chain if id(addon) not in ids] + moved


def _skip_debug_type_checks() -> None:
    # Present only when mitmproxy's http module was compiled without -O; every Request
    # and Response data object calls it from its dataclass __init__.
    if "__post_init__" in vars(http.MessageData):
        http.MessageData.__post_init__ = _no_type_check  # type: ignore[method-assign]


def _no_type_check(self: Any) -> None:
    return None


_IMMUTABLE = frozenset({bool, int, float, str, bytes, type(None)})


def _read_immutable_options_uncopied() -> None:
    copying = optmanager._Option.current
    if getattr(copying, "mitmllm", False):
        return

    def current(self: Any) -> Any:  # named as the method it replaces
        value = self._default if self.value is optmanager.unset else self.value
        # a deep copy of an immutable value is the value itself
        return value if type(value) in _IMMUTABLE else copying(self)

    current.mitmllm = True  # type: ignore[attr-defined]
    optmanager._Option.current = current  # type: ignore[method-assign]


@dataclass(frozen=True, slots=True)
class Need:
    """One name the fence relies on, and what breaks without it. `params`: a callable's
    parameter names after `self`, in the fence's order. `overridden`: mitmproxy calls the
    fence's version, so they must match exactly (else added ones with defaults are fine)."""

    owner: Any
    name: str
    breaks: str
    params: tuple[str, ...] | None = None
    overridden: bool = False


NO_TIMEOUT = "the idle timeout would never fire: no 504 for a provider that does not answer"
NO_SECRET = ("the request would reach the provider without its secret headers (only the "
             "redacted marker)")
NO_ERROR_ANSWER = ("an unreachable or failing provider would get mitmproxy's HTML 502 page "
                   "or a cut stream instead of an error in the client's format")
NO_SIZE_ANSWER = ("a body over listen.max_body_mb would get mitmproxy's HTML 413 page instead "
                  "of an error in the client's format")
NO_HEADER_TIMEOUT = ("a client sending its headers a byte at a time would hold a connection "
                     "forever")
LEAKS_SOCKETS = ("a provider's connection closed while it still sends (an answer over "
                 "listen.max_body_mb) would keep its socket open for good")
SLOW_HOOKS = ("`mitmllm run` could not start with its faster hook dispatch "
              "(HeadlessMaster)")
NO_LAYER = ("mitmllm's HTTP layer would not be installed: no secrets on the wire, no "
            "timeouts, no error answers in the client's format")

NEEDS: tuple[Need, ...] = (
    Need(HttpStream, "__init__", NO_LAYER, ("context", "stream_id")),
    Need(HttpStream, "flow", NO_TIMEOUT + "; " + NO_ERROR_ANSWER),
    Need(HttpStream, "stream_id", NO_ERROR_ANSWER),
    Need(HttpStream, "_handle_event", "wakeups would not reach the stream: " + NO_TIMEOUT,
         ("event",), overridden=True),
    Need(HttpStream, "state_consume_request_body", NO_SECRET + ", and " + NO_TIMEOUT,
         ("event",), overridden=True),
    Need(HttpStream, "start_request_stream", NO_SECRET + " when its body is streamed",
         (), overridden=True),
    Need(HttpStream, "state_wait_for_response_headers", NO_TIMEOUT, ("event",),
         overridden=True),
    Need(HttpStream, "state_stream_response_body",
         "a stream still under way could be cut by the idle timeout, and one broken "
         "mid-way would end without an error event", ("event",), overridden=True),
    Need(HttpStream, "state_consume_response_body",
         "a buffered answer still arriving could be cut by the idle timeout", ("event",),
         overridden=True),
    Need(HttpStream, "state_done", NO_ERROR_ANSWER),
    Need(HttpStream, "state_errored", NO_ERROR_ANSWER),
    Need(HttpStream, "handle_protocol_error", NO_ERROR_ANSWER, ("event",), overridden=True),
    Need(HttpStream, "check_body_size", NO_SIZE_ANSWER, ("request",), overridden=True),
    Need(HttpStream, "check_killed",
         "a flow killed during the error hook would be answered twice", ("emit_error_hook",)),
    Need(HttpLayer, "__init__", NO_LAYER, ("context", "mode")),
    Need(HttpLayer, "make_stream", NO_LAYER, ("stream_id",), overridden=True),
    Need(mode_servers.AsyncioServerInstance, "listen",
         "the processes of `run --workers N` could not share the listen port",
         ("host", "port")),
    Need(HttpLayer, "_handle_event", NO_HEADER_TIMEOUT, ("event",), overridden=True),
    Need(HttpLayer, "streams", NO_HEADER_TIMEOUT),
    Need(DataReceived, "connection", NO_HEADER_TIMEOUT),
    Need(CloseConnection, "__init__", NO_HEADER_TIMEOUT, ("connection",)),
    Need(HttpLayer, "event_to_child", NO_LAYER, ("child", "event")),
    Need(HTTPMode, "transparent", NO_LAYER),
    Need(NextLayer, "layer", NO_LAYER),
    Need(NextLayer, "context", NO_LAYER),
    Need(NextLayer, "data_client", NO_LAYER, ()),
    Need(stack_match, "__call__", NO_LAYER, ("context", "layers")),
    Need(starts_like_tls_record, "__call__", NO_LAYER, ("d",)),
    Need(SendHttp, "__init__", NO_SECRET + "; " + NO_ERROR_ANSWER, ("event", "connection")),
    Need(RequestHeaders, "request", NO_SECRET),  # a dataclass field, `replace`d
    Need(ResponseHeaders, "__init__", NO_ERROR_ANSWER, ("stream_id", "response", "end_stream")),
    Need(ResponseData, "__init__", NO_ERROR_ANSWER, ("stream_id", "data")),
    Need(ResponseEndOfMessage, "__init__", NO_ERROR_ANSWER, ("stream_id",)),
    Need(ResponseProtocolError, "__init__", NO_ERROR_ANSWER, ("stream_id", "message", "code")),
    Need(ResponseProtocolError, "message", NO_ERROR_ANSWER),
    Need(ResponseProtocolError, "code", NO_ERROR_ANSWER),
    Need(RequestProtocolError, "__init__", NO_TIMEOUT, ("stream_id", "message", "code")),
    Need(DropStream, "__init__", NO_ERROR_ANSWER, ("stream_id",)),
    Need(HttpErrorHook, "__init__", NO_ERROR_ANSWER, ("flow",)),
    Need(ErrorCode, "CANCEL", "a timed-out request would not be cancelled upstream"),
    Need(ErrorCode, "GENERIC_SERVER_ERROR", NO_ERROR_ANSWER),
    Need(ErrorCode, "REQUEST_TOO_LARGE", NO_SIZE_ANSWER),
    Need(ErrorCode, "RESPONSE_TOO_LARGE", NO_SIZE_ANSWER),
    Need(RequestWakeup, "__init__", NO_TIMEOUT, ("delay",)),
    Need(Wakeup, "__init__", NO_TIMEOUT, ("command",)),
    Need(ConnectionHandler, "handle_connection", LEAKS_SOCKETS, ("connection",),
         overridden=True),
    Need(ConnectionHandler, "transports", LEAKS_SOCKETS),
    Need(addonmanager.AddonManager, "trigger_event", SLOW_HOOKS, ("event",), overridden=True),
    Need(addonmanager.AddonManager, "_iter_hooks", SLOW_HOOKS, ("addon", "event")),
    Need(hooks.Hook, "args", SLOW_HOOKS, ()),
    Need(Master, "__init__", SLOW_HOOKS, ("opts", "event_loop", "with_termlog")),
    Need(Master, "_termlog_addon", "`mitmllm run` would print no log"),
    Need(optmanager._Option, "current", SLOW_HOOKS, ()),
    Need(optmanager._Option, "__init__", SLOW_HOOKS, ("name", "typespec", "default", "help",
                                                      "choices")),
    Need(optmanager, "unset", SLOW_HOOKS),
)


def contract_problems() -> list[str]:
    """What the installed mitmproxy lacks of `NEEDS` and of the instance attributes the
    fence uses, one sentence each; empty when all is there."""
    problems = [problem for need in NEEDS if (problem := _check(need))]
    return problems + _instance_problems()


def _qualname(owner: Any) -> str:
    return getattr(owner, "__qualname__", repr(owner))


def _check(need: Need) -> str | None:
    where = _qualname(need.owner) if need.name == "__call__" else \
        f"{_qualname(need.owner)}.{need.name}"
    if need.name == "__call__":
        found: Any = need.owner
    elif hasattr(need.owner, need.name):
        found = getattr(need.owner, need.name)
    elif isinstance(need.owner, type) and any(
            need.name in inspect.get_annotations(k) for k in need.owner.__mro__):
        found = None  # declared, set per instance
    else:
        return f"mitmproxy {VERSION} no longer has {where}: {need.breaks}"
    if need.params is None:
        return None
    target = need.owner if need.name == "__init__" and isinstance(need.owner, type) \
        else found
    try:
        parameters = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return f"mitmproxy {VERSION} has no readable signature for {where}: {need.breaks}"
    if target is found and isinstance(need.owner, type) and parameters \
            and parameters[0].name == "self":
        parameters = parameters[1:]
    names = tuple(p.name for p in parameters)
    later = parameters[len(need.params):]
    fits = names[:len(need.params)] == need.params and (
        names == need.params if need.overridden
        else all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                 for p in later))
    if fits:
        return None
    return (f"mitmproxy {VERSION} changed {where} to ({', '.join(names)}), mitmllm expects "
            f"({', '.join(need.params)}): {need.breaks}")


def _instance_problems() -> list[str]:
    """What only shows on things mitmproxy makes: attributes set per instance, seen on a
    layer and a stream made as mitmllm makes them, and dataclass events."""
    try:
        client = connection.Client(peername=("127.0.0.1", 1), sockname=("127.0.0.1", 2),
                                   timestamp_start=0)
        context = Context(client, options.Options())
        layer = HttpLayer(context, HTTPMode.transparent)
        stream = HttpStream(context.fork(), 1)
    except Exception as exc:
        return [f"mitmproxy {VERSION} cannot make an HttpLayer and HttpStream as mitmllm "
                f"does ({exc!r}): {NO_LAYER}"]
    problems = []
    option = optmanager._Option("o", bool, True, "", None)
    if getattr(option, "_default", None) is not True or option.value is not optmanager.unset:
        problems.append(f"mitmproxy {VERSION} no longer keeps an option's `_default` and "
                        f"`value`: {SLOW_HOOKS}")
    manager = addonmanager.AddonManager(SimpleNamespace(options=options.Options()))
    if not isinstance(getattr(manager, "chain", None), list):
        problems.append(f"mitmproxy {VERSION} no longer keeps AddonManager.chain as a list: "
                        f"{SLOW_HOOKS}")
    if not is_dataclass(RequestHeaders):
        problems.append(f"mitmproxy {VERSION} no longer makes RequestHeaders a dataclass: "
                        f"{NO_SECRET}")
    if not (isinstance(getattr(context, "layers", None), list) and context.layers
            and context.layers[-1] is layer):
        problems.append(f"mitmproxy {VERSION} no longer keeps a layer in Context.layers "
                        f"when it is made: {NO_LAYER}")
    if not isinstance(getattr(layer, "streams", None), dict):
        problems.append(f"mitmproxy {VERSION} no longer has HttpLayer.streams: {NO_LAYER}")
    for name in ("client_state", "server_state"):
        if not callable(getattr(stream, name, None)):
            problems.append(f"mitmproxy {VERSION} no longer has HttpStream.{name}: "
                            f"{NO_TIMEOUT}; {NO_ERROR_ANSWER}")
    return problems
