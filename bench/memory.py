"""RSS of one `mitmllm run` while it serves many streams, against issue 13's target:
RSS after 50k streams within 15 % of RSS after 5k (flat memory under load).

    .venv/bin/python bench/memory.py                      # 50k translated streams, ~4 min
    .venv/bin/python bench/memory.py --streams 20000 --route oai/m   # passthrough

The fake provider (bench/fake_upstream.py) writes 50-event streams; the client reads each
to its end at concurrency 16. RSS (VmRSS from /proc) is printed at 5k and then at every
further 5k streams, with the growth over the 5k figure. Nothing in the test suite asserts
it.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

from gateway import (
    BIN,
    HERE,
    Target,
    free_port,
    load_count,
    mitmllm_config,
    rss_mb,
    start,
    stop,
    wait_ready,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=50_000)
    parser.add_argument("--route", default="anth/m",
                        help="anth/m: OpenAI client, Anthropic provider (translated); "
                             "oai/m: the same format (passthrough)")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mitmllm-memory-"))
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "HOME": str(workdir)}
    upstream = free_port()
    processes = [start([sys.executable, str(HERE / "fake_upstream.py"), str(upstream)])]
    try:
        wait_ready(f"http://127.0.0.1:{upstream}/v1/models")
        port = free_port()
        proxy = start([str(BIN / "mitmllm"), "run", "--config",
                       str(mitmllm_config(workdir, upstream)), "--port", str(port)], env)
        processes.append(proxy)
        target = Target("mitmllm", port, args.route, proxy, "/health")
        wait_ready(f"http://127.0.0.1:{port}/health", timeout=60)
        time.sleep(1)
        print(f"{args.route}: RSS at start {rss_mb(target.pids()):.0f} MB", flush=True)
        done, base = 0, None
        began = time.monotonic()
        while done < args.streams:
            step = min(5000, args.streams - done)
            asyncio.run(load_count(target, step, args.concurrency))
            done += step
            rss = rss_mb(target.pids())
            base = base or rss
            print(f"  after {done:>6} streams: RSS {rss:6.1f} MB  ({rss / base - 1:+.1%} over "
                  f"the 5k figure; {time.monotonic() - began:.0f} s)", flush=True)
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
