"""Throughput and latency through mitmllm, against a direct connection and a bare mitmdump
in the same run.

    .venv/bin/python bench/proxy_overhead.py [--seconds 5] [--concurrency 1 16]

Targets, all on loopback against the same fake provider (bench/fake_upstream.py, its own
process): `direct`; `mitmdump` (stock mitmdump -q as a reverse proxy with streaming on,
no addons: the floor of any mitmproxy-based gateway); `mitmllm` passthrough (OpenAI client,
OpenAI-format provider); `mitmllm` translated (OpenAI client, Anthropic-format provider).
Workloads: whole chat completions, and streams of 50 events. Prints requests per second,
median latency, and each mitmllm figure as a ratio to direct and to mitmdump.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=0.5).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


async def load(url: str, body: dict[str, object], seconds: float, concurrency: int
               ) -> tuple[float, float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def worker() -> None:
            while time.monotonic() < deadline:
                start = time.perf_counter()
                async with session.post(url, json=body) as answer:
                    data = await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"{url}: {answer.status} {data[:200]!r}")
                latencies.append(time.perf_counter() - start)
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return len(latencies) / elapsed, statistics.median(latencies) * 1000


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()

    upstream_port = free_port()
    processes = [start([sys.executable, str(HERE / "fake_upstream.py"), str(upstream_port)])]
    wait_ready(f"http://127.0.0.1:{upstream_port}/v1/models")

    dump_port = free_port()
    processes.append(start([str(BIN / "mitmdump"), "-q", "--listen-host", "127.0.0.1",
                            "--mode", f"reverse:http://127.0.0.1:{upstream_port}@{dump_port}",
                            "--set", "stream_large_bodies=1"]))
    wait_ready(f"http://127.0.0.1:{dump_port}/v1/models")

    workdir = Path(tempfile.mkdtemp(prefix="mitmllm-bench-"))
    config = workdir / "config.yaml"
    config.write_text(f"""\
providers:
  - {{name: oai, preset: custom, host: 127.0.0.1, protocol: http, port: {upstream_port}}}
  - {{name: anth, preset: custom, format: anthropic, host: 127.0.0.1, protocol: http,
     port: {upstream_port}}}
local: {{enabled: false}}
""")
    llm_port = free_port()
    processes.append(start([str(BIN / "mitmllm"), "run", "--config", str(config), "--port",
                            str(llm_port)],
                           env={"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
                                "HOME": str(workdir)}))
    wait_ready(f"http://127.0.0.1:{llm_port}/health")

    targets = {
        "direct": (upstream_port, "m"),
        "mitmdump": (dump_port, "m"),
        "mitmllm passthrough": (llm_port, "oai/m"),
        "mitmllm openai->anthropic": (llm_port, "anth/m"),
    }
    try:
        for workload, stream in (("whole answers", False), ("50-event streams", True)):
            for concurrency in args.concurrency:
                print(f"\n{workload}, concurrency {concurrency}, {args.seconds:g} s each")
                results: dict[str, tuple[float, float]] = {}
                for name, (port, model) in targets.items():
                    body = {"model": model, "stream": stream,
                            "messages": [{"role": "user", "content": "hi"}]}
                    url = f"http://127.0.0.1:{port}/v1/chat/completions"
                    asyncio.run(load(url, body, 0.5, concurrency))  # warm up
                    results[name] = asyncio.run(load(url, body, args.seconds, concurrency))
                direct, dump = results["direct"][0], results["mitmdump"][0]
                for name, (rate, median) in results.items():
                    ratios = "" if name in ("direct", "mitmdump") else \
                        f"  {rate / direct:5.2f}x direct  {rate / dump:5.2f}x mitmdump"
                    print(f"  {name:28} {rate:8.0f} req/s  median {median:6.2f} ms{ratios}")
    finally:
        for process in processes:
            stop(process)


if __name__ == "__main__":
    main()
