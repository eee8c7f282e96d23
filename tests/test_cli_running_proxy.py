"""After `providers set-key` (and `remove`, and an `edit` of secret headers) the CLI tells
the mitmllm running on its config's listen address to reconnect the provider
(cli/running_proxy.py), through the admin API of docs/admin.md: `GET /admin/api/state`
for the CSRF token, then `POST /admin/api/providers/NAME/reconnect`. Best effort: without a
proxy nothing is said and nothing waits long.

The proxy here is a small aiohttp fake of those two endpoints that checks what the page's
backend checks (the listen token, the CSRF header) and records every request, to show
that no key travels with them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from support.cli import SECRET, Cli
from support.file_keyring import BACKEND as FILE_BACKEND
from support.file_keyring import FILE_ENV
from support.keyrings import FAIL_BACKEND
from support.proxy import free_port

from mitmllm.cli.running_proxy import proxy_url, reconnect
from mitmllm.config.model import ListenConfig

CSRF = "csrf-4f1d9a"
TOKEN = "listen-token-77c3"
TESTS = Path(__file__).resolve().parent


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: str


@dataclass
class FakeAdmin:
    """`GET /admin/api/state` and `POST /admin/api/providers/NAME/reconnect`, as docs/admin.md
    describes them, in a thread of their own."""

    token: str | None = None
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    async def _record(self, request: web.Request) -> None:
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.seen.append(Seen(request.method, request.path, headers, await request.text()))

    def _authorised(self, request: web.Request) -> bool:
        return self.token is None or request.headers.get("Authorization") == \
            f"Bearer {self.token}"

    async def state(self, request: web.Request) -> web.Response:
        await self._record(request)
        if not self._authorised(request):
            return web.json_response({"error": {"message": "token", "field": None}}, status=401)
        return web.json_response({"version": 1, "csrf": CSRF, "providers": []})

    async def reconnect(self, request: web.Request) -> web.Response:
        await self._record(request)
        if not self._authorised(request):
            return web.json_response({"error": {"message": "token", "field": None}}, status=401)
        if request.headers.get("X-CSRF-Token") != CSRF:
            return web.json_response({"error": {"message": "csrf", "field": None}}, status=403)
        name = request.match_info["name"]
        return web.json_response({"provider": {"name": name, "state": "connecting"}},
                                 status=202)

    def reconnects(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]


@pytest.fixture
def admin() -> Iterator[FakeAdmin]:
    fake = FakeAdmin()
    app = web.Application()
    app.router.add_get("/admin/api/state", fake.state)
    app.router.add_post("/admin/api/providers/{name}/reconnect", fake.reconnect)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        fake.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    yield fake
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def config_for(port: int, token: str | None = None) -> str:
    listen = f"listen:\n  host: 127.0.0.1\n  port: {port}\n"
    if token:
        listen += f"  token: {token}\n"
    return (listen + "providers:\n  - name: openai\n  - name: corp\n    host: corp.test\n"
            "    auth: api_key\n    secret_headers: [X-Org]\nlocal:\n  enabled: false\n")


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The real CLI, with a keychain kept in a file (so set-key works anywhere)."""
    return Cli(tmp_path, backend=FILE_BACKEND,
               env={FILE_ENV: str(tmp_path / "keychain.json"), "PYTHONPATH": str(TESTS)})


def keychain(tmp_path: Path) -> dict[str, str]:
    return dict(json.loads((tmp_path / "keychain.json").read_text(encoding="utf-8")))


def test_set_key_makes_the_running_proxy_reconnect(cli: Cli, admin: FakeAdmin,
                                                   tmp_path: Path) -> None:
    admin.token = TOKEN
    cli.write(config_for(admin.port, TOKEN))
    result = cli("providers", "set-key", "openai", stdin=SECRET + "\n").ok()
    assert result.stdout.splitlines() == [
        "Stored the API key of 'openai' in the keychain (service mitmllm, account openai).",
        f"The running mitmllm on http://127.0.0.1:{admin.port} reconnected 'openai'.",
    ]
    assert keychain(tmp_path) == {"mitmllm/openai": SECRET}
    state, post = admin.seen
    assert (state.method, state.path) == ("GET", "/admin/api/state")
    assert (post.method, post.path) == ("POST", "/admin/api/providers/openai/reconnect")
    assert post.headers["x-csrf-token"] == CSRF
    for request in admin.seen:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert SECRET not in request.body and SECRET not in json.dumps(request.headers)
    assert SECRET not in result.stdout + result.stderr


def test_a_secret_header_reconnects_too(cli: Cli, admin: FakeAdmin) -> None:
    cli.write(config_for(admin.port))
    out = cli("providers", "set-key", "corp", "--header", "X-Org", stdin="org-1").ok().stdout
    assert out.splitlines()[-1] == (f"The running mitmllm on http://127.0.0.1:{admin.port} "
                                    "reconnected 'corp'.")
    assert [s.path for s in admin.reconnects()] == ["/admin/api/providers/corp/reconnect"]
    assert "authorization" not in admin.seen[0].headers  # no listen token configured


def test_edit_reconnects_only_when_secret_headers_change(cli: Cli, admin: FakeAdmin) -> None:
    cli.write(config_for(admin.port))
    plain = cli("providers", "edit", "corp", "--timeout", "5").ok().stdout
    assert "running mitmllm" not in plain and admin.seen == []
    for change in (["--secret-header", "X-New"], ["--remove-secret-header", "X-Org"]):
        out = cli("providers", "edit", "corp", *change).ok().stdout
        assert out.splitlines()[-1].endswith("reconnected 'corp'."), out
    assert len(admin.reconnects()) == 2


def test_remove_tells_the_running_proxy(cli: Cli, admin: FakeAdmin) -> None:
    cli.write(config_for(admin.port))
    out = cli("providers", "remove", "corp", backend=FAIL_BACKEND).ok().stdout
    assert out.splitlines() == [
        "Removed provider 'corp'.",
        f"The running mitmllm on http://127.0.0.1:{admin.port} dropped its cached keys of "
        "'corp'."]


def test_a_proxy_that_refuses_is_not_reported(cli: Cli, admin: FakeAdmin) -> None:
    admin.token = TOKEN  # the config has no token: the proxy answers 401
    cli.write(config_for(admin.port))
    out = cli("providers", "set-key", "openai", stdin=SECRET).ok().stdout
    assert out.splitlines() == [
        "Stored the API key of 'openai' in the keychain (service mitmllm, account openai)."]
    assert admin.reconnects() == []


def test_without_a_running_proxy_set_key_says_nothing_more(cli: Cli) -> None:
    cli.write(config_for(free_port()))
    result = cli("providers", "set-key", "openai", stdin=SECRET).ok()
    assert result.stdout.splitlines() == [
        "Stored the API key of 'openai' in the keychain (service mitmllm, account openai)."]
    assert result.stderr == ""


def test_no_proxy_costs_no_time_and_a_silent_one_at_most_a_second() -> None:
    started = time.monotonic()
    assert reconnect(ListenConfig(port=free_port()), "openai") is None
    assert time.monotonic() - started < 0.5
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        assert reconnect(ListenConfig(port=silent.getsockname()[1]), "openai") is None
        assert time.monotonic() - started < 1.5


def test_a_wrong_csrf_token_is_refused_by_the_fake(admin: FakeAdmin) -> None:
    """The fake holds the client to the CSRF rule: without the header, 403."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{admin.port}/admin/api/providers/openai/reconnect", data=b"{}",
        method="POST")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 403


def test_the_environments_http_proxy_is_not_used(admin: FakeAdmin,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert reconnect(ListenConfig(port=admin.port), "my gateway") == \
        f"http://127.0.0.1:{admin.port}"
    assert admin.reconnects()[0].path == "/admin/api/providers/my gateway/reconnect"


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:1337"), ("0.0.0.0", "http://127.0.0.1:1337"),
    ("::", "http://[::1]:1337"), ("::1", "http://[::1]:1337"),
    ("localhost", "http://localhost:1337"), ("192.168.1.20", "http://192.168.1.20:1337")])
def test_the_proxy_is_reached_where_it_listens(host: str, url: str) -> None:
    assert proxy_url(ListenConfig(host=host, port=1337, token="t")) == url
