"""End to end: `listen.max_body_mb` bounds what the proxy reads, as it arrives, and the
answer is a 413 in the client's format; a provider's whole answer over it is a 502."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from support.fake_provider import FakeProvider, Json, ProviderThread
from support.proxy import MitmllmProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with ProviderThread(fmt="anthropic") as fake:
        fake.models = ["claude-x"]
        yield fake


@pytest.fixture(scope="module")
def proxy(provider: FakeProvider, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[MitmllmProcess]:
    config = (f"listen: {{max_body_mb: 1}}\nproviders:\n  - {{name: big, preset: custom, "
              f"format: anthropic, host: 127.0.0.1, protocol: http, port: {provider.port}}}\n"
              "local: {enabled: false}\n")
    with MitmllmProcess(tmp_path_factory.mktemp("limits"), config) as process:
        process.wait_for("big", "connected")
        yield process


def rss_kib(proxy: MitmllmProcess) -> int:
    assert proxy.process is not None
    for line in Path(f"/proc/{proxy.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"model": "big/claude-x", "messages": [{"role": "user", "content": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}]}'


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
def test_a_chunked_upload_over_the_limit_is_refused_without_being_read(
        proxy: MitmllmProcess, path: str) -> None:
    before = rss_kib(proxy)
    try:
        answer = httpx.post(proxy.url + path, content=chunks(100 * 1024 * 1024),
                            headers={"content-type": "application/json"}, timeout=30)
    except httpx.TransportError:
        pytest.fail("the proxy cut the connection instead of answering 413")
    assert answer.status_code == 413
    body = answer.json()
    if path == "/v1/messages":
        assert body["type"] == "error" and "max_body_mb" in body["error"]["message"]
    else:
        assert body["error"]["code"] == "request_too_large"
    assert rss_kib(proxy) - before < 30 * 1024  # far from the 100 MB sent


def test_a_declared_body_over_the_limit_is_answered_at_once(proxy: MitmllmProcess) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 31457280\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)  # times out (a failure) if nothing comes
            if not data:
                break
            answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error"]["code"] == "request_too_large"


def test_a_provider_answer_over_the_limit_is_a_502(proxy: MitmllmProcess,
                                                   provider: FakeProvider) -> None:
    huge = {"id": "m", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "y" * (2 * 1024 * 1024)}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}}
    provider.reply("/messages", Json(200, huge))
    answer = httpx.post(proxy.url + "/v1/chat/completions", timeout=30, json={
        "model": "big/claude-x", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 502
    assert "max_body_mb" in answer.json()["error"]["message"]
