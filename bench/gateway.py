"""mitmllm against a direct connection and the bare-mitmdump floor, in one run.

    .venv/bin/python bench/gateway.py [--seconds 5] [--workers 2] [--litellm] [--portkey]

Every target sits in front of the same fake provider (bench/fake_upstream.py, its own
process, writing a stream's 50 events one by one):

- `direct`: the fake provider itself;
- `floor`: stock `mitmdump` as a reverse proxy with streaming on and one trivial rewrite
  addon (bench/floor_addon.py), the least any mitmproxy-based gateway does;
- `passthrough`: `mitmllm run`, OpenAI client to an OpenAI-format provider;
- `translated`: `mitmllm run`, OpenAI client to an Anthropic-format provider;
- `workers`: `mitmllm run --workers N`, translated, and passthrough for whole answers;
- `litellm`, `portkey` (optional, when installed; see bench/README.md).

For each: requests (or streams) per second, p50 and p99 latency, the time to the first
event of a stream, the proxy's CPU milliseconds per request from /proc (all its processes),
and its RSS before and after. Then the ratios issue 13 set as targets, each against the
floor measured in the same run. The box is noisy: compare ratios, not absolute figures,
and run it twice. Nothing in the test suite asserts a speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=0.5).read()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    # Its own process group: `stop` reaches what it starts too (npx's node, the workers).
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(15)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def family(pid: int) -> list[int]:
    """The process and all its descendants (the workers of a supervisor, npx's node)."""
    found = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                           text=True, check=False).stdout.split()
    return [pid, *(p for child in found for p in family(int(child)))]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


@dataclass
class Result:
    rate: float  # per second
    p50: float  # ms
    p99: float  # ms
    first_event: float | None  # ms, p50, streams only
    cpu_ms: float | None  # proxy CPU per request
    count: int


@dataclass
class Target:
    name: str
    port: int
    model: str
    process: subprocess.Popen[bytes] | None = None
    ready: str = "/v1/models"  # what answers once it is up
    headers: dict[str, str] = field(default_factory=dict)
    rss: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def pids(self) -> list[int]:
        return family(self.process.pid) if self.process else []


async def load(target: Target, stream: bool, seconds: float, concurrency: int) -> Result:
    body = {"model": target.model, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]}
    latencies: list[float] = []
    firsts: list[float] = []
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=target.headers) as session:
        async def worker() -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                async with session.post(target.url, json=body) as answer:
                    if stream:
                        await answer.content.readany()
                        firsts.append(time.perf_counter() - started)
                    data = await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"{target.name}: {answer.status} {data[:200]!r}")
                latencies.append(time.perf_counter() - started)

        cpu_before = cpu_seconds(target.pids())
        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - began
        cpu = cpu_seconds(target.pids()) - cpu_before
    latencies.sort()
    return Result(
        rate=len(latencies) / elapsed, p50=statistics.median(latencies) * 1000,
        p99=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        first_event=statistics.median(firsts) * 1000 if firsts else None,
        cpu_ms=cpu / len(latencies) * 1000 if target.process else None, count=len(latencies))


async def load_count(target: Target, count: int, concurrency: int) -> None:
    """`count` streams read to their end, `concurrency` at a time (bench/memory.py)."""
    body = {"model": target.model, "stream": True,
            "messages": [{"role": "user", "content": "hi"}]}
    left = count
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=target.headers) as session:
        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                async with session.post(target.url, json=body) as answer:
                    data = await answer.read()
                    if answer.status != 200 or b"[DONE]" not in data:
                        raise RuntimeError(f"{target.name}: {answer.status} {data[-200:]!r}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def mitmllm_config(workdir: Path, upstream: int) -> Path:
    config = workdir / "config.yaml"
    config.write_text(f"""\
providers:
  - {{name: oai, preset: custom, host: 127.0.0.1, protocol: http, port: {upstream}}}
  - {{name: anth, preset: custom, format: anthropic, host: 127.0.0.1, protocol: http,
     port: {upstream}}}
local: {{enabled: false}}
""")
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--litellm", action="store_true", help="add `litellm --config` "
                        "(pip install 'litellm[proxy]')")
    parser.add_argument("--portkey", action="store_true", help="add the Portkey gateway "
                        "(npm install @portkey-ai/gateway; needs node)")
    args = parser.parse_args()
    seconds = args.seconds
    workdir = Path(tempfile.mkdtemp(prefix="mitmllm-bench-"))
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "HOME": str(workdir)}

    upstream = free_port()
    processes = [start([sys.executable, str(HERE / "fake_upstream.py"), str(upstream)])]
    wait_ready(f"http://127.0.0.1:{upstream}/v1/models")
    targets = [Target("direct", upstream, "m")]
    floor = Target("floor", free_port(), "m")
    floor.process = start([str(BIN / "mitmdump"), "-q", "--listen-host", "127.0.0.1", "--mode",
                           f"reverse:http://127.0.0.1:{upstream}@{floor.port}",
                           "--set", "stream_large_bodies=1", "-s",
                           str(HERE / "floor_addon.py")])
    config = mitmllm_config(workdir, upstream)
    one = free_port()
    many = free_port()
    llm = start([str(BIN / "mitmllm"), "run", "--config", str(config), "--port", str(one)], env)
    workers = start([str(BIN / "mitmllm"), "run", "--config", str(config), "--port",
                     str(many), "--workers", str(args.workers)], env)
    processes += [floor.process, llm, workers]
    targets += [floor, Target("passthrough", one, "oai/m", llm, "/health"),
                Target("translated", one, "anth/m", llm, "/health"),
                Target(f"workers={args.workers} passthrough", many, "oai/m", workers, "/health"),
                Target(f"workers={args.workers} translated", many, "anth/m", workers,
                       "/health")]
    targets += optional_peers(args, workdir, upstream, processes)
    for target in targets:
        wait_ready(f"http://127.0.0.1:{target.port}{target.ready}", timeout=120)
    time.sleep(1.5)  # the workers connect their providers
    for target in targets:
        target.rss.append(rss_mb(target.pids()))

    plans = [("whole answers", False, 1), ("whole answers", False, 16),
             ("50-event streams", True, 1), ("50-event streams", True, 16),
             ("50-event streams", True, 64)]
    results: dict[tuple[str, str, int], Result] = {}
    try:
        for workload, stream, concurrency in plans:
            print(f"\n{workload}, concurrency {concurrency}, {seconds:g} s each")
            print(f"  {'target':28} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{'1st ev ms':>9} {'CPU ms':>7}")
            for target in targets:
                if concurrency == 64 and "passthrough" in target.name:
                    continue
                try:
                    asyncio.run(load(target, stream, 0.5, concurrency))  # warm up
                    result = asyncio.run(load(target, stream, seconds, concurrency))
                except RuntimeError as exc:
                    if target.name not in PEERS:
                        raise
                    # A peer failing one workload (Portkey 1.15 under Node 20 answers every
                    # stream 500, "TypeError: immutable") still gives the others.
                    print(f"  {target.name:28} failed: {str(exc)[:80]}", flush=True)
                    continue
                results[(target.name, workload, concurrency)] = result
                first = f"{result.first_event:9.2f}" if result.first_event else " " * 9
                cpu = f"{result.cpu_ms:7.2f}" if result.cpu_ms is not None else " " * 7
                print(f"  {target.name:28} {result.rate:8.0f} {result.p50:8.2f} "
                      f"{result.p99:8.2f} {first} {cpu}", flush=True)
        for target in targets:
            target.rss.append(rss_mb(target.pids()))
        print("\nRSS MB before -> after")
        for target in targets:
            if target.process is not None:
                print(f"  {target.name:28} {target.rss[0]:6.0f} -> {target.rss[-1]:6.0f}")
        report_targets(results, args.workers)
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def report_targets(results: dict[tuple[str, str, int], Result], workers: int) -> None:
    """Issue 13's targets, each as measured against the floor of this run."""
    def get(name: str, workload: str, concurrency: int) -> Result:
        return results[(name, workload, concurrency)]

    whole, streams = "whole answers", "50-event streams"
    floor_whole = get("floor", whole, 16)
    floor_stream = get("floor", streams, 16)
    rows = [
        ("p99 at c1, whole", get("passthrough", whole, 1).p99 / get("floor", whole, 1).p99,
         "<= 2.0x floor", 2.0),
        ("CPU per whole answer (c16)", ratio(get("passthrough", whole, 16).cpu_ms,
                                             floor_whole.cpu_ms), "<= 0.7x floor", 0.7),
        ("CPU per passthrough stream (c16)", ratio(get("passthrough", streams, 16).cpu_ms,
                                                   floor_stream.cpu_ms), "<= 0.9x floor", 0.9),
        ("CPU per translated stream (c16)", ratio(get("translated", streams, 16).cpu_ms,
                                                  floor_stream.cpu_ms),
         "<= 1.1x floor's stream", 1.1),
        (f"workers={workers} whole req/s (c16)",
         get(f"workers={workers} passthrough", whole, 16).rate / floor_whole.rate,
         ">= 2.0x floor", -2.0),
        (f"workers={workers} translated streams/s (c64)",
         get(f"workers={workers} translated", streams, 64).rate
         / get("floor", streams, 64).rate, ">= 2.0x floor", -2.0),
    ]
    # "ahead of Portkey's single process on both" (issue 13, item 3), where it ran
    if ("portkey", whole, 16) in results:
        rows.append((f"workers={workers} whole req/s vs Portkey (c16)",
                     get(f"workers={workers} passthrough", whole, 16).rate
                     / get("portkey", whole, 16).rate, ">= 1.0x Portkey", -1.0))
    if ("portkey", streams, 64) in results:
        rows.append((f"workers={workers} translated streams/s vs Portkey's passthrough (c64)",
                     get(f"workers={workers} translated", streams, 64).rate
                     / get("portkey", streams, 64).rate, ">= 1.0x Portkey", -1.0))
    print("\ntargets (ratios against the floor in this run)")
    for label, value, goal, limit in rows:
        met = value <= limit if limit > 0 else value >= -limit
        print(f"  {label:58} {value:6.2f}   {goal:22} {'met' if met else 'MISSED'}")
    extra = (get("passthrough", streams, 1).first_event or 0) - (
        get("floor", streams, 1).first_event or 0)
    print(f"  {'first event at c1, over the floor':58} {extra:+6.2f} ms "
          f"{'<= +0.5 ms':22} {'met' if extra <= 0.5 else 'MISSED'}")


PEERS = ("litellm", "portkey")  # optional; only these may fail a workload


def ratio(value: float | None, base: float | None) -> float:
    return value / base if value is not None and base else float("nan")


def optional_peers(args: argparse.Namespace, workdir: Path, upstream: int,
                   processes: list[subprocess.Popen[bytes]]) -> list[Target]:
    """LiteLLM and Portkey in the same run, when installed (bench/README.md)."""
    peers: list[Target] = []
    if args.litellm and shutil.which("litellm"):
        config = workdir / "litellm.yaml"
        config.write_text(json.dumps({"model_list": [{
            "model_name": "m", "litellm_params": {
                "model": "openai/m", "api_base": f"http://127.0.0.1:{upstream}/v1",
                "api_key": "x"}}]}))
        port = free_port()
        # Current LiteLLM refuses to start without a master key; clients send it.
        master_key = "sk-bench-" + secrets.token_hex(16)
        process = start(["litellm", "--config", str(config), "--port", str(port),
                         "--num_workers", "1"], {"LITELLM_MASTER_KEY": master_key})
        processes.append(process)
        peers.append(Target("litellm", port, "m", process, "/health/liveliness",
                            headers={"authorization": f"Bearer {master_key}"}))
    if args.portkey and shutil.which("npx"):
        port = free_port()
        # Portkey reads `--port=N` (not `--port N`); `--headless` leaves out its log UI.
        process = start(["npx", "--yes", "@portkey-ai/gateway", f"--port={port}",
                         "--headless"], {"NODE_ENV": "production"})
        processes.append(process)
        peers.append(Target("portkey", port, "m", process, "/", headers={
            "x-portkey-provider": "openai", "authorization": "Bearer x",
            "x-portkey-custom-host": f"http://127.0.0.1:{upstream}/v1"}))
    return peers


if __name__ == "__main__":
    main()
