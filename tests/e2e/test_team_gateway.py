"""End to end: what a team gateway behind a load balancer relies on. `/ready` and `/health`
for probes, `/metrics` for Prometheus, and a graceful drain on SIGTERM: a stream under way
finishes, new connections are refused (so a balancer retries them elsewhere), the process
exits 0."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from openai import OpenAI
from support.fake_provider import FakeProvider, Json, ProviderThread, Sse, sse_lines
from support.proxy import MitmllmProcess

pytestmark = pytest.mark.e2e

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def vector(name: str) -> dict[str, object]:
    return dict(json.loads(next(VECTORS.glob(f"{name}_*.json")).read_text()))


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with ProviderThread(fmt="anthropic") as fake:
        fake.models = ["claude-x"]
        yield fake


def config(provider: FakeProvider) -> str:
    return (f"providers:\n  - {{name: anth, preset: custom, format: anthropic, host: 127.0.0.1,"
            f" protocol: http, port: {provider.port}}}\nlocal: {{enabled: false}}\n")


def test_probes_and_metrics(tmp_path: Path, provider: FakeProvider) -> None:
    with MitmllmProcess(tmp_path, config(provider)) as proxy:
        assert httpx.get(proxy.url + "/ready").json() == {"status": "ready"}
        assert httpx.get(proxy.url + "/health").json() == {"status": "ok"}
        proxy.wait_for("anth", "connected")
        client = OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0)
        provider.reply("/messages", Json(200, vector("nonstream_11")["anthropic_response"]))
        client.chat.completions.create(model="anth/claude-x",
                                       messages=[{"role": "user", "content": "hi"}])
        provider.reply("/messages", Sse(sse_lines(str(vector("stream_20")["anthropic_sse"]))))
        for _ in client.chat.completions.create(model="anth/claude-x", stream=True,
                                                messages=[{"role": "user", "content": "hi"}]):
            pass
        missing = httpx.post(proxy.url + "/v1/chat/completions", json={
            "model": "nobody/x", "messages": [{"role": "user", "content": "hi"}]})
        assert missing.status_code == 404

        scraped = httpx.get(proxy.url + "/metrics")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        found = samples(scraped.text)
        route = {"provider": "anth", "model": "claude-x", "client_format": "openai",
                 "provider_format": "anthropic"}
        assert found[("mitmllm_requests_total", labels(route, status="200"))] == 2
        assert found[("mitmllm_requests_total", labels(
            {"provider": "-", "model": "-", "client_format": "openai", "provider_format": "-"},
            status="404"))] == 1
        assert found[("mitmllm_request_duration_seconds_count", labels(route))] == 2
        assert found[("mitmllm_time_to_first_token_seconds_count", labels(route))] == 1
        # The whole answer's usage (vector nonstream_11) and the stream's (stream_20).
        assert found[("mitmllm_tokens_total", labels(route, direction="in"))] > 0
        assert found[("mitmllm_tokens_total", labels(route, direction="out"))] > 0
        assert "nobody" not in scraped.text  # a model no one serves never becomes a label


def labels(base: dict[str, str], **more: str) -> frozenset[tuple[str, str]]:
    return frozenset({**base, **more}.items())


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_sigterm_drains_what_is_under_way_and_refuses_the_rest(tmp_path: Path,
                                                               provider: FakeProvider) -> None:
    with MitmllmProcess(tmp_path, config(provider)) as proxy:
        proxy.wait_for("anth", "connected")
        provider.reply("/messages", Sse(sse_lines(str(vector("stream_20")["anthropic_sse"])),
                                        delay=0.3))  # about 2 s in all
        client = OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0)
        received: list[str] = []

        def stream() -> None:
            for chunk in client.chat.completions.create(
                    model="anth/claude-x", stream=True,
                    messages=[{"role": "user", "content": "hi"}]):
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)

        reader = threading.Thread(target=stream)
        reader.start()
        time.sleep(0.5)  # the stream is under way
        assert proxy.process is not None
        proxy.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):  # the listen socket is closed
            httpx.get(proxy.url + "/health", timeout=2)
        reader.join(10)
        assert "".join(received) == "Hello!"  # the stream finished whole
        assert proxy.process.wait(10) == 0
    assert "draining" in proxy.log()


def test_the_log_is_one_line_per_model_request(tmp_path: Path, provider: FakeProvider) -> None:
    """`mitmllm run` logs each model request in one line, not mitmproxy's five connection
    lines per request; `-v` shows those too."""
    answer = Json(200, vector("nonstream_11")["anthropic_response"])
    for verbose in (False, True):
        provider.reply("/messages", answer, answer, answer)
        workdir = tmp_path / str(verbose)
        with MitmllmProcess(workdir, config(provider),
                            args=("-v",) if verbose else ()) as proxy:
            proxy.wait_for("anth", "connected")
            client = OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0)
            for _ in range(3):
                client.chat.completions.create(model="anth/claude-x",
                                               messages=[{"role": "user", "content": "hi"}])
            deadline = time.monotonic() + 5
            while proxy.log().count("anth/claude-x anth -> claude-x 200") < 3 \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            log = proxy.log()
        assert log.count("POST anth/claude-x anth -> claude-x 200") == 3, log
        assert ("client connect" in log) is verbose, log
        assert ("server connect" in log) is verbose, log
