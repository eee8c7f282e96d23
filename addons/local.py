"""Local: sends the flows the router gave to a local model to the MLX server.

Hook `request`: a flow whose `Route` (set by the router) is local is pointed at the
in-process aiohttp server of `mitmllm.local` on a loopback port. Not `Response.make`:
mitmproxy sends an addon-made response whole, so tokens could not stream; through the
loopback server they stream, and show in mitmweb, exactly like a remote provider's.

Hooks `running`/`done` start and stop that server; config changes rescan the model folders,
and so does a background scan every 30 s (models downloaded meanwhile). The router and the
models endpoint ask `model_ids()`; `/admin/providers` asks `model_ids()`, `state()`, `url`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mitmproxy import http

from ..config.model import GatewayConfig
from ..local.server import LocalBackend
from .answers import answer_error, is_answered
from .fail_closed import fails_closed
from .state import Gateway, is_routed_replay

logger = logging.getLogger(__name__)

RESCAN_SECONDS = 30.0


class Local:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.backend: LocalBackend | None = None
        self.port: int | None = None
        self._rescan: asyncio.Task[None] | None = None
        gateway.on_config(self._config_changed)

    def _backend(self) -> LocalBackend:
        if self.backend is None:
            local = self.gateway.config.local
            self.backend = LocalBackend(model_dirs=local.model_dirs,
                                        max_loaded=local.max_loaded)
        return self.backend

    def model_ids(self) -> list[str]:
        if not self.gateway.config.local.enabled:
            return []
        return [model.id for model in self._backend().models()]

    def state(self) -> tuple[str, str | None]:
        """disabled, unavailable (and why: no MLX on this machine), or connected."""
        if not self.gateway.config.local.enabled:
            return ("disabled", None)
        if not self._backend().available:
            return ("unavailable", self._backend().reason)
        return ("connected", None)

    @property
    def url(self) -> str | None:
        """The loopback server's base URL while it runs."""
        return None if self.port is None else f"http://127.0.0.1:{self.port}/v1"

    async def running(self) -> None:
        if self.port is None and self.gateway.config.local.enabled:
            self.port = await self._backend().start()
            logger.info("local models: %d found; MLX %s", len(self.model_ids()),
                        "available" if self._backend().available
                        else f"unavailable ({self._backend().reason})")
            self._rescan = asyncio.create_task(self._rescan_now_and_then(),
                                               name="mitmllm local model rescan")

    async def _rescan_now_and_then(self) -> None:
        # Models downloaded while mitmllm runs appear without a restart; the scan reads
        # folders, so it runs in a thread, never on the event loop.
        while True:
            await asyncio.sleep(RESCAN_SECONDS)
            if self.backend is not None and self.gateway.config.local.enabled:
                await asyncio.to_thread(self.backend.refresh)

    async def done(self) -> None:
        if self._rescan is not None:
            self._rescan.cancel()
            self._rescan = None
        if self.backend is not None and self.port is not None:
            await self.backend.stop()
            self.port = None

    def _config_changed(self, old: GatewayConfig, new: GatewayConfig) -> None:
        if self.backend is not None and old.local != new.local:
            self.backend.reconfigure(model_dirs=new.local.model_dirs,
                                     max_loaded=new.local.max_loaded)

    @fails_closed("send the request to the local model")
    def request(self, flow: http.HTTPFlow) -> Any:
        if is_answered(flow) or is_routed_replay(flow):
            return None
        route = self.gateway.route(flow)
        if route is not None and route.is_local:
            return self._point_at_server(flow)
        return None

    async def _point_at_server(self, flow: http.HTTPFlow) -> None:
        backend = self._backend()
        if not backend.available:
            answer_error(flow, 503, f"Local models are unavailable: {backend.reason}",
                         code="local_unavailable", error_type="server_error")
            return
        if self.port is None:
            await self.running()  # local was enabled by a config change
        assert self.port is not None
        request = flow.request
        request.scheme = "http"
        request.port = self.port
        request.host = "127.0.0.1"
        request.host_header = f"127.0.0.1:{self.port}"
        for name in ("authorization", "x-api-key"):
            request.headers.pop(name, None)
