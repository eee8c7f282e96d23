"""Local: answers the admin endpoints from memory and sends local models to the MLX server.

Hook `request`: `GET /health` and `GET /admin/providers` are answered here. A flow the
router gave to a local model is pointed at the in-process aiohttp server of
`mitmllm.local` on a loopback port. Not `Response.make`: mitmproxy sends an addon-made
response whole, so tokens could not stream; through the loopback server they stream, and
show in mitmweb, exactly like a remote provider's.

Hooks `running`/`done` start and stop that server; config changes rescan the model folders,
and so does a background scan every 30 s (models downloaded meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mitmproxy import http

from ..config.model import LOCAL_PROVIDER, GatewayConfig
from ..local.server import LocalBackend
from .answers import answer_error, is_answered, json_response
from .catalog import Catalog
from .state import Gateway, info, is_routed_replay

logger = logging.getLogger(__name__)

RESCAN_SECONDS = 30.0


class Local:
    def __init__(self, gateway: Gateway, catalog: Catalog):
        self.gateway = gateway
        self.catalog = catalog
        self.backend: LocalBackend | None = None
        self.port: int | None = None
        self._rescan: asyncio.Task[None] | None = None
        gateway.on_config(self._config_changed)

    # --- lifecycle -------------------------------------------------------------------

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

    # --- flows -----------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> Any:
        if is_answered(flow) or is_routed_replay(flow):
            return None
        meta = info(flow)
        kind = meta.get("kind")
        if kind == "health":
            flow.response = json_response(200, {"status": "ok"})
        elif kind == "admin":
            flow.response = json_response(200, self.providers_payload())
        elif meta.get("provider") == LOCAL_PROVIDER:
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

    def providers_payload(self) -> list[dict[str, Any]]:
        config = self.gateway.config
        rows = [self.catalog.status(p).to_json(p) for p in config.providers]
        rows.append(self._local_row())
        return rows

    def _local_row(self) -> dict[str, Any]:
        local = self.gateway.config.local
        row: dict[str, Any] = {"name": LOCAL_PROVIDER, "format": "openai", "error": None,
                               "models": self.model_ids(), "url": None, "static_models": []}
        if not local.enabled:
            row["state"] = "disabled"
        elif not self._backend().available:
            row["state"] = "unavailable"
            row["error"] = self._backend().reason
        else:
            row["state"] = "connected"
            if self.port is not None:
                row["url"] = f"http://127.0.0.1:{self.port}/v1"
        return row
