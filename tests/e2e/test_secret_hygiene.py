"""End to end, issue 12 item 5: secret hygiene. One session a real user could run, then a
scan for every secret everywhere it could leak.

Every secret is a unique random marker (`sk-hyg-KIND-<uuid hex>`), so a hit is never a
coincidence; a scan also looks for either half of the hex part alone, so a secret shown in
part (cut, or masked at one end) counts too. The secrets, in four groups, each scanned on
its own so one leak neither hides nor is hidden by another:

- `provider-keys`: a key in the keychain (stored with the real `providers set-key NAME` fed
  on stdin) and a secret header value (`set-key NAME --header H`), both of `kc`; a key in
  `MITMLLM_KEY_ENVY`; a key in a preset's variable, `OPENROUTER_API_KEY`, for `router`, a
  provider of preset `openrouter` whose host is pointed at a fake;
- `page-keys`: a key and a secret header value typed into the Providers page
  (`POST /admin/api/providers`, then the key again with `PUT /admin/api/providers/paged`),
  and a key typed and tested unsaved (`POST /admin/api/test`);
- `client-keys`: the listen token (`listen.token`: in the config file by design, nowhere
  else), the clients' own keys (the openai SDK's `Authorization: Bearer`, with `api-key`
  and a cookie beside it; an `x-api-key` beside the anthropic SDK, whose `api_key` goes as
  Bearer) and a wrong listen token (refused);
- `reflected`: the keys (and a secret header) of three hostile providers, one per format,
  that echo the credentials they got, as some real providers do ("Incorrect API key
  provided: ..."): in their model list's 401, in 401 and 500 error bodies, and in an error
  event mid-stream.

The session, all on 127.0.0.1 against fake providers of each format (openai: `router`,
anthropic: `kc`, responses: `envy`, and the Providers page's `paged`, openai):

1. The config file as a user writes it (listen token, the hostile providers), then the CLI:
   `providers add` (kc, envy, router, an unreachable `gone`), `edit`, `set-key` (key and
   secret header, on stdin), `list`, `test` (kc, router, hostile-openai), `models`.
2. `mitmllm web -v --save FILE` (debug logging): every client format (openai SDK chat and
   responses, anthropic SDK messages), streamed and whole, to every provider format; the
   hostile providers' reflections from every client format; an unknown model (404), bad
   JSON in each client format (400), a wrong listen token (401), an unreachable provider
   (502), a provider timeout (504); the Providers page API (`GET /admin/api/state`, a
   provider added with its key and secret header, tested with a typed key, edited, and two
   connection tests with the stored keys), `/admin/providers`,
   `/v1/models`, `/`; a replay from mitmweb (the provider must get the real key); then every
   mitmweb REST read: `/flows`, `/flows/dump`, `/events`, `/options`, `/state`, each flow's
   request and response in the views `mitmllm`, `raw` and `auto` and as `content.data`, the
   exports curl, httpie, raw, raw_request, raw_response, and `save.har`.
3. `mitmllm web --save FILE2` without `-v` (info logging), a short session.
4. `mitmllm web -v` with mitmproxy's `proxy_debug` switched on in mitmweb's Options (the
   most verbose logging a user can reach), a short session.
5. CLI: `providers remove` of the providers whose keys are in the keychain.

Places scanned, each for each group (`test_no_secret[PLACE-GROUP]`):

- `config`: the config file after every step that writes it (the listen token excepted);
- `files`: every other file left in the session's directory, and every file in HOME (the
  private one of `./dev test`) but the keychain's own;
- `cli`: stdout and stderr of every CLI command;
- `log-debug`, `log-info`, `log-proxy-debug`: the proxy's output (stdout and stderr) of
  each run (and, with proxy_debug, mitmweb's event log);
- `saved-bytes`: the `--save` files' raw bytes;
- `saved-decoded`: the same read with `mitmproxy.io.FlowReader`: each flow's whole state
  (headers, bodies, metadata, comment, error) and its decoded bodies;
- `saved-mitmdump`: the saved flows as stock `mitmdump -nr FILE --flow-detail 4` shows them
  with mitmllm's views (`addons/view_script.py`);
- `har`: mitmweb's `save.har` export, base64 bodies decoded;
- `mitmweb-api`: every mitmweb REST answer collected (list above);
- `mitmweb-updates`: every message of mitmweb's `/updates` websocket, what an open mitmweb
  tab receives live (the replay included);
- `client-answers`: every HTTP answer the clients got (status, headers, body or every stream
  event, error bodies included, decompressed) and every exception message the SDKs raised;
- `providers-page`: every answer of the Providers page API and `/admin/providers`;
- `argv`: the command line of every process started (`/proc/PID/cmdline` of each mitmllm
  process while it runs, `set-key` while it waits for its secret), and `ps -eo args` of the
  whole machine meanwhile.

Where the secrets must be, and are checked to be: the keychain (until `providers remove`),
the request each provider received (its own key in its own auth header, nowhere else; no
client key nor the listen token in any provider's request), and the proxy's environment.
A leak found is marked `xfail(strict=True)` where it shows (`KNOWN_LEAKS`, empty now).

Needs the private Secret Service of `./dev test` (MITMLLM_TEST_SECRET_SERVICE=1); skipped
without it, and a failure when CI is set (CI installs gnome-keyring and dbus).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import httpx2 as httpx
import keyring
import keyring.backends.SecretService
import keyring.errors
import openai
import pytest
from aiohttp import web
from mitmproxy import http
from mitmproxy import io as flow_io
from mitmproxy.net import encoding
from support.fake_provider import FakeProvider, Hang, Json, ProviderThread, Sse, sse_lines
from support.proxy import MitmllmProcess, free_port, isolated_env
from support.requirements import missing

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
SERVICE = "mitmllm"
XSRF = "5eed" * 8  # mitmweb's POSTs: the header must match the cookie
TIMEOUT = 10.0


def marker(kind: str) -> str:
    return f"sk-hyg-{kind}-{uuid.uuid4().hex}"


KC_KEY = marker("keychain")
KC_HEADER = marker("keychain-header")
ENV_KEY = marker("env")
PRESET_KEY = marker("preset")
PAGE_KEY = marker("page")
PAGE_HEADER = marker("page-header")
PAGE_TYPED = marker("page-typed")  # typed into the page's form, tested, never saved
LISTEN_TOKEN = marker("listen")
CLIENT_BEARER = marker("client-bearer")
CLIENT_X_API_KEY = marker("client-x-api-key")
CLIENT_API_KEY = marker("client-api-key")
CLIENT_COOKIE = marker("client-cookie")
WRONG_TOKEN = marker("wrong-token")
HOSTILE_KEYS = {fmt: marker(f"hostile-{fmt}") for fmt in ("openai", "anthropic", "responses")}
HOSTILE_HEADER = marker("hostile-header")  # a secret header of hostile-openai
# The secrets by where they come from; each place is scanned for each group on its own, so
# one leak does not hide another.
GROUPS: dict[str, dict[str, str]] = {
    "provider-keys": {
        "keychain key (kc)": KC_KEY,
        "keychain secret header (kc X-Org-Token)": KC_HEADER,
        "MITMLLM_KEY_ENVY": ENV_KEY,
        "OPENROUTER_API_KEY (router)": PRESET_KEY,
    },
    "page-keys": {
        "Providers page key (paged)": PAGE_KEY,
        "Providers page secret header (paged X-Page-Token)": PAGE_HEADER,
        "Providers page key tested unsaved": PAGE_TYPED,
    },
    "client-keys": {
        "listen token": LISTEN_TOKEN,
        "client Authorization: Bearer": CLIENT_BEARER,
        "client x-api-key": CLIENT_X_API_KEY,
        "client api-key": CLIENT_API_KEY,
        "client cookie": CLIENT_COOKIE,
        "wrong listen token": WRONG_TOKEN,
    },
    # What the hostile providers echo: their own key, and a secret header.
    "reflected": {
        **{f"hostile-{fmt} key": key for fmt, key in HOSTILE_KEYS.items()},
        "hostile-openai secret header": HOSTILE_HEADER,
    },
}
EVERY_SECRET = {name: secret for group in GROUPS.values() for name, secret in group.items()}

ENV = {
    "PYTHON_KEYRING_BACKEND": SECRET_SERVICE,
    "MITMLLM_KEY_ENVY": ENV_KEY,
    "OPENROUTER_API_KEY": PRESET_KEY,
    **{f"MITMLLM_KEY_HOSTILE_{fmt.upper()}": key for fmt, key in HOSTILE_KEYS.items()},
    "MITMLLM_KEY_HOSTILE_OPENAI_X_HOSTILE_TOKEN": HOSTILE_HEADER,
}

ENDPOINTS = {"openai": "/chat/completions", "anthropic": "/messages", "responses": "/responses"}
# The providers of the traffic matrix, by format, and the model a client asks for.
MATRIX = {"openai": ("router", "router/gpt-x"), "anthropic": ("kc", "kc/claude-x"),
          "responses": ("envy", "envy/resp-x")}

PLACES = {
    "config": "the config file, after every step that writes it (the listen token excepted)",
    "files": "every other file left in the session's directories",
    "cli": "stdout and stderr of every CLI command",
    "log-debug": "the output of `mitmllm web -v`",
    "log-info": "the output of `mitmllm web`",
    "log-proxy-debug": "the output (and mitmweb's event log) of `mitmllm web -v` with "
                       "proxy_debug on",
    "saved-bytes": "the --save files, raw bytes",
    "saved-decoded": "the --save files read with mitmproxy.io.FlowReader",
    "saved-mitmdump": "the --save files shown by mitmdump with mitmllm's views",
    "har": "mitmweb's save.har",
    "mitmweb-api": "every mitmweb REST answer",
    "mitmweb-updates": "every message of mitmweb's /updates websocket",
    "client-answers": "every HTTP answer the clients got, and the SDKs' exception messages",
    "providers-page": "every answer of the Providers page API and /admin/providers",
    "argv": "the command line of every process started, and ps -eo args meanwhile",
}


def vector(name: str) -> Any:
    return json.loads(next(VECTORS.glob(f"{name}_*.json")).read_text())


def stream_reply(fmt: str) -> Sse:
    name, key = {"openai": ("stream_40", "openai_sse"), "anthropic": ("stream_20", "anthropic_sse"),
                 "responses": ("stream_34", "responses_sse")}[fmt]
    return Sse(sse_lines(vector(name)[key]))


def whole_reply(fmt: str) -> Json:
    name, key = {"openai": ("nonstream_16", "openai_response"),
                 "anthropic": ("nonstream_11", "anthropic_response"),
                 "responses": ("nonstream_13", "responses_response")}[fmt]
    return Json(200, vector(name)[key])


# --- the evidence ------------------------------------------------------------------------

@dataclass
class Evidence:
    """What each place held, as (label, bytes), for the scans."""

    places: dict[str, list[tuple[str, bytes]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, place: str, label: str, data: str | bytes) -> None:
        assert place in PLACES, place
        raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        self.places[place].append((label, raw))


def variants(secret: str) -> list[str]:
    """The secret, and each half of its random part: a secret shown in part is a leak."""
    core = secret.rsplit("-", 1)[1]
    return [secret, core[:16], core[16:]]


def leaks(evidence: list[tuple[str, bytes]], secrets: dict[str, str]) -> list[str]:
    found = []
    for label, data in evidence:
        for name, secret in secrets.items():
            for variant in variants(secret):
                at = data.find(variant.encode())
                if at >= 0:
                    context = data[max(0, at - 120):at + len(variant) + 60]
                    found.append(f"{name} in {label}: ...{context.decode(errors='replace')}...")
                    break
    return found


# --- a provider that echoes the credentials it got ---------------------------------------

@dataclass
class Reflect(Json):
    """An answer that echoes the provider's credentials: an error body with `status`, or
    with status 200 a stream that breaks off with an error event (the body is made then)."""


def reflect(status: int) -> Reflect:
    return Reflect(status, None)


class HostileProvider(FakeProvider):
    """Echoes the key (and secret header) it received, in the error message of its model
    list, of error bodies and of a stream's error event, in its own format."""

    def echo(self, request: web.Request) -> str:
        got = request.headers.get("x-api-key") or request.headers.get("authorization", "")
        text = f"Incorrect API key provided: {got}."
        if "x-hostile-token" in request.headers:
            text += f" Nor is the org token {request.headers['x-hostile-token']} valid."
        return text

    def error_body(self, request: web.Request, status: int) -> dict[str, Any]:
        message = self.echo(request)
        if self.format == "anthropic":
            kind = "authentication_error" if status == 401 else "api_error"
            return {"type": "error", "error": {"type": kind, "message": message}}
        return {"error": {"message": message, "type": "invalid_request_error", "param": None,
                          "code": "invalid_api_key" if status == 401 else "server_error"}}

    def _models(self, request: web.Request) -> web.Response:
        return web.json_response(self.error_body(request, 401), status=401)

    async def _send(self, request: web.Request, reply: Any) -> web.StreamResponse:
        if not isinstance(reply, Reflect):
            return await super()._send(request, reply)
        if reply.status != 200:
            return web.json_response(self.error_body(request, reply.status),
                                     status=reply.status)
        response = web.StreamResponse(status=200, headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for chunk in self.broken_stream(request):
            await response.write(chunk)
        await response.write_eof()
        return response

    def broken_stream(self, request: web.Request) -> list[bytes]:
        message = self.echo(request)
        if self.format == "anthropic":
            events = sse_lines(vector("stream_32")["anthropic_sse"])
            error: dict[str, Any] = {"type": "error", "error": {
                "type": "authentication_error", "message": message}}
            return [*events[:-1], f"event: error\ndata: {json.dumps(error)}\n\n".encode()]
        if self.format == "responses":
            events = sse_lines(vector("stream_34")["responses_sse"])[:2]
            error = {"type": "error", "code": "invalid_api_key", "message": message,
                     "param": None, "sequence_number": 2}
            return [*events, f"event: error\ndata: {json.dumps(error)}\n\n".encode()]
        first = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"},
                              "finish_reason": None}]}
        error = {"error": {"message": message, "type": "invalid_request_error",
                           "code": "invalid_api_key"}}
        return [f"data: {json.dumps(first)}\n\n".encode(),
                f"data: {json.dumps(error)}\n\n".encode()]


# --- clients that keep every answer they get ---------------------------------------------

@dataclass
class Answer:
    what: str
    request_headers: dict[str, str]
    status: int
    headers: list[tuple[str, str]]
    chunks: list[bytes] = field(default_factory=list)

    def body(self) -> bytes:
        raw = b"".join(self.chunks)
        coding = dict((k.lower(), v) for k, v in self.headers).get("content-encoding")
        if coding and coding != "identity":
            with suppress(ValueError):
                decoded = encoding.decode(raw, coding)
                return raw + b"\n" + (decoded if isinstance(decoded, bytes) else
                                      decoded.encode())
        return raw

    def text(self) -> bytes:
        head = "".join(f"{k}: {v}\n" for k, v in self.headers)
        return f"HTTP {self.status}\n{head}\n".encode() + self.body()


class _Tee(httpx.SyncByteStream):
    def __init__(self, inner: Any, chunks: list[bytes]):
        self.inner = inner
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.chunks.append(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


class Recorder(httpx.HTTPTransport):
    """The transport of every client here: each answer is kept as the client read it."""

    def __init__(self, answers: list[Answer]):
        super().__init__()
        self.answers = answers

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        answer = Answer(f"{request.method} {request.url.path}", dict(request.headers),
                        response.status_code, list(response.headers.multi_items()))
        self.answers.append(answer)
        response.stream = _Tee(response.stream, answer.chunks)
        return response


@dataclass
class Clients:
    chat: openai.OpenAI  # the openai SDK: chat completions and responses
    messages: anthropic.Anthropic  # the anthropic SDK
    raw: httpx.Client  # bad JSON, as curl would send it
    admin: httpx.Client  # the Providers page's calls
    wrong: openai.OpenAI  # a wrong listen token
    answers: list[Answer]
    admin_answers: list[Answer]
    errors: list[str]  # what the SDKs raised


def clients_for(url: str) -> Clients:
    answers: list[Answer] = []
    admin_answers: list[Answer] = []

    def recorded() -> httpx.Client:
        return httpx.Client(transport=Recorder(answers), timeout=TIMEOUT)

    # The openai SDK authenticates with the listen token in x-api-key, and sends its own key
    # as Bearer (and an api-key and a cookie); the anthropic SDK the other way round (its
    # `api_key` goes as Bearer).
    extra = {"x-api-key": LISTEN_TOKEN, "api-key": CLIENT_API_KEY,
             "cookie": f"session={CLIENT_COOKIE}"}
    return Clients(
        chat=openai.OpenAI(base_url=url + "/v1", api_key=CLIENT_BEARER, max_retries=0,
                           default_headers=extra, http_client=recorded()),
        messages=anthropic.Anthropic(
            base_url=url, api_key=LISTEN_TOKEN, max_retries=0, http_client=recorded(),
            default_headers={"x-api-key": CLIENT_X_API_KEY}),
        raw=httpx.Client(transport=Recorder(answers), timeout=TIMEOUT, headers={
            "authorization": f"Bearer {CLIENT_BEARER}", "x-api-key": LISTEN_TOKEN}),
        admin=httpx.Client(transport=Recorder(admin_answers), timeout=TIMEOUT,
                           headers={"authorization": f"Bearer {LISTEN_TOKEN}"}),
        wrong=openai.OpenAI(base_url=url + "/v1", api_key=WRONG_TOKEN, max_retries=0,
                            http_client=recorded()),
        answers=answers, admin_answers=admin_answers, errors=[])


MESSAGES: Any = [{"role": "user", "content": "hello"}]  # the SDKs' own param types


def ask(clients: Clients, client: str, model: str, stream: bool) -> str | None:
    """One request in the client's format, read to its end; an SDK error is kept, and
    returned."""
    try:
        if client == "openai":
            if stream:
                for _ in clients.chat.chat.completions.create(model=model, messages=MESSAGES,
                                                              stream=True):
                    pass
            else:
                clients.chat.chat.completions.create(model=model, messages=MESSAGES)
        elif client == "anthropic":
            if stream:
                for _ in clients.messages.messages.create(model=model, max_tokens=64,
                                                          messages=MESSAGES, stream=True):
                    pass
            else:
                clients.messages.messages.create(model=model, max_tokens=64, messages=MESSAGES)
        elif stream:
            for _ in clients.chat.responses.create(model=model, input="hello", stream=True):
                pass
        else:
            clients.chat.responses.create(model=model, input="hello")
    except (openai.APIError, anthropic.APIError) as exc:
        error = f"{client} {model} stream={stream}: {type(exc).__name__}: {exc}"
        clients.errors.append(error)
        return error
    return None


# --- mitmweb -----------------------------------------------------------------------------

class Web:
    """mitmweb's REST API, each answer kept as evidence."""

    def __init__(self, port: int, log: str, evidence: Evidence, place: str = "mitmweb-api"):
        token = log.split("token=", 1)[1].split()[0] if "token=" in log else ""
        assert token, log
        self.token = token
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(headers={"Authorization": f"Bearer {token}"},
                                   timeout=TIMEOUT)
        self.evidence = evidence
        self.place = place
        self.reads = 0

    def get(self, path: str) -> httpx.Response:
        answer = self.client.get(self.url + path)
        self.reads += 1
        self.evidence.add(self.place, f"mitmweb GET {path} ({answer.status_code})",
                          answer.content)
        return answer

    def post(self, path: str, payload: Any = None) -> httpx.Response:
        answer = self.client.post(self.url + path, json=payload, headers={
            "X-XSRFToken": XSRF, "Cookie": f"_mitmproxy_xsrf={XSRF}"})
        self.reads += 1
        self.evidence.add(self.place, f"mitmweb POST {path} ({answer.status_code})",
                          answer.content)
        return answer

    def command(self, name: str, *arguments: str) -> Any:
        answer = self.post(f"/commands/{name}", {"arguments": list(arguments)})
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert "error" not in found, found
        return found["value"]

    def flows(self) -> list[dict[str, Any]]:
        return list(self.get("/flows").json())

    def settled(self, count: int) -> list[dict[str, Any]]:
        """The flows, once at least `count` exist and every one has ended."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            flows = self.flows()
            ended = [f for f in flows if f.get("error") or (
                f.get("response") and f["response"].get("timestamp_end"))]
            if (len(flows) >= count and len(ended) == len(flows)) or \
                    time.monotonic() > deadline:
                return flows
            time.sleep(0.1)

    def read_everything(self, har: Path) -> int:
        """Every read a mitmweb user has of every flow; the number of flows."""
        for path in ("/flows/dump", "/events", "/options", "/state"):
            self.get(path)
        flows = self.flows()
        reads = []
        for flow in flows:
            sides = ["request"] + (["response"] if flow.get("response") else [])
            for side in sides:
                for view in ("mitmllm", "raw", "auto"):
                    reads.append(f"/flows/{flow['id']}/{side}/content/{view}.json")
                reads.append(f"/flows/{flow['id']}/{side}/content.data")
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self.get, reads))
        for flow in flows:
            forms = ["curl", "httpie", "raw", "raw_request"]
            if flow.get("response"):
                forms.append("raw_response")
            for form in forms:
                self.command("export", form, "@" + flow["id"])
        self.command("save.har", "@all", str(har))
        return len(flows)


class Updates:
    """mitmweb's `/updates` websocket, as an open mitmweb tab receives it."""

    def __init__(self, web: Web):
        self.url = f"ws://127.0.0.1:{web.port}/updates?token={web.token}"
        self.messages: list[bytes] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True,
                                       name="mitmweb updates")
        self.thread.start()
        assert self.ready.wait(TIMEOUT), "mitmweb's websocket did not open"

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(self.url) as ws:
            self.ready.set()
            async for message in ws:
                if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    data = message.data
                    self.messages.append(data.encode() if isinstance(data, str) else data)

    def stop(self) -> None:
        self.thread.join(TIMEOUT)


# --- processes ---------------------------------------------------------------------------

def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with suppress(OSError):
            for child in (task / "children").read_text().split():
                found += [int(child), *descendants(int(child))]
    return found


def ps_snapshot() -> bytes:
    return subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, timeout=10).stdout


# --- the session -------------------------------------------------------------------------

@dataclass
class Session:
    workdir: Path
    evidence: Evidence = field(default_factory=Evidence)
    providers: dict[str, FakeProvider] = field(default_factory=dict)
    keychain_seen: dict[str, str | None] = field(default_factory=dict)
    keychain_after_remove: dict[str, str | None] = field(default_factory=dict)
    replayed: list[Any] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    environ: bytes = b""
    sent_headers: list[dict[str, str]] = field(default_factory=list)
    timings: list[float] = field(default_factory=list)  # seconds, per step of the session

    @property
    def config(self) -> Path:
        return self.workdir / "config.yaml"

    def snapshot_config(self, after: str) -> None:
        self.evidence.add("config", f"config.yaml after {after}", self.config.read_bytes())

    def cli(self, *args: str, stdin: str | None = None, expect: int = 0) -> str:
        argv = [sys.executable, "-m", "mitmllm.cli", *args, "--config", str(self.config)]
        env = isolated_env(self.workdir / "home", ENV)
        what = " ".join(args[:3])
        self.evidence.add("argv", f"argv of `mitmllm {what}` as started", " ".join(argv))
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=env, cwd=self.workdir)
        if stdin is not None:
            # It waits for its secret on stdin: read its command line, and everyone's.
            deadline = time.monotonic() + TIMEOUT
            while b"mitmllm.cli" not in cmdline(process.pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            self.evidence.add("argv", f"/proc/{process.pid}/cmdline of `mitmllm {what}`",
                              cmdline(process.pid))
            self.evidence.add("argv", f"ps -eo args during `mitmllm {what}`", ps_snapshot())
        out, err = process.communicate(stdin.encode() if stdin is not None else None,
                                       timeout=60)
        self.evidence.add("cli", f"stdout of `mitmllm {what}`", out)
        self.evidence.add("cli", f"stderr of `mitmllm {what}`", err)
        assert process.returncode == expect, (args, process.returncode, out, err)
        self.snapshot_config(f"`mitmllm {what}`")
        return out.decode()

    def proxy(self, name: str, *args: str) -> MitmllmProcess:
        proxy = MitmllmProcess(self.workdir, self.config.read_text(), env=ENV, command="web",
                               args=args)
        proxy.log_path = self.workdir / f"{name}.log"
        return proxy

    def watch_argv(self, proxy: MitmllmProcess, when: str) -> None:
        assert proxy.process is not None
        for pid in (proxy.process.pid, *descendants(proxy.process.pid)):
            self.evidence.add("argv", f"/proc/{pid}/cmdline of `mitmllm web` ({when})",
                              cmdline(pid))
        self.evidence.add("argv", f"ps -eo args ({when})", ps_snapshot())

    def wait_connected(self, clients: Clients, url: str, *names: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while True:
            rows = {row["name"]: row for row in clients.admin.get(
                url + "/admin/providers").json()}
            if all(rows.get(n, {}).get("state") == "connected" for n in names):
                return
            assert time.monotonic() < deadline, rows
            time.sleep(0.05)


def write_config(session: Session) -> None:
    """What the user wrote by hand: a team gateway's token, and the hostile providers."""
    rows = "".join(
        f"  - {{name: hostile-{fmt}, preset: custom, host: 127.0.0.1, protocol: http, "
        f"port: {session.providers[f'hostile-{fmt}'].port}, format: {fmt}, auth: api_key"
        f"{', secret_headers: [X-Hostile-Token]' if fmt == 'openai' else ''}}}\n"
        for fmt in HOSTILE_KEYS)
    session.config.write_text(f"# a team gateway\nlisten: {{token: {LISTEN_TOKEN}}}\n"
                              f"providers:\n{rows}local: {{enabled: false}}\n")
    session.snapshot_config("the user wrote it")


def add_providers(session: Session, closed_port: int) -> None:
    p = session.providers
    for name, fmt, extra in (("kc", "anthropic", ("--secret-header", "X-Org-Token")),
                             ("envy", "responses", ())):
        session.cli("providers", "add", name, "--preset", "custom", "--host", "127.0.0.1",
                    "--protocol", "http", "--port", str(p[name].port), "--format", fmt,
                    "--auth", "api_key", *extra)
    # A preset's key variable: the openrouter preset, pointed at a fake.
    session.cli("providers", "add", "router", "--preset", "openrouter", "--host", "127.0.0.1",
                "--protocol", "http", "--port", str(p["router"].port))
    session.cli("providers", "add", "gone", "--preset", "custom", "--host", "127.0.0.1",
                "--protocol", "http", "--port", str(closed_port), "--auth", "none")
    session.cli("providers", "edit", "kc", "--header", "X-Team:blue", "--timeout", "20")
    session.cli("providers", "edit", "envy", "--timeout", "1")  # the 504 below
    session.cli("providers", "set-key", "kc", stdin=KC_KEY + "\n")
    session.cli("providers", "set-key", "kc", "--header", "X-Org-Token", stdin=KC_HEADER)
    session.keychain_seen["kc"] = keyring.get_password(SERVICE, "kc")
    session.keychain_seen["kc:X-Org-Token"] = keyring.get_password(SERVICE, "kc:X-Org-Token")
    # The commands that only read, side by side (each starts a Python that imports mitmproxy).
    with ThreadPoolExecutor(4) as pool:
        listed = pool.submit(session.cli, "providers", "list")
        tested = [pool.submit(session.cli, "providers", "test", name)
                  for name in ("kc", "router")]
        refused = pool.submit(session.cli, "providers", "test", "hostile-openai", expect=1)
        models = pool.submit(session.cli, "models")
    assert all(t.result().startswith(("kc: connected", "router: connected")) for t in tested)
    assert "error" in refused.result()
    assert "keychain" in listed.result() and "OPENROUTER_API_KEY" in listed.result() and \
        "MITMLLM_KEY_ENVY" in listed.result(), listed.result()
    assert all(f"{m}\t" in models.result() for m in ("kc/claude-x", "router/gpt-x", "envy/resp-x"))


def providers_page(session: Session, clients: Clients, url: str) -> None:
    state = clients.admin.get(url + "/admin/api/state")
    assert state.status_code == 200, state.text
    csrf = {"x-csrf-token": state.json()["csrf"]}
    settings = {"name": "paged", "preset": "custom", "host": "127.0.0.1", "protocol": "http",
                "port": session.providers["paged"].port, "format": "openai",
                "auth": "api_key",
                "headers": [{"name": "X-Page-Token", "value": None, "secret": True}]}
    added = clients.admin.post(url + "/admin/api/providers", headers=csrf, json={
        "settings": settings, "api_key": PAGE_KEY, "secret_headers": {"X-Page-Token": PAGE_HEADER}})
    assert added.status_code == 201, added.text
    session.snapshot_config("the Providers page added `paged`")
    session.keychain_seen["paged"] = keyring.get_password(SERVICE, "paged")
    session.keychain_seen["paged:X-Page-Token"] = keyring.get_password(SERVICE,
                                                                       "paged:X-Page-Token")
    # The Edit form: a key typed and tested without saving, then the settings saved with
    # the key typed again.
    typed = clients.admin.post(url + "/admin/api/test", headers=csrf,
                               json={"settings": settings, "api_key": PAGE_TYPED})
    assert typed.json()["state"] == "connected", typed.text
    edited = clients.admin.put(url + "/admin/api/providers/paged", headers=csrf, json={
        "settings": {**settings, "timeout": 30}, "api_key": PAGE_KEY})
    assert edited.status_code == 200, edited.text
    session.snapshot_config("the Providers page edited `paged`")
    rows = {row["name"]: row for row in state.json()["providers"]}
    tested = clients.admin.post(url + "/admin/api/test", headers=csrf,
                                json={"settings": rows["kc"]["settings"]})
    assert tested.json()["state"] == "connected", tested.text
    hostile = clients.admin.post(url + "/admin/api/test", headers=csrf,
                                 json={"settings": rows["hostile-anthropic"]["settings"]})
    assert hostile.json()["state"] == "error", hostile.text
    assert clients.admin.get(url + "/admin/providers").status_code == 200
    assert clients.admin.get(url + "/admin/api/state").status_code == 200


def traffic(session: Session, clients: Clients, url: str) -> None:
    """Every client format to every provider format, streamed and whole; reflections;
    every error a gateway gives."""
    p = session.providers
    for provider_format, (name, model) in MATRIX.items():
        for client in ("openai", "anthropic", "responses"):
            for stream in (True, False):
                p[name].reply(ENDPOINTS[provider_format],
                              stream_reply(provider_format) if stream else
                              whole_reply(provider_format))
                assert ask(clients, client, model, stream) is None
                session.counts["matrix requests"] += 1
    p["paged"].reply("/chat/completions", whole_reply("openai"), stream_reply("openai"))
    assert ask(clients, "openai", "paged/gpt-x", False) is None
    assert ask(clients, "anthropic", "paged/gpt-x", True) is None

    # The hostile providers: every client format meets each kind of reflection.
    # (401: an error body; 500: an error body to a streamed request; 200: a stream that
    # ends with an error event.)
    statuses = (401, 500, 200)
    for i, fmt in enumerate(HOSTILE_KEYS):
        for j, client in enumerate(("openai", "anthropic", "responses")):
            status = statuses[(i + j) % 3]
            p[f"hostile-{fmt}"].reply(ENDPOINTS[fmt], reflect(status))
            ask(clients, client, f"hostile-{fmt}/m", stream=status != 401)
            session.counts["reflections"] += 1
    p["hostile-openai"].reply("/chat/completions", reflect(200))
    ask(clients, "openai", "hostile-openai/m", stream=True)  # same format: passed through
    session.counts["reflections"] += 1

    # What a gateway answers itself, or when a provider fails.
    ask(clients, "openai", "no-such-model", False)  # 404
    ask(clients, "anthropic", "nobody/x", True)  # 404
    for path in ("/v1/chat/completions", "/v1/messages", "/v1/responses"):  # 400
        clients.raw.post(url + path, content=b'{"model": "kc/claude-x", "messages": [',
                         headers={"content-type": "application/json"})
    try:
        clients.wrong.chat.completions.create(model="kc/claude-x", messages=MESSAGES)
    except openai.AuthenticationError as exc:  # 401
        clients.errors.append(f"wrong token: {exc}")
    ask(clients, "openai", "gone/m", False)  # 502
    ask(clients, "anthropic", "gone/m", True)  # 502
    p["envy"].reply("/responses", Hang(2.5))
    ask(clients, "responses", "envy/resp-x", False)  # 504 after 1 s
    for path in ("/v1/models", "/"):
        clients.raw.get(url + path)
    clients.messages.models.list()
    seen = sorted({a.status for a in clients.answers})
    for status in (200, 400, 401, 404, 500, 502, 504):
        assert status in seen, seen


def replay(session: Session, web: Web) -> None:
    """Replay a whole answer of `kc` from mitmweb: the provider must get the real key."""
    flows = web.settled(1)
    kc = [f for f in flows if f["comment"] == "kc · claude-x · anthropic"
          and "json" in dict(f["response"]["headers"]).get("content-type", "")]
    assert kc, [f["comment"] for f in flows]
    provider = session.providers["kc"]
    before = len(provider.requests_to("/messages"))
    provider.reply("/messages", whole_reply("anthropic"))
    answer = web.post(f"/flows/{kc[0]['id']}/replay")
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + TIMEOUT
    while len(provider.requests_to("/messages")) == before:
        assert time.monotonic() < deadline, "the replay never reached the provider"
        time.sleep(0.05)
    session.replayed.append(provider.requests_to("/messages")[-1])


def collect_saved(session: Session, saved: Path) -> None:
    data = saved.read_bytes()
    session.evidence.add("saved-bytes", saved.name, data)
    with saved.open("rb") as file:
        flows = list(flow_io.FlowReader(file).stream())
    session.counts[f"flows in {saved.name}"] = len(flows)
    for flow in flows:
        state = json.dumps(flow.get_state(), default=lambda b: b.decode("latin-1"))
        session.evidence.add("saved-decoded", f"{saved.name}: flow {flow.id} state", state)
        assert isinstance(flow, http.HTTPFlow)
        for side in (flow.request, flow.response):
            if side is not None:
                session.evidence.add("saved-decoded", f"{saved.name}: flow {flow.id} body",
                                     side.get_content(strict=False) or b"")
    mitmdump = Path(sys.executable).parent / "mitmdump"
    shown = subprocess.run(
        [str(mitmdump), "-n", "-r", str(saved), "--flow-detail", "4",
         "-s", str(ROOT / "addons" / "view_script.py")],
        capture_output=True, timeout=60, cwd=ROOT)
    assert shown.returncode == 0, shown.stderr
    session.evidence.add("saved-mitmdump", f"mitmdump -r {saved.name}",
                         shown.stdout + shown.stderr)


def collect_har(session: Session, har: Path) -> None:
    text = har.read_text()
    session.evidence.add("har", har.name, text)
    for entry in json.loads(text)["log"]["entries"]:
        for part in (entry["request"].get("postData") or {}, entry["response"]["content"]):
            if part.get("encoding") == "base64" and part.get("text"):
                session.evidence.add("har", f"{har.name}: a base64 body",
                                     base64.b64decode(part["text"]))


def keep_answers(session: Session, clients: Clients) -> None:
    session.sent_headers += [answer.request_headers for answer in clients.answers]
    for answer in clients.answers:
        session.evidence.add("client-answers", answer.what, answer.text())
    for error in clients.errors:
        session.evidence.add("client-answers", "an SDK exception", error)
    for answer in clients.admin_answers:
        session.evidence.add("providers-page", answer.what, answer.text())
    session.counts["client answers"] += len(clients.answers)
    session.counts["Providers page answers"] += len(clients.admin_answers)


def first_run(session: Session) -> None:
    """`mitmllm web -v --save`: the whole tour."""
    saved = session.workdir / "flows-debug.mitm"
    web_port = free_port()
    proxy = session.proxy("web-debug", "-v", "--web-port", str(web_port), "--save", str(saved))
    with proxy:
        web = Web(web_port, proxy.log(), session.evidence)
        updates = Updates(web)
        clients = clients_for(proxy.url)
        session.watch_argv(proxy, "at start")
        session.wait_connected(clients, proxy.url, "kc", "envy", "router")
        assert proxy.process is not None
        session.environ = Path(f"/proc/{proxy.process.pid}/environ").read_bytes()
        providers_page(session, clients, proxy.url)
        session.wait_connected(clients, proxy.url, "paged")
        traffic(session, clients, proxy.url)
        session.watch_argv(proxy, "after the traffic")
        replay(session, web)
        web.settled(session.counts["matrix requests"])
        session.counts["flows in mitmweb"] = web.read_everything(session.workdir / "flows.har")
        session.counts["mitmweb reads"] = web.reads
        assert proxy.stop() == 0, proxy.log()
    updates.stop()
    for message in updates.messages:
        session.evidence.add("mitmweb-updates", "a /updates message", message)
    session.counts["mitmweb updates"] = len(updates.messages)
    session.evidence.add("log-debug", "web -v output", proxy.log())
    keep_answers(session, clients)
    collect_saved(session, saved)
    collect_har(session, session.workdir / "flows.har")


def second_run(session: Session) -> None:
    """`mitmllm web --save` without -v: a short session at the default verbosity."""
    saved = session.workdir / "flows-info.mitm"
    web_port = free_port()
    with session.proxy("web-info", "--web-port", str(web_port), "--save", str(saved)) as proxy:
        web = Web(web_port, proxy.log(), session.evidence)
        clients = clients_for(proxy.url)
        session.watch_argv(proxy, "info run")
        session.wait_connected(clients, proxy.url, "kc", "router", "paged")
        p = session.providers
        p["kc"].reply("/messages", whole_reply("anthropic"))
        assert ask(clients, "openai", "kc/claude-x", False) is None
        p["router"].reply("/chat/completions", stream_reply("openai"))
        assert ask(clients, "anthropic", "router/gpt-x", True) is None
        p["hostile-responses"].reply("/responses", reflect(401))
        ask(clients, "responses", "hostile-responses/m", False)
        p["hostile-anthropic"].reply("/messages", reflect(200))
        ask(clients, "openai", "hostile-anthropic/m", True)
        ask(clients, "openai", "gone/m", False)
        assert clients.admin.get(proxy.url + "/admin/api/state").status_code == 200
        web.settled(4)
        web.get("/flows/dump")
        web.get("/events")
        assert proxy.stop() == 0, proxy.log()
    session.evidence.add("log-info", "web output", proxy.log())
    keep_answers(session, clients)
    collect_saved(session, saved)


def proxy_debug_run(session: Session) -> None:
    """`mitmllm web -v` with mitmproxy's proxy_debug switched on in mitmweb's Options."""
    web_port = free_port()
    with session.proxy("web-proxy-debug", "-v", "--web-port", str(web_port)) as proxy:
        # Its mitmweb answers count as its log: the event log is the log.
        web = Web(web_port, proxy.log(), session.evidence, place="log-proxy-debug")
        answer = web.client.put(web.url + "/options", json={"proxy_debug": True}, headers={
            "X-XSRFToken": XSRF, "Cookie": f"_mitmproxy_xsrf={XSRF}"})
        # Refused: it would log every byte of both legs, keys included.
        assert answer.status_code == 400 and "refuses proxy_debug" in answer.text, answer.text
        clients = clients_for(proxy.url)
        session.wait_connected(clients, proxy.url, "kc", "router")
        p = session.providers
        p["kc"].reply("/messages", stream_reply("anthropic"))
        assert ask(clients, "openai", "kc/claude-x", True) is None
        p["router"].reply("/chat/completions", whole_reply("openai"))
        assert ask(clients, "anthropic", "router/gpt-x", False) is None
        p["hostile-openai"].reply("/chat/completions", reflect(401))
        ask(clients, "openai", "hostile-openai/m", False)
        web.settled(3)
        web.get("/events")
        assert proxy.stop() == 0, proxy.log()
    session.evidence.add("log-proxy-debug", "web -v output with proxy_debug", proxy.log())
    keep_answers(session, clients)


def remove_keychain_providers(session: Session) -> None:
    for name in ("kc", "paged"):
        assert "2 keychain entries" in session.cli("providers", "remove", name)
    for account in ("kc", "kc:X-Org-Token", "paged", "paged:X-Page-Token"):
        session.keychain_after_remove[account] = keyring.get_password(SERVICE, account)


def collect_files(session: Session) -> None:
    """Every file the session left in its directory (but those with a place of their own),
    and every file in HOME (the private one of `./dev test`: mitmproxy's confdir, ...) but
    the keychain's own."""
    own = {".log", ".mitm", ".har"}
    for path in sorted(session.workdir.rglob("*")):
        if path.is_file() and path.suffix not in own and path != session.config:
            session.evidence.add("files", str(path), path.read_bytes())
    home = Path(os.environ["HOME"])
    keychain = home / ".local" / "share" / "keyrings"
    for path in sorted(home.rglob("*"))[:5000]:
        with suppress(OSError):
            if path.is_file() and keychain not in path.parents and \
                    not path.is_relative_to(session.workdir) and path.stat().st_size < 2**24:
                session.evidence.add("files", str(path), path.read_bytes())
    session.counts["other files"] = len(session.evidence.places["files"])
    session.counts["cli commands"] = len(session.evidence.places["cli"]) // 2
    session.snapshot_config("the session")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    if os.environ.get("MITMLLM_TEST_SECRET_SERVICE") != "1":
        missing("needs the private Secret Service of ./dev test (gnome-keyring and dbus)")
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.SecretService.Keyring())
    session = Session(tmp_path_factory.mktemp("hygiene"))
    started = time.monotonic()
    try:
        with ExitStack() as stack:
            for name, fmt, base in (("kc", "anthropic", "/v1"), ("envy", "responses", "/v1"),
                                    ("router", "openai", "/api/v1"),
                                    ("paged", "openai", "/v1"),
                                    *((f"hostile-{f}", f, "/v1") for f in HOSTILE_KEYS)):
                thread = ProviderThread(base, fmt)
                if name.startswith("hostile-"):
                    thread.provider = HostileProvider(base, fmt)
                provider = stack.enter_context(thread)
                provider.models = {"anthropic": ["claude-x"], "responses": ["resp-x"],
                                   "openai": ["gpt-x"]}[fmt]
                session.providers[name] = provider
            write_config(session)
            for step in (lambda: add_providers(session, free_port()),
                         lambda: first_run(session), lambda: second_run(session),
                         lambda: proxy_debug_run(session),
                         lambda: remove_keychain_providers(session),
                         lambda: collect_files(session)):
                begun = time.monotonic()
                step()
                session.timings.append(round(time.monotonic() - begun, 1))
        session.counts["seconds"] = round(time.monotonic() - started)
        yield session
    finally:
        for account in ("kc", "kc:X-Org-Token", "paged", "paged:X-Page-Token"):
            with suppress(keyring.errors.PasswordDeleteError):
                keyring.delete_password(SERVICE, account)
        keyring.set_keyring(previous)


# --- the scans ---------------------------------------------------------------------------

# The leaks this test found (issue 12 item 5), all fixed: the Providers page's typed keys
# are redacted in the flow's copy of the request; a replay's request is not pushed to
# mitmweb while it carries the real secrets; proxy_debug is refused; and whatever a
# provider says back has its own secrets taken out (addons/secret_echo.py). A leak found
# later is marked here, `xfail(strict=True)`, until it is fixed.
KNOWN_LEAKS: dict[tuple[str, str], str] = {}


def scan_cases() -> list[Any]:
    cases = []
    for place in PLACES:
        for group in GROUPS:
            reason = KNOWN_LEAKS.get((place, group))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(place, group, marks=marks, id=f"{place}-{group}"))
    return cases


def test_the_session_went_everywhere(session: Session) -> None:
    counts = dict(session.counts)
    print("hygiene session:", json.dumps(counts, indent=1), "steps (s):", session.timings)
    print("evidence:", {place: len(items) for place, items in session.evidence.places.items()})
    for place in PLACES:
        assert session.evidence.places.get(place), f"nothing collected for {place}"
    assert counts["matrix requests"] == 18 and counts["reflections"] == 10
    assert counts["flows in mitmweb"] >= 40, counts
    # Each client secret was really sent (by some client, in the header it stands for).
    sent = json.dumps(session.sent_headers)
    for secret in GROUPS["client-keys"].values():
        assert secret in sent, secret


@pytest.mark.parametrize(("place", "group"), scan_cases())
def test_no_secret(session: Session, place: str, group: str) -> None:
    secrets = dict(GROUPS[group])
    evidence = session.evidence.places[place]
    if place == "config" and group == "client-keys":
        secrets.pop("listen token")  # there by design
        assert all(LISTEN_TOKEN.encode() in data for _, data in evidence)
    found = leaks(evidence, secrets)
    assert not found, f"{PLACES[place]}:\n" + "\n".join(found)


def test_each_provider_got_its_own_key_and_nothing_else(session: Session) -> None:
    own: dict[str, dict[str, str | tuple[str, ...]]] = {
        "kc": {"x-api-key": KC_KEY, "x-org-token": KC_HEADER},
        "envy": {"authorization": f"Bearer {ENV_KEY}"},
        "router": {"authorization": f"Bearer {PRESET_KEY}"},
        # The Providers page's connection test used the key typed into its form.
        "paged": {"authorization": (f"Bearer {PAGE_KEY}", f"Bearer {PAGE_TYPED}"),
                  "x-page-token": PAGE_HEADER},
        "hostile-openai": {"authorization": f"Bearer {HOSTILE_KEYS['openai']}",
                           "x-hostile-token": HOSTILE_HEADER},
        "hostile-anthropic": {"x-api-key": HOSTILE_KEYS["anthropic"]},
        "hostile-responses": {"authorization": f"Bearer {HOSTILE_KEYS['responses']}"}}
    for name, provider in session.providers.items():
        assert provider.requests, name
        for request in provider.requests:
            for header, value in own[name].items():
                allowed = value if isinstance(value, tuple) else (value,)
                assert request.headers.get(header) in allowed, (name, request.path, header)
            rest = [(k, v) for k, v in request.headers.items() if k.lower() not in own[name]]
            evidence = [(f"{name} {request.method} {request.path}",
                         json.dumps(rest).encode() + request.body)]
            assert not leaks(evidence, EVERY_SECRET)


def test_the_keychain_held_the_keys_until_remove(session: Session) -> None:
    assert session.keychain_seen == {"kc": KC_KEY, "kc:X-Org-Token": KC_HEADER,
                                     "paged": PAGE_KEY, "paged:X-Page-Token": PAGE_HEADER}
    assert session.keychain_after_remove == dict.fromkeys(session.keychain_seen)


def test_the_environment_held_the_environment_keys(session: Session) -> None:
    for secret in (ENV_KEY, PRESET_KEY, *HOSTILE_KEYS.values(), HOSTILE_HEADER):
        assert secret.encode() in session.environ


def test_a_replay_from_mitmweb_sends_the_real_key(session: Session) -> None:
    (replayed,) = session.replayed
    assert replayed.headers["x-api-key"] == KC_KEY
    assert replayed.headers["x-org-token"] == KC_HEADER
