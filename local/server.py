"""The local backend: an aiohttp app on a loopback port that speaks OpenAI Chat Completions.

The gateway's router rewrites a flow for a local model to `base_url`, so local answers stream
through mitmproxy (and show in mitmweb) exactly like a remote provider's.

    backend = LocalBackend(model_dirs=[Path("~/models")], max_loaded=1)
    port = await backend.start()          # 127.0.0.1, a free port; inside the running loop
    ...                                   # POST {backend.base_url}/v1/chat/completions
    backend.reconfigure(model_dirs=[...], max_loaded=2)    # on a config change
    await backend.stop()

Endpoints (also without `/v1`): `POST /v1/chat/completions`, `GET /v1/models`,
`GET /health`. Errors are OpenAI-shaped (see `errors.py`).

Where MLX is unavailable the backend still starts and still lists the models it found (they
are on disk, and a listed id gets a precise 503 saying why it cannot run, where an unlisted
one would get a vaguer 404); chat requests for them answer 503 with `reason`.

Client disconnects: the runner uses `handler_cancellation=True`, so a client that goes away
cancels its handler; leaving `Engine.generate`'s block then sets the job's stop flag. A failed
write while streaming does the same.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from ..translators.chat.models import openai_model, openai_model_list
from ..translators.chat.types import ChatMessage, ChunkEnvelope, FinishReason, chat_usage
from ..translators.sse import DONE, SSEEvent, encode, json_event
from .discovery import LocalModel, discover_models
from .engine import Engine, Event, Failed, Finished, Piece, Started
from .errors import BadRequest, LocalError, MlxUnavailable, ModelNotFound
from .mlxapi import mlx_status, supports_model_type
from .params import ChatParams, parse_chat

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 2**20  # the gateway enforces its own, smaller limit first
SHUTDOWN_TIMEOUT = 5.0  # seconds stop() waits for open requests after stopping their jobs


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@web.middleware
async def _openai_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except LocalError as exc:
        return web.json_response(exc.to_openai(), status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = f"{request.method} {request.path}: {exc.reason}"
        error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
        return web.json_response({"error": error}, status=exc.status)
    except Exception as exc:
        log.exception("local backend: %s %s failed", request.method, request.path)
        return web.json_response(LocalError(f"internal error: {exc}").to_openai(), status=500)


class LocalBackend:
    """Local MLX models behind an OpenAI-compatible loopback server."""

    def __init__(
        self,
        *,
        model_dirs: Sequence[Path] = (),
        max_loaded: int = 1,
        hf_cache: Path | None = None,
    ) -> None:
        self.available, self.reason = mlx_status()
        self.engine = Engine(max_loaded)
        self._model_dirs = tuple(Path(d) for d in model_dirs)
        self._hf_cache = hf_cache
        self._models: list[LocalModel] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._host = "127.0.0.1"
        self.refresh()

    # Models

    def models(self) -> list[LocalModel]:
        return list(self._models)

    def refresh(self) -> None:
        """Rescan the folders (after a config change, or when models were downloaded)."""
        self._models = discover_models(
            self._model_dirs, hf_cache=self._hf_cache, supports=supports_model_type
        )
        log.debug("local models: %s", ", ".join(m.id for m in self._models) or "none")

    def reconfigure(self, *, model_dirs: Sequence[Path], max_loaded: int) -> None:
        self._model_dirs = tuple(Path(d) for d in model_dirs)
        self.engine.set_max_loaded(max_loaded)
        self.refresh()

    def resolve(self, model_id: str) -> LocalModel | None:
        """Exact id first, then case-insensitively; a `local/` prefix is accepted too."""
        for model in self._models:
            if model.id == model_id:
                return model
        folded = model_id.casefold()
        for model in self._models:
            if model.id.casefold() == folded:
                return model
        prefix, _, rest = model_id.partition("/")
        if prefix.casefold() == "local" and rest:
            return self.resolve(rest)
        return None

    # Server lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve on `host:port` (port 0: any free port); return the bound port."""
        if not _is_loopback(host):
            raise ValueError(f"the local backend only listens on loopback, not {host!r}")
        if self._runner is not None:
            raise RuntimeError("the local backend is already started")
        app = web.Application(middlewares=[_openai_errors], client_max_size=MAX_BODY_BYTES)
        for prefix in ("/v1", ""):
            app.router.add_post(f"{prefix}/chat/completions", self._chat)
            app.router.add_get(f"{prefix}/models", self._list_models)
        app.router.add_get("/health", self._health)
        runner = web.AppRunner(
            app,
            handler_cancellation=True,
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._host = runner, host
        self._port = int(runner.addresses[0][1])
        log.info("local backend on http://%s:%d (%s)", host, self._port, self._state())
        return self._port

    async def stop(self) -> None:
        """Stop generating, close the server, unload the models."""
        runner, self._runner, self._port = self._runner, None, None
        self.engine.cancel_all()
        if runner is not None:
            await runner.cleanup()
        await self.engine.close()

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the local backend is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    def _state(self) -> str:
        return "mlx available" if self.available else f"unavailable: {self.reason}"

    # Handlers

    async def _health(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "available": self.available,
                "reason": self.reason,
                "models": [m.id for m in self._models],
                "loaded": self.engine.pool.loaded_ids(),
            }
        )

    async def _list_models(self, _request: web.Request) -> web.Response:
        models = [openai_model(m.id, "local", _modified(m)) for m in self._models]
        return web.json_response(openai_model_list(models))

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise BadRequest(f"the request body is not valid JSON: {exc}") from exc
        params = parse_chat(body)
        model = self.resolve(params.model)
        if model is None:
            known = ", ".join(m.id for m in self._models) or "none"
            raise ModelNotFound(
                f"the model {params.model!r} is not a local model (local models: {known})",
                param="model",
            )
        if not self.available:
            raise MlxUnavailable(f"local model {model.id} cannot run: {self.reason}")

        async with self.engine.generate(model, params) as events:
            first = await anext(events)
            if isinstance(first, Failed):
                raise first.error
            if not isinstance(first, Started):  # Finished("cancelled"): we are shutting down
                raise MlxUnavailable("the local backend is shutting down")
            envelope = ChunkEnvelope(params.model)
            if params.stream:
                return await self._stream(request, params, envelope, first, events)
            return await self._complete(envelope, first, events)

    async def _complete(
        self,
        envelope: ChunkEnvelope,
        started: Started,
        events: AsyncIterator[Event],
    ) -> web.Response:
        texts: list[str] = []
        async for event in events:
            if isinstance(event, Piece):
                texts.append(event.text)
            elif isinstance(event, Failed):
                raise event.error
            elif isinstance(event, Finished):
                if event.finish_reason == "cancelled":
                    raise MlxUnavailable("the local backend is shutting down")
                message: ChatMessage = {"role": "assistant", "content": "".join(texts),
                                        "refusal": None}
                usage = chat_usage(started.prompt_tokens, event.completion_tokens)
                return web.json_response(
                    envelope.completion(message, _finish(event), usage)
                )
        raise LocalError("the generation ended without a result")

    async def _stream(
        self,
        request: web.Request,
        params: ChatParams,
        envelope: ChunkEnvelope,
        started: Started,
        events: AsyncIterator[Event],
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)

        async def send(payload: Any) -> None:
            await response.write(encode(json_event(payload)))

        try:
            await send(envelope.chunk({"role": "assistant", "content": ""}))
            async for event in events:
                if isinstance(event, Piece):
                    await send(envelope.chunk({"content": event.text}))
                elif isinstance(event, Failed):
                    await send(event.error.to_openai())
                elif isinstance(event, Finished) and event.finish_reason == "cancelled":
                    await send(MlxUnavailable("the local backend is shutting down").to_openai())
                elif isinstance(event, Finished):
                    await send(envelope.chunk({}, _finish(event)))
                    if params.include_usage:
                        await send(envelope.usage_chunk(
                            chat_usage(started.prompt_tokens, event.completion_tokens)))
            await response.write(encode(SSEEvent(DONE)))
            await response.write_eof()
        except ConnectionResetError:
            # The client left: leaving the caller's `generate` block stops the job. (If it
            # is noticed first as a lost connection, the handler is cancelled instead.)
            log.debug("client left a %s stream", params.model)
        return response


def _finish(event: Finished) -> FinishReason:
    return "length" if event.finish_reason == "length" else "stop"


def _modified(model: LocalModel) -> int:
    """A local model's `created`: when its folder last changed."""
    try:
        return int(model.path.stat().st_mtime)
    except OSError:
        return 0
