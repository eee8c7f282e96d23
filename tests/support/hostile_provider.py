"""A hostile provider on loopback: a raw asyncio TCP server whose answers are scripted byte
by byte, for the faults an HTTP library will not produce (a reset in the middle of the
headers, a chunk size that is not hex, a FIN half-way through an event). It tracks every
connection it accepted, so a test can check that the proxy closed them all.

    with HostileThread() as hostile:
        hostile.script("/v1/messages", Send(head(200, "text/event-stream")), Pause(0.2),
                       Send(b"data: {"), Reset())
        ... a request through the proxy ...
        assert hostile.wait_idle(2)              # no connection left open
        hostile.connections[-1].request.path     # what it was asked

Each request it reads takes the next script queued for its path; after the script's steps
the connection is closed (FIN) unless a step closed it already. A request with no script
gets a 500, so a test never passes on an answer it did not script.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .proxy import free_port
from .server_thread import ServerThread


@dataclass(frozen=True)
class Send:
    data: bytes


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Reset:
    """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""


@dataclass(frozen=True)
class Close:
    """Close with a FIN, now."""


@dataclass(frozen=True)
class Hold:
    """Keep the connection open, sending nothing, until the peer closes it (or `seconds`)."""

    seconds: float = 30.0


Step = Send | Pause | Reset | Close | Hold


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass
class Connection:
    opened_at: float
    request: Request | None = None
    closed_at: float | None = None  # when it closed, whoever closed it
    closed_by: str = ""  # "us" or "peer"

    @property
    def open(self) -> bool:
        return self.closed_at is None


def head(status: int = 200, content_type: str = "application/json", *,
         length: int | None = None, chunked: bool = False, close: bool = False,
         reason: str = "OK") -> bytes:
    """A response head. Without `length` and `chunked` the body runs until the connection
    closes (RFC 9112 6.3, rule 8)."""
    lines = [f"HTTP/1.1 {status} {reason}", f"content-type: {content_type}"]
    if length is not None:
        lines.append(f"content-length: {length}")
    if chunked:
        lines.append("transfer-encoding: chunked")
    if close:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


LAST_CHUNK = b"0\r\n\r\n"


def whole(status: int, content_type: str, body: bytes) -> list[Step]:
    """A complete answer with a Content-Length."""
    return [Send(head(status, content_type, length=len(body)) + body)]


@dataclass
class HostileProvider:
    port: int = 0
    connections: list[Connection] = field(default_factory=list)
    _scripts: dict[str, deque[list[Step]]] = field(default_factory=lambda: defaultdict(deque))
    _server: asyncio.Server | None = None

    def script(self, path: str, *steps: Step) -> None:
        self._scripts[path].append(list(steps))

    def clear(self) -> None:
        self._scripts.clear()

    @property
    def open_connections(self) -> list[Connection]:
        return [c for c in self.connections if c.open]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server.close_clients()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(time.monotonic())
        self.connections.append(conn)
        try:
            conn.request = await _read_request(reader)
            if conn.request is None:
                _closed(conn, "peer")
                return
            queue = self._scripts.get(conn.request.path)
            steps = queue.popleft() if queue else whole(
                500, "application/json", b'{"error": {"message": "hostile provider: nothing '
                b'scripted", "type": "server_error"}}')
            await self._run(conn, steps, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            _closed(conn, "peer")
        finally:
            if conn.open:
                _closed(conn, "us")
            writer.close()

    async def _run(self, conn: Connection, steps: list[Step], reader: asyncio.StreamReader,
                   writer: asyncio.StreamWriter) -> None:
        for step in steps:
            if isinstance(step, Send):
                writer.write(step.data)
                await writer.drain()
            elif isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Reset):
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                _closed(conn, "us")
                return
            elif isinstance(step, Close):
                break
            else:
                try:
                    await asyncio.wait_for(reader.read(), step.seconds)  # returns at EOF
                    _closed(conn, "peer")
                    return
                except TimeoutError:
                    pass
        if writer.can_write_eof():
            writer.write_eof()
        _closed(conn, "us")


def _closed(conn: Connection, by: str) -> None:
    if conn.closed_at is None:
        conn.closed_at = time.monotonic()
        conn.closed_by = by


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = raw.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method, path.split("?", 1)[0], headers, body)


class HostileThread(ServerThread[HostileProvider]):
    """A HostileProvider serving from its own event loop in a thread. Use as a context
    manager; it gives the provider, whose `port` is set."""

    def __init__(self) -> None:
        super().__init__(HostileProvider(), "hostile provider")


def wait_until(check: Callable[[], object], timeout: float, step: float = 0.02) -> bool:
    """Poll `check()` until it is true or `timeout` seconds passed; its last answer."""
    deadline = time.monotonic() + timeout
    while not (done := bool(check())) and time.monotonic() < deadline:
        time.sleep(step)
    return done


def closed_port() -> int:
    """A loopback port nothing listens on (connecting is refused)."""
    return free_port()
