"""Drain: flows under way are counted; draining says not ready, closes the listen socket,
asks open connections to close, waits for the flows (at most the grace period), stops."""

from __future__ import annotations

import asyncio

from mitmproxy.test import taddons, tutils
from support.addon_helpers import make_flow, make_gateway, run_request_hooks

from mitmllm.addons.admin import Admin
from mitmllm.addons.connections import Connections
from mitmllm.addons.drain import Drain
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.local import Local


async def test_ready_until_draining_then_503() -> None:
    gateway = make_gateway()
    admin = Admin(gateway, Connections(gateway), Local(gateway))
    flow = make_flow("GET", "/ready")
    await run_request_hooks(flow, [Ingress(gateway), admin])
    assert flow.response is not None and flow.response.status_code == 503  # no file read yet
    gateway.config_loaded = True
    flow = make_flow("GET", "/ready")
    await run_request_hooks(flow, [Ingress(gateway), admin])
    assert flow.response is not None and flow.response.status_code == 200
    gateway.start_draining()
    flow = make_flow("GET", "/ready")
    await run_request_hooks(flow, [Ingress(gateway), admin])
    assert flow.response is not None and flow.response.status_code == 503


async def test_a_drain_waits_for_the_flows_under_way() -> None:
    gateway = make_gateway()
    drain = Drain(gateway)
    woken: list[bool] = []
    gateway.on_drain(lambda: woken.append(True))
    with taddons.context(drain) as tctx:
        tctx.options.server = True
        stopped = asyncio.Event()
        tctx.master.shutdown = stopped.set  # type: ignore[method-assign]
        flow = make_flow("POST", "/v1/chat/completions")
        drain.requestheaders(flow)
        drain.begin()
        await asyncio.sleep(0.2)
        assert gateway.draining and woken == [True]
        assert tctx.options.server is False  # the listen socket closes
        assert not stopped.is_set()  # the flow is still under way
        flow.response = tutils.tresp()
        drain.response(flow)
        assert flow.response.headers["connection"] == "close"
        await asyncio.wait_for(stopped.wait(), 2)


async def test_a_drain_gives_up_after_its_grace_period() -> None:
    gateway = make_gateway()
    drain = Drain(gateway)
    with taddons.context(drain) as tctx:
        tctx.configure(drain, mitmllm_drain_seconds=0.2)
        stopped = asyncio.Event()
        tctx.master.shutdown = stopped.set  # type: ignore[method-assign]
        drain.requestheaders(make_flow("POST", "/v1/chat/completions"))
        drain.begin()
        await asyncio.wait_for(stopped.wait(), 2)
