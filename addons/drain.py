"""Drain: the flows under way, and a graceful stop for a team gateway behind a balancer.

Hooks: `requestheaders` counts a flow in, `response` and `error` count it out. `begin()`
(SIGTERM, from `proxy.py`) starts the drain: `/ready` answers 503 at once (so a balancer or
Kubernetes stops sending work), the listen socket closes (new connections are refused, so
a balancer retries them elsewhere), answers on connections already open say
`Connection: close`, and the proxy stops once every flow under way has ended, or after
`mitmllm_drain_seconds` at most. A second SIGTERM, or SIGINT, stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import time

from mitmproxy import ctx, http
from mitmproxy.addonmanager import Loader

from .state import Gateway

logger = logging.getLogger(__name__)

DRAIN_SECONDS = 30.0  # Kubernetes' default terminationGracePeriodSeconds is 30 too


class Drain:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.in_flight: set[str] = set()  # flow ids
        self._task: asyncio.Task[None] | None = None

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "mitmllm_drain_seconds", float, DRAIN_SECONDS,
            "On SIGTERM, how long mitmllm lets the requests under way finish (streams "
            "included) before it stops; it takes no new connection meanwhile.")

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.live:
            self.in_flight.add(flow.id)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self._close_after(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._close_after(flow)
        self.in_flight.discard(flow.id)

    def error(self, flow: http.HTTPFlow) -> None:
        self.in_flight.discard(flow.id)

    def _close_after(self, flow: http.HTTPFlow) -> None:
        if self.gateway.draining and flow.response is not None:
            flow.response.headers["connection"] = "close"

    def begin(self) -> None:
        """Start draining (once); the proxy stops when it is done."""
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="mitmllm drain")

    async def _drain(self) -> None:
        grace = ctx.options.mitmllm_drain_seconds
        self.gateway.start_draining()
        logger.info("draining: no new connections; %d request(s) under way get up to %g s",
                    len(self.in_flight), grace)
        ctx.options.server = False  # closes the listen socket, keeps open connections
        deadline = time.monotonic() + grace
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.in_flight:
            logger.warning("drained for %g s: stopping with %d request(s) still under way",
                           grace, len(self.in_flight))
        ctx.master.shutdown()
