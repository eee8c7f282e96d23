"""A fake LLM provider on loopback: an aiohttp server that records every request it gets
and answers with scripted replies, byte for byte (the bodies come from tests/vectors).

    provider = FakeProvider(base_path="/v1")
    await provider.start()
    provider.models = ["m1", "m2"]                      # GET /v1/models (OpenAI shape)
    provider.reply("/chat/completions", Json(200, {...}))
    provider.reply("/chat/completions", Sse([b"data: ...\\n\\n", ...], delay=0.1))
    ... provider.requests[-1].headers["authorization"] ...

Replies are queued per endpoint and used once each; with none queued, an endpoint answers
500 so a test never passes on an answer it did not script.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from .server_thread import ServerThread


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]
    body: bytes
    received_at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Json:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # exact bytes instead of json.dumps(payload)


@dataclass
class Sse:
    chunks: list[bytes]
    delay: float = 0.0  # seconds before each chunk after the first
    status: int = 200
    content_type: str = "text/event-stream"
    hang_after: float | None = None  # keep the connection open this long after the chunks
    sent_at: list[float] = field(default_factory=list)  # filled in: when each write began


@dataclass
class Hang:
    seconds: float


@dataclass
class Drop:
    """Close the connection without an answer."""


Reply = Json | Sse | Hang | Drop


def sse_lines(text: str) -> list[bytes]:
    """A recorded SSE text as one chunk per event (blank-line separated)."""
    events = text.replace("\r\n", "\n").split("\n\n")
    return [(event + "\n\n").encode() for event in events if event.strip()]


class FakeProvider:
    def __init__(self, base_path: str = "/v1", fmt: str = "openai"):
        self.base_path = base_path.rstrip("/")
        self.format = fmt
        self.requests: list[Recorded] = []
        self.models: list[str] = []
        self.models_status = 200
        self._replies: dict[str, deque[Reply]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def reply(self, endpoint: str, *replies: Reply) -> None:
        self._replies[endpoint].extend(replies)

    def requests_to(self, endpoint: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == self.base_path + endpoint]

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      CIMultiDict(request.headers), body, time.monotonic()))
        if not request.path.startswith(self.base_path + "/"):
            return web.json_response({"error": {"message": f"no route {request.path}"}},
                                     status=404)
        endpoint = request.path[len(self.base_path):]
        queue = self._replies.get(endpoint)
        if queue:
            return await self._send(request, queue.popleft())
        if endpoint == "/models" and request.method == "GET":
            return self._models(request)
        return web.json_response(
            {"error": {"message": f"fake provider: nothing scripted for {endpoint}",
                       "type": "server_error"}}, status=500)

    def _models(self, request: web.Request) -> web.Response:
        if self.models_status != 200:
            return web.json_response({"error": {"message": "models refused"}},
                                     status=self.models_status)
        if self.format == "anthropic":
            data = [{"type": "model", "id": m, "display_name": m,
                     "created_at": "2025-02-19T00:00:00Z"} for m in self.models]
            # Two pages, to make the gateway follow `after_id`.
            after = request.query.get("after_id")
            half = max(1, len(data) // 2)
            page = data[half:] if after else data[:half]
            return web.json_response({"data": page, "has_more": not after and len(data) > half,
                                      "first_id": page[0]["id"] if page else None,
                                      "last_id": page[-1]["id"] if page else None})
        return web.json_response({"object": "list", "data": [
            {"id": m, "object": "model", "created": 1686935002, "owned_by": "fake"}
            for m in self.models]})

    async def _send(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        if isinstance(reply, Json):
            raw = reply.raw if reply.raw is not None else json.dumps(reply.payload).encode()
            return web.Response(status=reply.status, body=raw,
                                headers={"content-type": "application/json", **reply.headers})
        if isinstance(reply, Hang):
            await asyncio.sleep(reply.seconds)
            return web.json_response({"error": {"message": "too late"}}, status=500)
        if isinstance(reply, Drop):
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        response = web.StreamResponse(status=reply.status,
                                      headers={"content-type": reply.content_type})
        await response.prepare(request)
        for index, chunk in enumerate(reply.chunks):
            if index and reply.delay:
                await asyncio.sleep(reply.delay)
            reply.sent_at.append(time.monotonic())  # before: the client may read it first
            await response.write(chunk)
        if reply.hang_after:
            await asyncio.sleep(reply.hang_after)
        await response.write_eof()
        return response


class ProviderThread(ServerThread[FakeProvider]):
    """A FakeProvider serving from its own event loop in a thread, so tests can use the
    synchronous SDK clients. Use as a context manager; `.url` is its origin."""

    def __init__(self, base_path: str = "/v1", fmt: str = "openai"):
        super().__init__(FakeProvider(base_path, fmt), "fake provider")

    @property
    def url(self) -> str:
        return str(self.started or "")
