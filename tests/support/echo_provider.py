"""An OpenAI-format provider on loopback that answers every chat request, for load tests:
the answer is `echo ` and the last user message's text, so a client can tell its own answer,
whole, from anyone else's. Streamed when the request says so, in `PIECES` chunks
`delay` seconds apart, ending with `data: [DONE]`; whole after `delay` seconds.

    with EchoProviderThread(delay=0.05) as provider:
        ... provider.port ... provider.served ...

A message whose text starts with `slow:` streams its pieces 0.3 s apart; one starting with
`headers:` gets the answer headers in `ANSWER_HEADERS` too (headers that an nginx in front
would obey, were it not told to ignore them).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from .server_thread import ServerThread

PIECES = 5
SLOW_DELAY = 0.3
ANSWER_HEADERS = {"X-Accel-Redirect": "/metrics", "X-Accel-Buffering": "yes",
                  "X-Accel-Limit-Rate": "1"}


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return "".join(part.get("text", "") for part in content or [] if isinstance(part, dict))
    return ""


def split(text: str, count: int) -> list[str]:
    size = -(-len(text) // count)
    return [text[i:i + size] for i in range(0, len(text), size)]


class EchoProvider:
    def __init__(self, delay: float):
        self.delay = delay
        self.served = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": "m", "object": "model", "created": 1, "owned_by": "echo"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        text = last_user_text(body)
        answer = "echo " + text
        headers = dict(ANSWER_HEADERS) if text.startswith("headers:") else {}
        usage = {"prompt_tokens": 3, "completion_tokens": PIECES,
                 "total_tokens": 3 + PIECES}
        if not body.get("stream"):
            await asyncio.sleep(self.delay)
            self.served += 1
            return web.json_response({
                "id": "chatcmpl-echo", "object": "chat.completion", "created": 1,
                "model": body.get("model"), "usage": usage,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": answer}}]},
                headers=headers)
        delay = SLOW_DELAY if text.startswith("slow:") else self.delay
        response = web.StreamResponse(headers={"content-type": "text/event-stream", **headers})
        await response.prepare(request)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            event = {"id": "chatcmpl-echo", "object": "chat.completion.chunk", "created": 1,
                     "model": body.get("model"),
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(event)}\n\n".encode()

        await response.write(chunk({"role": "assistant", "content": ""}))
        for piece in split(answer, PIECES):
            await asyncio.sleep(delay)
            await response.write(chunk({"content": piece}))
        await response.write(chunk({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage_event = {"id": "chatcmpl-echo", "object": "chat.completion.chunk",
                           "created": 1, "model": body.get("model"), "choices": [],
                           "usage": usage}
            await response.write(f"data: {json.dumps(usage_event)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        self.served += 1
        return response


class EchoProviderThread(ServerThread[EchoProvider]):
    """An EchoProvider serving from its own event loop in a thread."""

    def __init__(self, delay: float = 0.05):
        super().__init__(EchoProvider(delay), "echo provider")
