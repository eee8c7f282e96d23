"""The gateway's HTTP layer (`addons/upstream.py`), driven by `support.playbook` as the proxy
server would drive it: HTTP/1 bytes from the client and the provider in, bytes and
connection commands out, every hook answered by the whole `pipeline()`.

The stack is the one `mitmllm run` builds for a connection: mitmproxy's `ReverseProxy`
mode layer, whose `next_layer` hook lets `UpstreamErrors` install `GatewayHttpLayer`.
Time is a fake clock, so the idle timeout is tested without waiting.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from mitmproxy import connection, http, options
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.proxy import commands, context, events
from mitmproxy.proxy.layers import modes
from mitmproxy.proxy.mode_specs import ProxyMode
from support.addon_helpers import chat_body, messages_body, publish
from support.playbook import Playbook, closed, sent_to, wakeups

from mitmllm.addons import mitmproxy_internals, pipeline, upstream
from mitmllm.addons.credentials import REDACTED
from mitmllm.addons.state import Gateway, info
from mitmllm.addons.upstream import GatewayHttpLayer

PROVIDERS = """\
providers:
  - name: Corp
    preset: custom
    host: llm.corp.example
    protocol: http
    port: 8080
    auth: api_key
    timeout: 12.5
    secret_headers: [X-Org-Token]
    models: [corp-*]
local:
  enabled: false
"""
CORP = ("llm.corp.example", 8080)
CORP_KEY = "sk-corp-layer-secret-0001"
ORG_TOKEN = "org-layer-secret-0002"
TIMEOUT = 12.5


class Clock:
    """What `time.monotonic` answers inside the upstream layer: moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(upstream, "monotonic", fake)
    return fake


@pytest.fixture(autouse=True)
def corp_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MITMLLM_KEY_CORP", CORP_KEY)
    monkeypatch.setenv("MITMLLM_KEY_CORP_X_ORG_TOKEN", ORG_TOKEN)


class Session:
    """One client connection to mitmllm's listen port, and the playbook driving it."""

    def __init__(self, refuse: dict[tuple[str, int], str] | None = None):
        self.gateway = Gateway()
        addons = pipeline(self.gateway)
        publish(self.gateway, PROVIDERS)
        opts = options.Options()
        Proxyserver().load(opts)  # declares the options the HTTP layers read
        opts.update(connection_strategy="lazy")
        self.client = connection.Client(
            peername=("127.0.0.1", 50000), sockname=("127.0.0.1", 1337),
            timestamp_start=time.time(),
            proxy_mode=ProxyMode.parse("reverse:http://mitmllm.invalid@1337"))
        self.context = context.Context(self.client, opts)
        self.playbook = Playbook(modes.ReverseProxy(self.context), addons, refuse=refuse)

    async def start(self) -> None:
        assert await self.playbook.feed(events.Start()) == []

    async def send(self, raw: bytes) -> list[commands.Command]:
        return await self.playbook.feed(events.DataReceived(self.client, raw))

    async def from_provider(self, raw: bytes) -> list[commands.Command]:
        return await self.playbook.feed(events.DataReceived(self.provider, raw))

    async def provider_closes(self) -> list[commands.Command]:
        return await self.playbook.feed(events.ConnectionClosed(self.provider))

    @property
    def provider(self) -> connection.Server:
        (server,) = self.playbook.opened
        return server

    @property
    def flow(self) -> http.HTTPFlow:
        flows = {id(f): f for hook in self.playbook.hooks_run
                 if isinstance(f := getattr(hook, "flow", None), http.HTTPFlow)}
        (flow,) = flows.values()
        return flow


def post(path: str, body: dict[str, Any], **headers: str) -> bytes:
    content = json.dumps(body).encode()
    head = {"host": "127.0.0.1:1337", "content-type": "application/json",
            "content-length": str(len(content)), **headers}
    lines = "".join(f"{name}: {value}\r\n" for name, value in head.items())
    return f"POST {path} HTTP/1.1\r\n{lines}\r\n".encode() + content


def answer(status: int, body: Any) -> bytes:
    content = json.dumps(body).encode()
    return (f"HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\n"
            f"content-length: {len(content)}\r\n\r\n").encode() + content


STREAM_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
               b"transfer-encoding: chunked\r\n\r\n")


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def openai_delta(text: str) -> bytes:
    payload = {"id": "c1", "object": "chat.completion.chunk", "created": 1,
               "model": "corp-big", "choices": [{"index": 0, "delta": {"content": text},
                                                 "finish_reason": None}]}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, headers, body, whether the body was properly ended) of one HTTP/1 answer."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip()
               for k, v in (line.split(":", 1) for line in header_lines)}
    status = int(status_line.split()[1])
    if "chunked" in headers.get("transfer-encoding", ""):
        body = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                return status, headers, body, rest == b"\r\n"
            body, rest = body + rest[:size], rest[size + 2:]
        return status, headers, body, False
    length = int(headers["content-length"])
    return status, headers, rest[:length], len(rest) == length


async def routed(conn: Session, request: bytes) -> list[commands.Command]:
    """Start the connection and send `request`; return what went out meanwhile."""
    await conn.start()
    return await conn.send(request)


# --- the request on the wire -------------------------------------------------------------


async def test_secret_only_on_the_wire_and_the_answer_comes_back(clock: Clock) -> None:
    conn = Session()
    out = await routed(conn, post("/v1/chat/completions", chat_body("corp/corp-big"),
                                  authorization="Bearer sk-client-own"))
    assert isinstance(conn.context.layers[-1], GatewayHttpLayer)
    assert conn.provider.address == CORP
    wire = sent_to(conn.provider, out)
    assert wire.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert f"authorization: Bearer {CORP_KEY}\r\n".encode() in wire
    assert f"X-Org-Token: {ORG_TOKEN}\r\n".encode() in wire
    assert b"sk-client-own" not in wire
    # What mitmweb, saved flows and every addon see: the marker, never the value.
    flow = conn.flow
    assert flow.request.headers["authorization"] == REDACTED
    assert flow.request.headers["X-Org-Token"] == REDACTED
    saved = repr(flow.get_state())
    assert CORP_KEY not in saved and ORG_TOKEN not in saved

    out = await conn.from_provider(answer(200, {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "corp-big",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "Hello"}}]}))
    status, _, body, ended = parse_response(sent_to(conn.client, out))
    assert status == 200 and ended
    assert json.loads(body)["choices"][0]["message"]["content"] == "Hello"
    assert flow.error is None
    # The idle timer, due later, finds the answer complete and does nothing; meanwhile the
    # finished stream is gone (a timer of its own would have kept it, flow and bodies, alive).
    layer = conn.context.layers[-1]
    assert isinstance(layer, GatewayHttpLayer) and layer.streams == {}
    # (mitmproxy's HttpLayer keeps the issuer of each pending wakeup until it fires.)
    assert not any(isinstance(issuer, upstream.GatewayHttpStream)
                   for issuer in layer.command_sources.values())
    (timer,) = wakeups(conn.playbook.commands)
    clock.now += TIMEOUT
    assert await conn.playbook.wake(timer) == []


async def test_the_gateways_own_answers_open_no_connection_and_arm_no_timer() -> None:
    conn = Session()
    await conn.start()
    out = await conn.send(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1:1337\r\n\r\n")
    status, _, body, ended = parse_response(sent_to(conn.client, out))
    assert status == 200 and ended and json.loads(body) == {"status": "ok"}
    assert conn.playbook.opened == [] and wakeups(out) == []


# --- idle timeout ----------------------------------------------------------------------


async def test_no_answer_within_the_timeout_is_a_504_in_the_clients_format(
        clock: Clock) -> None:
    conn = Session()
    out = await routed(conn, post("/v1/messages", messages_body("corp/corp-big"),
                                  **{"anthropic-version": "2023-06-01"}))
    (timer,) = wakeups(out)
    assert timer.delay == pytest.approx(TIMEOUT, abs=0.05)  # less the real time since
    assert sent_to(conn.client, out) == b""

    clock.now += TIMEOUT - 0.5  # early: nothing happens but a new timer for the rest
    out = await conn.playbook.wake(timer)
    (timer,) = wakeups(out)
    assert timer.delay == pytest.approx(0.5, abs=0.05)
    assert sent_to(conn.client, out) == b"" and not closed(conn.provider, out)

    clock.now += 0.5
    out = await conn.playbook.wake(timer)
    assert closed(conn.provider, out)  # the upstream request is cancelled
    status, headers, body, ended = parse_response(sent_to(conn.client, out))
    assert status == 504 and ended
    assert headers["content-type"] == "application/json"
    error = json.loads(body)
    assert error["type"] == "error" and error["error"]["type"] == "timeout_error"
    assert "Corp" in error["error"]["message"] and "12.5 s" in error["error"]["message"]
    assert not closed(conn.client, out)
    assert info(conn.flow)["timed_out"] is True
    assert conn.playbook.hooks_run[-1].name == "error"

    # The provider answering after all changes nothing for the client.
    assert sent_to(conn.client, await conn.from_provider(answer(200, {}))) == b""


async def test_a_stream_that_keeps_sending_is_not_cut_and_one_that_stalls_gets_a_tail(
        clock: Clock) -> None:
    conn = Session()
    out = await routed(conn, post("/v1/chat/completions",
                                  chat_body("corp/corp-big", stream=True)))
    (timer,) = wakeups(out)

    clock.now += 5
    out = await conn.from_provider(STREAM_HEAD + chunk(openai_delta("Hel")))
    clock.now += 10  # 15 s since the request, 10 s since the provider last sent something
    out += await conn.playbook.wake(timer)
    (timer,) = wakeups(out)
    assert timer.delay == pytest.approx(TIMEOUT - 10, abs=0.05)

    clock.now += TIMEOUT - 10
    out += await conn.playbook.wake(timer)
    assert closed(conn.provider, out)
    status, _, body, ended = parse_response(sent_to(conn.client, out))
    assert status == 200 and ended  # a clean end of the body, not a cut connection
    assert b'"content": "Hel"' in body
    last = [line for line in body.decode().splitlines() if line.startswith("data:")][-1]
    assert "did not answer within 12.5 s" in json.loads(last[5:])["error"]["message"]
    assert not closed(conn.client, out)


# --- upstream failures -------------------------------------------------------------------


async def test_unreachable_provider_is_a_502_in_the_clients_format(clock: Clock) -> None:
    conn = Session(refuse={CORP: "Connection refused"})
    out = await routed(conn, post("/v1/messages", messages_body("corp/corp-big"),
                                  **{"anthropic-version": "2023-06-01"}))
    status, _, body, ended = parse_response(sent_to(conn.client, out))
    assert status == 502 and ended
    error = json.loads(body)
    assert error["type"] == "error"
    assert "Corp" in error["error"]["message"]
    assert "http://llm.corp.example:8080" in error["error"]["message"]
    assert "Connection refused" in error["error"]["message"]
    assert not closed(conn.client, out)


async def test_provider_closing_before_the_answer_is_a_502_in_the_clients_format(
        clock: Clock) -> None:
    conn = Session()
    await routed(conn, post("/v1/chat/completions", chat_body("corp/corp-big")))
    out = await conn.provider_closes()
    status, _, body, ended = parse_response(sent_to(conn.client, out))
    assert status == 502 and ended
    error = json.loads(body)["error"]
    assert error["code"] == "provider_error"
    assert "Provider 'Corp' broke off the answer" in error["message"]


@pytest.mark.parametrize(("path", "body", "headers", "tail_marker"), [
    ("/v1/chat/completions", chat_body("corp/corp-big", stream=True), {}, b'data: {"error"'),
    ("/v1/messages", messages_body("corp/corp-big", stream=True),
     {"anthropic-version": "2023-06-01"}, b"event: error\n"),
])
async def test_provider_failing_mid_stream_ends_the_clients_stream_with_its_error_event(
        clock: Clock, path: str, body: dict[str, Any], headers: dict[str, str],
        tail_marker: bytes) -> None:
    conn = Session()
    await routed(conn, post(path, body, **headers))
    out = await conn.from_provider(STREAM_HEAD + chunk(openai_delta("Hel")))
    out += await conn.provider_closes()
    status, _, streamed, ended = parse_response(sent_to(conn.client, out))
    assert status == 200 and ended  # the tail, then a clean end of the body
    assert b"Hel" in streamed
    tail = streamed[streamed.index(tail_marker):]
    assert b"broke off the answer" in tail
    assert not closed(conn.client, out)
    assert conn.flow.error is not None


# --- a request's headers have a deadline ---------------------------------------------------


class LayerClock:
    """What the layer's `time.monotonic` answers: moves only when told."""

    def __init__(self) -> None:
        self.now = 5000.0

    def monotonic(self) -> float:
        return self.now


async def test_headers_sent_a_byte_at_a_time_get_the_connection_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = LayerClock()
    monkeypatch.setattr(mitmproxy_internals, "time", fake)
    conn = Session()
    await conn.start()
    out = await conn.send(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n")
    (timer,) = wakeups(out)
    assert timer.delay == upstream.HEADER_TIMEOUT
    fake.now += 10
    assert wakeups(await conn.send(b"x-slow: 1\r\n")) == []  # still the first deadline
    fake.now += upstream.HEADER_TIMEOUT - 10
    assert closed(conn.client, await conn.playbook.wake(timer))
    assert conn.playbook.opened == []  # nothing reached a provider


async def test_headers_in_time_are_not_cut_and_the_next_request_gets_its_own_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = LayerClock()
    monkeypatch.setattr(mitmproxy_internals, "time", fake)
    conn = Session()
    await conn.start()
    out = await conn.send(b"GET /health HTTP/1.1\r\n")
    (timer,) = wakeups(out)
    out = await conn.send(b"host: 127.0.0.1\r\n\r\n")
    assert parse_response(sent_to(conn.client, out))[0] == 200
    fake.now += upstream.HEADER_TIMEOUT + 1
    assert not closed(conn.client, await conn.playbook.wake(timer))
    out = await conn.send(b"GET /health HTTP/1.1\r\n")  # keep-alive: a new request starts
    (second,) = wakeups(out)
    fake.now += upstream.HEADER_TIMEOUT
    assert closed(conn.client, await conn.playbook.wake(second))


# --- a connection handler cancelled at the wrong moment -------------------------------------


class Writer:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


async def test_a_handler_cancelled_before_closing_its_socket_has_it_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """mitmproxy's `handle_connection` lets a cancellation that lands while it waits for
    its event lock escape before it closes the socket (the 50 MB answer of
    tests/e2e/test_faults.py); the fence's repair closes what it left."""
    from mitmproxy.proxy.server import ConnectionHandler, ConnectionIO

    async def leaves_the_socket(self: Any, conn: connection.Connection) -> None:
        raise asyncio.CancelledError("closed by command")

    monkeypatch.setattr(ConnectionHandler, "handle_connection", leaves_the_socket)
    mitmproxy_internals.close_cancelled_connections()
    mitmproxy_internals.close_cancelled_connections()  # once only
    assert ConnectionHandler.handle_connection.__wrapped__ is leaves_the_socket  # type: ignore[attr-defined]

    server = connection.Server(address=CORP)
    server.state = connection.ConnectionState.OPEN
    writer = Writer()
    handler = type("Handler", (), {"transports": {server: ConnectionIO(writer=writer)}})()
    with pytest.raises(asyncio.CancelledError):
        await ConnectionHandler.handle_connection(handler, server)  # type: ignore[arg-type]
    assert writer.closed and handler.transports == {}
    assert server.state is connection.ConnectionState.CLOSED
