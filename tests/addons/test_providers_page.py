"""The Providers page's API (docs/admin.md): every action against a real config file, a
keychain, and a fake provider on loopback; every refusal (token, host, origin, CSRF, peer);
and no stored secret in any answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mitmproxy import http
from mitmproxy.test import taddons
from support.addon_helpers import make_flow, run_request_hooks
from support.fake_provider import FakeProvider
from support.keyrings import MemoryKeyring, pinned_keyring

from mitmllm.addons.config_watch import ConfigWatcher
from mitmllm.addons.connections import Connections
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.local import Local
from mitmllm.addons.models_endpoint import ModelsEndpoint
from mitmllm.addons.providers_page import ProvidersPage
from mitmllm.addons.state import Gateway

KEY = "sk-page-secret-1234"
OTHER_KEY = "sk-page-other-5678"
CONFIG = """\
# my gateway
listen:
  host: 127.0.0.1
  port: 1337
providers: []
# keep me: a note after the providers
local:
  enabled: false
"""


@pytest.fixture
def keychain() -> Iterator[MemoryKeyring]:
    with pinned_keyring(MemoryKeyring()) as backend:
        yield backend  # type: ignore[misc]


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeProvider, FakeProvider]]:
    first, second = FakeProvider(), FakeProvider()
    first.models, second.models = ["alpha", "beta"], ["gamma"]
    await first.start()
    await second.start()
    yield first, second
    await first.stop()
    await second.stop()


class Page:
    """The addons the page needs, as `pipeline()` wires them, on a real config file."""

    def __init__(self, config: Path, assets: Path | None = None):
        self.config = config
        self.gateway = Gateway()
        self.watcher = ConfigWatcher(self.gateway)
        self.connections = Connections(self.gateway)
        self.local = Local(self.gateway)
        self.page = ProvidersPage(self.gateway, self.connections, self.local, self.watcher,
                                  **({"assets": assets} if assets else {}))
        self.ingress = Ingress(self.gateway)
        self.answers: list[bytes] = []

    async def call(self, method: str, path: str, body: Any = None, *, csrf: bool = True,
                   headers: dict[str, str] | None = None, peer: str = "127.0.0.1"
                   ) -> http.Response:
        sent = {"x-csrf-token": self.page.csrf} if csrf and method != "GET" else {}
        flow = make_flow(method, path, body, headers=sent)
        for name, value in (headers or {}).items():
            flow.request.headers[name] = value  # replaces: one Host, as a browser sends
        flow.client_conn.peername = (peer, 50000)
        await run_request_hooks(flow, [self.ingress, self.page])
        assert flow.response is not None, f"{method} {path} was not answered"
        self.answers.append(flow.response.content or b"")
        return flow.response

    async def json(self, method: str, path: str, body: Any = None, status: int = 200,
                   **kwargs: Any) -> Any:
        response = await self.call(method, path, body, **kwargs)
        payload = json.loads(response.content or b"")
        assert response.status_code == status, payload
        return payload

    async def state(self) -> dict[str, Any]:
        return dict(await self.json("GET", "/admin/api/state"))

    async def provider(self, name: str, state: str, timeout: float = 5.0) -> dict[str, Any]:
        """The provider's row once it reaches `state` (long polls, as the page does)."""
        async def wait() -> dict[str, Any]:
            version = ""
            while True:
                found = await self.json("GET", f"/admin/api/state?since={version}")
                rows = {row["name"]: row for row in found["providers"]}
                if rows.get(name, {}).get("state") == state:
                    return dict(rows[name])
                version = str(found["version"])
        return await asyncio.wait_for(wait(), timeout)

    def yaml(self) -> dict[str, Any]:
        return dict(yaml.safe_load(self.config.read_text()))

    async def model_ids(self) -> list[str]:
        flow = make_flow("GET", "/v1/models")
        await run_request_hooks(flow, [self.ingress, ModelsEndpoint(
            self.gateway, self.connections, self.local.model_ids)])
        assert flow.response is not None
        return [m["id"] for m in json.loads(flow.response.content or b"")["data"]]


@pytest.fixture
async def page(tmp_path: Path, keychain: MemoryKeyring) -> AsyncIterator[Page]:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    made = Page(config)
    with taddons.context(made.watcher) as tctx:
        tctx.configure(made.watcher, mitmllm_config=str(config))
        made.connections.running()
        yield made
        await made.connections.done()
    for answer in made.answers:  # whatever a test did: no stored secret ever came back
        assert KEY.encode() not in answer and OTHER_KEY.encode() not in answer


def custom(fake: FakeProvider, name: str = "Fake Lab", **extra: Any) -> dict[str, Any]:
    return {"name": name, "preset": "custom", "host": "127.0.0.1", "protocol": "http",
            "port": fake.port, "base_path": "/v1", "format": "openai", "auth": "api_key",
            **extra}


# --- the state ----------------------------------------------------------------------------


async def test_the_state_has_what_the_page_needs(page: Page) -> None:
    state = await page.state()
    assert state["providers"] == [] and state["local"]["state"] == "disabled"
    assert len(state["csrf"]) >= 32
    assert state["listen"] == {"url": "http://127.0.0.1:1337/v1", "token_required": False}
    assert [p["label"] for p in state["presets"]] == [
        "Anthropic", "OpenAI", "xAI", "OpenRouter", "Ollama", "LM Studio", "Custom"]
    ollama = next(p for p in state["presets"] if p["id"] == "ollama")["fields"]
    assert ollama["port"] == 11434 and ollama["auth"] == "none"
    assert state["choices"]["format"] == ["openai", "anthropic", "responses"]


async def test_a_long_poll_answers_when_something_changes(page: Page,
                                                          fakes: tuple[FakeProvider, ...]) -> None:
    version = (await page.state())["version"]
    assert (await page.json("GET", f"/admin/api/state?since={version - 1}"))["version"] \
        == version  # an old version: at once
    waiting = asyncio.ensure_future(page.json("GET", f"/admin/api/state?since={version}"))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # nothing changed yet: it waits
    await page.json("POST", "/admin/api/providers", {"settings": custom(fakes[0])}, status=201)
    changed = await asyncio.wait_for(waiting, 2)
    assert changed["version"] > version
    assert [row["name"] for row in changed["providers"]] == ["Fake Lab"]


# --- add, edit, enable, delete --------------------------------------------------------------


async def test_add_writes_the_file_and_the_keychain_and_connects(
        page: Page, keychain: MemoryKeyring, fakes: tuple[FakeProvider, ...]) -> None:
    added = await page.json("POST", "/admin/api/providers",
                            {"settings": custom(fakes[0]), "api_key": KEY}, status=201)
    assert added["provider"]["secrets"]["api_key"] == {"set": True, "origin": "keychain"}
    assert keychain.entries[("mitmllm", "Fake Lab")] == KEY
    assert KEY not in page.config.read_text()
    written = page.yaml()["providers"]
    assert written == [{"name": "Fake Lab", "preset": "custom", "host": "127.0.0.1",
                        "protocol": "http", "port": fakes[0].port, "auth": "api_key"}]
    assert "# keep me: a note after the providers\nlocal:" in page.config.read_text()
    row = await page.provider("Fake Lab", "connected")
    assert [m["use"] for m in row["models"]] == ["fake-lab/alpha", "fake-lab/beta"]
    assert fakes[0].requests[-1].headers["authorization"] == f"Bearer {KEY}"
    assert await page.model_ids() == ["fake-lab/alpha", "fake-lab/beta"]


async def test_headers_plain_and_secret(page: Page, keychain: MemoryKeyring,
                                        fakes: tuple[FakeProvider, ...]) -> None:
    settings = custom(fakes[0], auth="none", headers=[
        {"name": "X-Team", "value": "blue", "secret": False},
        {"name": "X-Org-Token", "value": None, "secret": True}])
    added = await page.json("POST", "/admin/api/providers",
                            {"settings": settings, "secret_headers": {"X-Org-Token": OTHER_KEY}},
                            status=201)
    provider = added["provider"]
    assert provider["settings"]["headers"] == settings["headers"]
    assert provider["secrets"]["headers"] == {"X-Org-Token": {"set": True,
                                                              "origin": "keychain"}}
    assert page.yaml()["providers"][0]["headers"] == {"X-Team": "blue"}
    assert page.yaml()["providers"][0]["secret_headers"] == ["X-Org-Token"]
    assert keychain.entries[("mitmllm", "Fake Lab:X-Org-Token")] == OTHER_KEY
    await page.provider("Fake Lab", "connected")
    seen = fakes[0].requests[-1].headers
    assert seen["x-team"] == "blue" and seen["x-org-token"] == OTHER_KEY

    # The secret header dropped: its keychain entry goes too.
    settings["headers"] = settings["headers"][:1]
    await page.json("PUT", "/admin/api/providers/Fake%20Lab", {"settings": settings})
    assert ("mitmllm", "Fake Lab:X-Org-Token") not in keychain.entries
    assert "secret_headers" not in page.yaml()["providers"][0]


async def test_edit_replaces_the_settings_and_reconnects(
        page: Page, keychain: MemoryKeyring, fakes: tuple[FakeProvider, ...]) -> None:
    await page.json("POST", "/admin/api/providers",
                    {"settings": custom(fakes[0]), "api_key": KEY}, status=201)
    await page.provider("Fake Lab", "connected")
    edited = await page.json("PUT", "/admin/api/providers/Fake%20Lab",
                             {"settings": custom(fakes[1], timeout="12.5")})
    assert edited["provider"]["settings"]["port"] == fakes[1].port
    assert keychain.entries[("mitmllm", "Fake Lab")] == KEY  # no api_key: kept
    row = await page.provider("Fake Lab", "connected")
    assert [m["id"] for m in row["models"]] == ["gamma"]
    assert page.yaml()["providers"][0]["timeout"] == 12.5
    assert fakes[1].requests[-1].headers["authorization"] == f"Bearer {KEY}"

    # A new key, then none: the keychain follows.
    await page.json("PUT", "/admin/api/providers/Fake%20Lab",
                    {"settings": custom(fakes[1]), "api_key": OTHER_KEY})
    assert keychain.entries[("mitmllm", "Fake Lab")] == OTHER_KEY
    assert "timeout" not in page.yaml()["providers"][0]  # left out: back to the default
    cleared = await page.json("PUT", "/admin/api/providers/Fake%20Lab",
                              {"settings": custom(fakes[1]), "clear_api_key": True})
    assert cleared["provider"]["secrets"]["api_key"]["set"] is False
    assert ("mitmllm", "Fake Lab") not in keychain.entries
    row = await page.provider("Fake Lab", "error")
    assert "set-key" in row["error"]


async def test_a_rename_moves_the_keychain_entries(page: Page, keychain: MemoryKeyring,
                                                   fakes: tuple[FakeProvider, ...]) -> None:
    await page.json("POST", "/admin/api/providers",
                    {"settings": custom(fakes[0]), "api_key": KEY}, status=201)
    await page.json("PUT", "/admin/api/providers/Fake%20Lab",
                    {"settings": custom(fakes[0], name="Lab2")})
    assert keychain.entries == {("mitmllm", "Lab2"): KEY}
    assert [p["name"] for p in page.yaml()["providers"]] == ["Lab2"]
    await page.provider("Lab2", "connected")


async def test_enable_disable_and_delete(page: Page, keychain: MemoryKeyring,
                                         fakes: tuple[FakeProvider, ...]) -> None:
    await page.json("POST", "/admin/api/providers",
                    {"settings": custom(fakes[0]), "api_key": KEY}, status=201)
    await page.provider("Fake Lab", "connected")
    off = await page.json("POST", "/admin/api/providers/fake-lab/enabled", {"enabled": False})
    assert off["provider"]["state"] == "disabled"
    assert page.yaml()["providers"][0]["enabled"] is False
    assert await page.model_ids() == []
    await page.json("POST", "/admin/api/providers/fake-lab/enabled", {"enabled": True})
    assert "enabled" not in page.yaml()["providers"][0]
    await page.provider("Fake Lab", "connected")

    removed = await page.json("DELETE", "/admin/api/providers/Fake%20Lab")
    assert removed == {"removed": "Fake Lab", "keychain_entries": 1}
    assert page.yaml()["providers"] == [] and keychain.entries == {}
    assert "# keep me: a note after the providers" in page.config.read_text()
    assert (await page.state())["providers"] == []
    assert await page.model_ids() == []


async def test_reconnect_picks_up_a_key_set_elsewhere(page: Page, keychain: MemoryKeyring,
                                                      fakes: tuple[FakeProvider, ...]) -> None:
    await page.json("POST", "/admin/api/providers", {"settings": custom(fakes[0])}, status=201)
    assert "set-key" in (await page.provider("Fake Lab", "error"))["error"]
    keychain.entries[("mitmllm", "Fake Lab")] = KEY  # as `mitmllm providers set-key` does
    await page.json("POST", "/admin/api/providers/Fake%20Lab/reconnect", status=202)
    await page.provider("Fake Lab", "connected")


async def test_test_connection_uses_the_typed_key_and_saves_nothing(
        page: Page, keychain: MemoryKeyring, fakes: tuple[FakeProvider, ...]) -> None:
    result = await page.json("POST", "/admin/api/test",
                             {"settings": custom(fakes[0]), "api_key": KEY})
    assert result == {"state": "connected", "error": None, "models": ["alpha", "beta"]}
    assert fakes[0].requests[-1].headers["authorization"] == f"Bearer {KEY}"
    assert page.yaml()["providers"] == [] and keychain.entries == {}

    fakes[0].models_status = 401
    failed = await page.json("POST", "/admin/api/test",
                             {"settings": custom(fakes[0]), "api_key": KEY})
    assert failed["state"] == "error" and "401" in failed["error"]


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(("settings", "field", "words"), [
    ({"port": 99999}, "port", "expected an integer from 1 to 65535, got 99999"),
    ({"format": "soap"}, "format", "expected one of openai, anthropic, responses"),
    ({"name": ""}, None, "field 'name': expected a non-empty string"),
    ({"name": "local"}, "name", "'local' is reserved"),
    ({"timeout": "soon"}, "timeout", "expected a number"),
    ({"colour": "red"}, "colour", "unknown setting"),
    ({"headers": [{"name": "X-A", "value": "1"}, {"name": "x-a", "value": "2"}]}, "headers",
     "given twice"),
])
async def test_validation_errors_name_the_field(page: Page, fakes: tuple[FakeProvider, ...],
                                                settings: dict[str, Any], field: str | None,
                                                words: str) -> None:
    answer = await page.json("POST", "/admin/api/providers",
                             {"settings": {**custom(fakes[0]), **settings}}, status=400)
    assert words in answer["error"]["message"]
    assert answer["error"]["field"] == field
    assert page.yaml()["providers"] == []


async def test_other_refusals(page: Page, fakes: tuple[FakeProvider, ...]) -> None:
    await page.json("POST", "/admin/api/providers", {"settings": custom(fakes[0])}, status=201)
    clash = await page.json("POST", "/admin/api/providers",
                            {"settings": custom(fakes[0], name="fake lab")}, status=409)
    assert "already exists" in clash["error"]["message"]
    await page.json("PUT", "/admin/api/providers/nobody", {"settings": custom(fakes[0])},
                    status=404)
    await page.json("DELETE", "/admin/api/providers/nobody", status=404)
    await page.json("GET", "/admin/api/providers", status=405)
    await page.json("GET", "/admin/api/nothing-here", status=404)
    empty = await page.json("POST", "/admin/api/providers", status=400)
    assert empty["error"] == {"message": "field 'settings': expected an object of provider "
                                         "settings", "field": "settings"}
    broken = make_flow("POST", "/admin/api/test", content=b"{not json",
                       headers={"x-csrf-token": page.page.csrf})
    await run_request_hooks(broken, [page.ingress, page.page])
    assert broken.response is not None and broken.response.status_code == 400


# --- who may call ----------------------------------------------------------------------------


async def test_changes_need_the_csrf_token_and_the_pages_own_origin(
        page: Page, fakes: tuple[FakeProvider, ...]) -> None:
    body = {"settings": custom(fakes[0])}
    for kwargs, words in [
        ({"csrf": False}, "X-CSRF-Token"),
        ({"csrf": False, "headers": {"x-csrf-token": "guess"}}, "X-CSRF-Token"),
        ({"headers": {"origin": "https://evil.example"}}, "Origin"),
        ({"headers": {"origin": "null"}}, "Origin: null"),
        ({"headers": {"sec-fetch-site": "cross-site"}}, "another site"),
    ]:
        answer = await page.json("POST", "/admin/api/providers", body, status=403, **kwargs)
        assert words in answer["error"]["message"], answer
    assert page.yaml()["providers"] == []
    # The page itself: same origin, with the token.
    await page.json("POST", "/admin/api/providers", body, status=201,
                    headers={"origin": "http://127.0.0.1:1337",
                             "sec-fetch-site": "same-origin"})


async def test_a_rebinding_host_and_remote_peers_are_refused(page: Page) -> None:
    answer = await page.json("GET", "/admin/api/state", status=403,
                             headers={"host": "evil.example:1337"})
    assert "csrf" not in answer and "not this gateway's address" in answer["error"]["message"]
    assert (await page.call("GET", "/admin", headers={"host": "evil.example"})).status_code \
        == 403
    answer = await page.json("GET", "/admin/api/state", status=403, peer="192.168.1.20")
    assert "loopback" in answer["error"]["message"]
    doubled = make_flow("GET", "/admin/api/state", headers={"host": "evil.example"})
    await run_request_hooks(doubled, [page.ingress, page.page])  # two Host headers
    assert doubled.response is not None and doubled.response.status_code == 403
    await page.json("GET", "/admin/api/state", headers={"host": "localhost:1337"})
    await page.json("GET", "/admin/api/state", headers={"host": "[::1]:1337"}, peer="::1")


async def test_with_a_listen_token_the_api_needs_it_and_the_shell_does_not(
        tmp_path: Path, keychain: MemoryKeyring) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.replace("  port: 1337\n", "  port: 1337\n  token: tok-5150\n"))
    assets = tmp_path / "ui"
    assets.mkdir()
    (assets / "index.html").write_text("<!doctype html><title>Providers</title>")
    made = Page(config, assets)
    with taddons.context(made.watcher) as tctx:
        tctx.configure(made.watcher, mitmllm_config=str(config))
        shell = await made.call("GET", "/admin", peer="10.0.0.7")
        assert shell.status_code == 200 and b"<title>Providers</title>" in (shell.content or b"")
        assert "default-src 'self'" in shell.headers["content-security-policy"]
        assert (await made.call("GET", "/admin/api/state", peer="10.0.0.7")).status_code == 401
        state = await made.json("GET", "/admin/api/state", peer="10.0.0.7",
                                headers={"authorization": "Bearer tok-5150"})
        assert state["listen"]["token_required"] is True
        assert "tok-5150" not in json.dumps(state)
        missing = await made.call("GET", "/admin/assets/nothing.js")
        assert missing.status_code == 404
        escape = await made.call("GET", "/admin/assets/..%2Fconfig.yaml")
        assert escape.status_code == 404
