"""End to end: deploy/nginx/mitmllm.conf under Debian's real nginx, balancing two real
`mitmllm run` instances (each with a listen token) in front of a provider, over TLS.

What the file's settings promise, checked one by one (the token travels from the client,
streams are not buffered, a provider's X-Accel-* headers are ignored, an oversize body gets
mitmllm's own 413, /metrics and admin writes stay off the balancer), then a rolling restart
under load: clients send whole and streamed, OpenAI and Anthropic requests without pause
while each instance in turn drains on SIGTERM, exits, starts again on the same port and
serves again; every request must get its complete answer.
"""

from __future__ import annotations

import itertools
import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.echo_provider import EchoProvider, EchoProviderThread
from support.nginx import Nginx, free_port, site_config, tls_files
from support.proxy import MitmllmProcess

pytestmark = pytest.mark.e2e

DEPLOYED = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "mitmllm.conf"
TOKEN = "test-listen-token-" + uuid.uuid4().hex
FAIL_TIMEOUT = 5.0  # the upstream servers' fail_timeout in the deployed file
CLIENTS = 6
KINDS = ("chat", "chat-stream", "messages", "messages-stream")


@dataclass
class Gateway:
    nginx: Nginx
    instances: dict[str, MitmllmProcess]
    provider: EchoProvider
    tls: ssl.SSLContext

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.nginx.port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.tls, timeout=30)


def instance_config(provider_port: int) -> str:
    return (f"listen:\n  token: {TOKEN}\n"
            f"providers:\n  - {{name: echo, preset: custom, host: 127.0.0.1, protocol: http,"
            f" port: {provider_port}}}\nlocal: {{enabled: false}}\n")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    root = tmp_path_factory.mktemp("nginx")
    ca, cert, key = tls_files(root / "tls")
    with EchoProviderThread(delay=0.05) as provider:
        instances = {name: MitmllmProcess(root / name, instance_config(provider.port))
                     for name in ("a", "b")}
        port = free_port()
        site = site_config(DEPLOYED.read_text(), {
            "mitmllm-a:1337": f"127.0.0.1:{instances['a'].port}",
            "mitmllm-b:1337": f"127.0.0.1:{instances['b'].port}",
            "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
            "/etc/nginx/tls/mitmllm.crt": str(cert),
            "/etc/nginx/tls/mitmllm.key": str(key),
            "/var/log/nginx/": f"{root / 'nginx' / 'logs'}/",
        })
        try:
            for instance in instances.values():
                instance.start()
            with Nginx(root / "nginx", site, port) as nginx:
                yield Gateway(nginx, instances, provider, ssl.create_default_context(
                    cafile=str(ca)))
        finally:
            for instance in instances.values():
                instance.stop()


# --- one request, and whether its answer came back whole --------------------------------

def ask(client: httpx.Client, kind: str, text: str) -> str | None:
    """Sends one request of `kind` through the balancer: None if the whole answer
    `echo TEXT` came back (a stream with its terminator), else what went wrong."""
    expected = "echo " + text
    messages = [{"role": "user", "content": text}]
    if kind.startswith("chat"):
        body: dict[str, object] = {"model": "echo/m", "messages": messages}
        headers = {"authorization": f"Bearer {TOKEN}"}
        path = "/v1/chat/completions"
    else:
        body = {"model": "echo/m", "max_tokens": 50, "messages": messages}
        headers = {"x-api-key": TOKEN, "anthropic-version": "2023-06-01"}
        path = "/v1/messages"
    if not kind.endswith("stream"):
        answer = client.post(path, json=body, headers=headers)
        if answer.status_code != 200:
            return f"{answer.status_code}: {answer.text[:300]}"
        payload = answer.json()
        got = (payload["choices"][0]["message"]["content"] if kind == "chat"
               else "".join(block.get("text", "") for block in payload["content"]))
        return None if got == expected else f"answer {got!r}"
    body["stream"] = True
    with client.stream("POST", path, json=body, headers=headers) as answer:
        if answer.status_code != 200:
            return f"{answer.status_code}: {answer.read()[:300]!r}"
        data = [line[len("data: "):] for line in answer.iter_lines()
                if line.startswith("data: ")]
    if kind == "chat-stream":
        if not data or data[-1] != "[DONE]":
            return f"stream without its terminator: {data[-2:]}"
        got = "".join(choice["delta"].get("content") or "" for event in data[:-1]
                      for choice in json.loads(event)["choices"])
    else:
        events = [json.loads(event) for event in data]
        if not events or events[-1]["type"] != "message_stop":
            return f"stream without message_stop: {events[-2:]}"
        got = "".join(event["delta"].get("text", "") for event in events
                      if event["type"] == "content_block_delta")
    return None if got == expected else f"stream text {got!r}"


# --- what the settings promise ----------------------------------------------------------

def test_the_token_comes_from_the_client_through_nginx(gateway: Gateway) -> None:
    with gateway.client() as client:
        refused = client.post("/v1/chat/completions", json={
            "model": "echo/m", "messages": [{"role": "user", "content": "hi"}]})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "invalid_api_key"  # mitmllm's, not nginx's
        for kind in KINDS:
            assert ask(client, kind, f"hello {kind}") is None


def test_streams_pass_unbuffered_and_provider_headers_do_not_steer_nginx(
        gateway: Gateway) -> None:
    with gateway.client() as client:
        # 5 pieces 0.3 s apart: the first must arrive long before the last.
        seen: list[float] = []
        start = time.monotonic()
        with client.stream("POST", "/v1/chat/completions", headers={
                "authorization": f"Bearer {TOKEN}"}, json={
                "model": "echo/m", "stream": True,
                "messages": [{"role": "user", "content": "slow: one by one"}]}) as answer:
            assert answer.status_code == 200
            assert answer.headers["x-accel-buffering"] == "no"  # for an nginx in front
            for line in answer.iter_lines():
                if '"content": "' in line and '"content": ""' not in line:
                    seen.append(time.monotonic() - start)
        assert len(seen) == 5
        assert seen[-1] - seen[0] > 1.0, seen  # each piece came as it was sent

        # The provider answers with X-Accel-Redirect: /metrics (and X-Accel-Buffering: yes,
        # X-Accel-Limit-Rate: 1): nginx obeys none, the client gets the provider's answer.
        for kind in KINDS:
            assert ask(client, kind, f"headers: {kind}") is None


def test_an_oversize_body_gets_mitmllm_413(gateway: Gateway) -> None:
    with gateway.client() as client:
        big = "x" * (33 * 2**20)  # above mitmllm's 32 MB, below nginx's 64 MB
        answer = client.post("/v1/chat/completions", headers={
            "authorization": f"Bearer {TOKEN}"}, json={
            "model": "echo/m", "messages": [{"role": "user", "content": big}]})
        assert answer.status_code == 413
        assert answer.json()["error"]["type"] == "invalid_request_error"


def test_metrics_and_admin_changes_stay_off_the_balancer(gateway: Gateway) -> None:
    with gateway.client() as client:
        auth = {"authorization": f"Bearer {TOKEN}"}
        metrics = client.get("/metrics", headers=auth)
        assert metrics.status_code == 404
        assert "each mitmllm instance" in metrics.json()["error"]["message"]
        change = client.post("/admin/api/providers", headers=auth, json={"name": "x"})
        assert change.status_code == 405
        assert "read-only" in change.json()["error"]["message"]
        assert client.get("/admin/api/state", headers=auth).status_code == 200
        assert client.get("/ready").json() == {"status": "ready"}  # public, like /health
    # Scraped on an instance itself, with the token.
    instance = gateway.instances["a"]
    assert httpx.get(instance.url + "/metrics").status_code == 401
    assert httpx.get(instance.url + "/metrics", headers=auth).status_code == 200


# --- the rolling restart ----------------------------------------------------------------

@dataclass
class Result:
    kind: str
    started: float  # time.time(), to compare with nginx's $msec
    ended: float
    problem: str | None


def load(gateway: Gateway, index: int, stop: threading.Event, results: list[Result]) -> None:
    """One client sending requests of every kind one after another until `stop`."""
    kinds = itertools.islice(itertools.cycle(KINDS), index, None)
    with gateway.client() as client:
        for number in itertools.count():
            if stop.is_set():
                return
            kind = next(kinds)
            started = time.time()
            try:
                problem = ask(client, kind, f"client {index} request {number} {kind}")
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            results.append(Result(kind, started, time.time(), problem))


def requests_served(instance: MitmllmProcess) -> float:
    text = httpx.get(instance.url + "/metrics", headers={
        "authorization": f"Bearer {TOKEN}"}, timeout=5).text
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == "mitmllm_requests_total")


def restart(instance: MitmllmProcess) -> tuple[float, float]:
    """SIGTERM (drain), exit, start again on the same port, ready, and serving through the
    balancer again; the times of the SIGTERM and of the first answer served after it."""
    sigterm = time.time()
    assert instance.stop(timeout=40) == 0, instance.log()  # drained, exit 0
    instance.start()
    deadline = time.monotonic() + 10
    while httpx.get(instance.url + "/ready").status_code != 200:
        assert time.monotonic() < deadline, instance.log()
        time.sleep(0.05)
    # nginx comes back to an instance it saw refuse within fail_timeout: only then may the
    # next one go (deploy/README.md), or nginx would see every instance failing at once.
    deadline = time.monotonic() + FAIL_TIMEOUT + 10
    while requests_served(instance) == 0:
        assert time.monotonic() < deadline, "nginx did not come back to the instance"
        time.sleep(0.1)
    return sigterm, time.time()


ACCESS = re.compile(r'"(?P<request>[^"]*)" (?P<status>\d+) .* upstream=(?P<upstream>.*) '
                    r'upstream_status=(?P<statuses>.*) time=(?P<time>[\d.]+) '
                    r'end=(?P<end>[\d.]+)$')


def test_rolling_restart_under_load_loses_no_request(gateway: Gateway) -> None:
    begun, begun_at = time.monotonic(), time.time()
    stop = threading.Event()
    results: list[Result] = []
    clients = [threading.Thread(target=load, args=(gateway, index, stop, results))
               for index in range(CLIENTS)]
    for thread in clients:
        thread.start()
    try:
        time.sleep(1.5)
        windows = {name: restart(instance) for name, instance in gateway.instances.items()}
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in clients:
            thread.join(40)
    duration = time.monotonic() - begun

    failed = [r for r in results if r.problem is not None]
    assert not failed, f"{len(failed)} of {len(results)} failed: {failed[:5]}"
    for name, (sigterm, back) in windows.items():
        # Requests kept flowing while the instance was away: answered during the window.
        during = [r for r in results if sigterm < r.ended < back]
        assert len(during) >= CLIENTS, (name, len(during))
    for kind in KINDS:
        assert sum(r.kind == kind for r in results) >= 10, kind

    # nginx's side: every request 200; some first went to the draining instance, were
    # refused and went to the other; streams under way on a draining instance finished.
    lines = [m for line in gateway.nginx.access_log() if (m := ACCESS.search(line))
             and "/v1/" in m["request"] and float(m["end"]) > begun_at]
    assert len(lines) >= len(results)
    assert all(m["status"] == "200" for m in lines), [m.string for m in lines
                                                       if m["status"] != "200"][:5]
    retried = [m for m in lines if "," in m["upstream"]]
    assert retried, "no request was refused by a draining instance and sent elsewhere"
    for name, (sigterm, _) in windows.items():
        address = f"127.0.0.1:{gateway.instances[name].port}"
        drained = [m for m in lines if m["upstream"] == address
                   and float(m["end"]) - float(m["time"]) < sigterm < float(m["end"])]
        assert drained, f"no request was under way on instance {name} at its SIGTERM"
    print(f"\nrolling restart: {len(results)} requests ({len(retried)} retried after a "
          f"refused connect), 0 failed, {duration:.1f} s under load")
