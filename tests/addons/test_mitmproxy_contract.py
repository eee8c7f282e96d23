"""The contract between mitmllm and mitmproxy's undocumented proxy core.

Everything mitmllm uses of it goes through one fence, `addons/mitmproxy_internals.py`,
which lists what it relies on (`NEEDS`) and checks it (`contract_problems()`). These tests
fail, naming the missing piece and what would break, as soon as a mitmproxy release lacks
any of it; without them a renamed state method would only show as a timeout that never
fires, in the end-to-end tests at best. The behaviour behind the names is what
`test_upstream_layer.py` drives.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from mitmproxy.proxy.layers import http as mitmproxy_http
from mitmproxy.proxy.layers.http import _events as mitmproxy_http_events
from mitmproxy.version import VERSION

from mitmllm.addons import mitmproxy_internals as fence

ROOT = Path(fence.__file__).resolve().parent.parent
FENCE_FILE = Path(fence.__file__).resolve()

# mitmproxy's documented API, which any module may import: the addon API, the built-in
# addons a master is assembled from, and the two proxy modules the docs describe.
DOCUMENTED_PROXY_MODULES = ("mitmproxy.proxy.context", "mitmproxy.proxy.mode_specs",
                            "mitmproxy.proxy.server_hooks")


def test_the_installed_mitmproxy_has_everything_the_fence_relies_on() -> None:
    problems = fence.contract_problems()
    assert problems == [], "\n".join(problems)


def test_a_missing_state_method_is_named_with_what_would_break(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(mitmproxy_http.HttpStream, "state_wait_for_response_headers")
    assert fence.contract_problems() == [
        f"mitmproxy {VERSION} no longer has HttpStream.state_wait_for_response_headers: "
        "the idle timeout would never fire: no 504 for a provider that does not answer"]


def test_a_missing_private_name_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(mitmproxy_http.HttpStream, "check_killed")
    monkeypatch.delattr(mitmproxy_http.HttpLayer, "event_to_child")
    problems = fence.contract_problems()
    assert len(problems) == 2
    assert "no longer has HttpStream.check_killed: a flow killed during the error hook " \
           "would be answered twice" in problems[0]
    assert "no longer has HttpLayer.event_to_child: mitmllm's HTTP layer would not be " \
           "installed" in problems[1]


def test_a_changed_signature_of_an_overridden_method_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def handle_protocol_error(self: Any, event: Any, during: Any) -> Any:
        yield from ()

    monkeypatch.setattr(mitmproxy_http.HttpStream, "handle_protocol_error",
                        handle_protocol_error)
    (problem,) = fence.contract_problems()
    assert problem.startswith(
        f"mitmproxy {VERSION} changed HttpStream.handle_protocol_error to (event, during), "
        "mitmllm expects (event): ")
    assert "HTML 502 page" in problem


def test_a_new_optional_parameter_of_a_method_only_called_is_fine(
        monkeypatch: pytest.MonkeyPatch) -> None:
    original = mitmproxy_http.HttpStream.check_killed

    def check_killed(self: Any, emit_error_hook: bool, reason: str = "") -> Any:
        return original(self, emit_error_hook)

    monkeypatch.setattr(mitmproxy_http.HttpStream, "check_killed", check_killed)
    assert fence.contract_problems() == []


def test_an_attribute_mitmproxy_sets_per_instance_is_checked_on_an_instance(
        monkeypatch: pytest.MonkeyPatch) -> None:
    original = mitmproxy_http.HttpLayer.__init__

    def without_streams(self: Any, context: Any, mode: Any) -> None:
        original(self, context, mode)
        del self.streams

    monkeypatch.setattr(mitmproxy_http.HttpLayer, "__init__", without_streams)
    (problem,) = fence.contract_problems()
    assert problem.startswith(f"mitmproxy {VERSION} no longer has HttpLayer.streams: ")


def test_a_missing_module_level_name_stops_the_import_naming_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(mitmproxy_http_events, "ErrorCode")
    # A second copy of the fence under another name: the real one stays as it is.
    spec = importlib.util.spec_from_file_location("mitmllm_fence_copy", FENCE_FILE)
    assert spec is not None and spec.loader is not None
    copy = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "mitmllm_fence_copy", copy)
    with pytest.raises(ImportError, match=rf"mitmproxy {VERSION} lacks .*ErrorCode"):
        spec.loader.exec_module(copy)


def test_every_mitmproxy_method_the_fence_overrides_is_in_the_contract() -> None:
    listed = {(need.owner, need.name) for need in fence.NEEDS}
    for ours, theirs in ((fence.HookedHttpStream, mitmproxy_http.HttpStream),
                         (fence.ReverseHttpLayer, mitmproxy_http.HttpLayer)):
        overridden = {name for name, value in vars(ours).items()
                      if callable(value) and hasattr(theirs, name)}
        assert overridden, ours
        assert {(theirs, name) for name in overridden} <= listed, ours
        assert all(need.overridden for need in fence.NEEDS
                   if need.owner is theirs and need.name in overridden - {"__init__"})


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _internal(module: str) -> bool:
    if not module.startswith("mitmproxy."):
        return False
    if module.startswith(DOCUMENTED_PROXY_MODULES):
        return False
    return (module.startswith(("mitmproxy.proxy.", "mitmproxy.net."))
            or module == "mitmproxy.addons.next_layer.stack_match"
            or any(part.startswith("_") for part in module.split(".")))


def test_only_the_fence_imports_mitmproxys_internals() -> None:
    tops = [p for p in ROOT.iterdir()
            if not p.name.startswith(".") and p.name not in ("tests", "bench")]
    sources = [f for top in tops for f in ([top] if top.is_file() else top.rglob("*"))
               if f.suffix == ".py"]
    assert FENCE_FILE in sources
    offenders = {str(p.relative_to(ROOT)): internal for p in sources if p != FENCE_FILE
                 if (internal := [m for m in _imports(p) if _internal(m)])}
    assert offenders == {}
    assert any(_internal(m) for m in _imports(FENCE_FILE))


def test_the_upstream_addon_looks_up_no_fenced_member_itself() -> None:
    fenced = {need.name for need in fence.NEEDS
              if need.owner in (mitmproxy_http.HttpStream, mitmproxy_http.HttpLayer,
                                fence.NextLayer)} - {"__init__"}
    fenced |= {"client_state", "server_state", "streams", "layers", "stack_match",
               "starts_like_tls_record"}
    tree = ast.parse((ROOT / "addons" / "upstream.py").read_text(encoding="utf-8"))
    looked_up = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert looked_up & fenced == set()
