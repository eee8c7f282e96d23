"""`HookTableAddonManager` (the addon manager of `mitmllm run`) dispatches a hook exactly as
mitmproxy's own does: the same functions in chain order, sync and async, an addon's error
logged while the others still run, `AddonHalt` stopping the hook, addons added or removed
later taken into account, and nested addons (scripts) left to mitmproxy's code. Each case
runs against both managers, so a difference is a failure."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from mitmproxy import addonmanager, exceptions, hooks, options
from mitmproxy.http import HTTPFlow
from mitmproxy.master import Master
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.test import tflow

from mitmllm.addons.mitmproxy_internals import (
    HeadlessMaster,
    HookTableAddonManager,
    move_to_chain_end,
)

MANAGERS = [addonmanager.AddonManager, HookTableAddonManager]


def manager(kind: type[addonmanager.AddonManager]) -> addonmanager.AddonManager:
    master = Master(options.Options())
    master.addons = kind(master)
    return master.addons


class Recorder:
    def __init__(self, name: str, calls: list[str], fail: bool = False,
                 halt: bool = False) -> None:
        self.name, self.calls, self.fail, self.halt = name, calls, fail, halt

    def request(self, flow: HTTPFlow) -> None:
        self.calls.append(f"{self.name}:{flow.request.path}")
        if self.fail:
            raise ValueError(f"{self.name} broke")
        if self.halt:
            raise exceptions.AddonHalt()


class AsyncRecorder(Recorder):
    async def request(self, flow: HTTPFlow) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        self.calls.append(f"{self.name}:async")


class NoHooks:
    pass


@pytest.mark.parametrize("kind", MANAGERS)
async def test_same_calls_in_chain_order_with_errors_logged_and_halt(
        kind: type[addonmanager.AddonManager], caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    addons = manager(kind)
    addons.add(Recorder("a", calls), NoHooks(), AsyncRecorder("b", calls),
               Recorder("c", calls, fail=True), Recorder("d", calls, halt=True),
               Recorder("e", calls))
    flow = tflow.tflow()
    with caplog.at_level(logging.ERROR):
        await addons.trigger_event(_request_hook(flow))
    assert calls == ["a:/path", "b:async", "c:/path", "d:/path"]  # e: halted
    assert [r.getMessage() for r in caplog.records] == ["Addon error: c broke"]
    assert caplog.records[0].exc_info is not None  # the traceback, as mitmproxy logs it


def _request_hook(flow: HTTPFlow) -> hooks.Hook:
    return HttpRequestHook(flow)


@pytest.mark.parametrize("kind", MANAGERS)
async def test_addons_added_or_removed_after_a_hook_ran_count(
        kind: type[addonmanager.AddonManager]) -> None:
    calls: list[str] = []
    addons = manager(kind)
    first = Recorder("a", calls)
    addons.add(first)
    flow = tflow.tflow()
    await addons.trigger_event(_request_hook(flow))
    addons.add(Recorder("b", calls))
    await addons.trigger_event(_request_hook(flow))
    addons.remove(first)
    await addons.trigger_event(_request_hook(flow))
    assert calls == ["a:/path", "a:/path", "b:/path", "b:/path"]


@pytest.mark.parametrize("kind", MANAGERS)
async def test_nested_addons_are_dispatched_even_when_they_change(
        kind: type[addonmanager.AddonManager]) -> None:
    calls: list[str] = []
    parent: Any = SimpleNamespace(addons=[Recorder("child", calls)])
    addons = manager(kind)
    addons.add(parent)
    flow = tflow.tflow()
    await addons.trigger_event(_request_hook(flow))
    parent.addons.append(Recorder("later", calls))  # as a script reload does
    await addons.trigger_event(_request_hook(flow))
    assert calls == ["child:/path", "child:/path", "later:/path"]


@pytest.mark.parametrize("kind", MANAGERS)
async def test_an_options_error_propagates(kind: type[addonmanager.AddonManager]) -> None:
    class Refuses:
        def request(self, flow: HTTPFlow) -> None:
            raise exceptions.OptionsError("no")

    addons = manager(kind)
    addons.add(Refuses())
    with pytest.raises(exceptions.OptionsError):
        await addons.trigger_event(_request_hook(tflow.tflow()))


async def test_the_headless_master_uses_the_table_and_still_logs() -> None:
    master = HeadlessMaster(options.Options())
    assert isinstance(master.addons, HookTableAddonManager)
    assert master.addons.get("termlog") is not None
    # no deprecated `add_log` hook run on every addon for every log record
    assert master._legacy_log_events not in logging.getLogger().handlers


async def test_options_read_the_same_under_the_headless_master() -> None:
    opts = options.Options()
    HeadlessMaster(opts)
    assert opts.ssl_insecure is False  # a default, immutable: read as it is
    opts.update(listen_port=1234, listen_host="127.0.0.1")
    assert (opts.listen_port, opts.listen_host) == (1234, "127.0.0.1")
    # a mutable value is still a copy: changing what was read changes no option
    opts.update(mode=["reverse:http://a.invalid@1"])
    opts.mode.append("regular")
    assert opts.mode == ["reverse:http://a.invalid@1"]


@pytest.mark.parametrize("kind", MANAGERS)
async def test_moving_addons_to_the_end_reorders_without_loading_again(
        kind: type[addonmanager.AddonManager]) -> None:
    calls: list[str] = []
    loads: list[str] = []

    class Loaded(Recorder):
        def load(self, loader: Any) -> None:
            loads.append(self.name)

    addons = manager(kind)
    first, second, third = Loaded("a", calls), Loaded("b", calls), Loaded("c", calls)
    addons.add(first, second, third)
    flow = tflow.tflow()
    await addons.trigger_event(_request_hook(flow))  # a table is built for this order
    move_to_chain_end(addons, ("a", "missing", "b"))
    await addons.trigger_event(_request_hook(flow))
    assert calls == ["a:/path", "b:/path", "c:/path", "c:/path", "a:/path", "b:/path"]
    assert loads == ["a", "b", "c"]  # each loaded once
    assert [addons.get(n) for n in ("a", "b", "c")] == [first, second, third]
