"""`mitmllm run --workers N`: N proxy processes on one port, and the process that keeps them.

Python runs one thread of Python at a time, so one process uses one core however busy it
is. N workers (each a whole `mitmllm run`, pipeline and all) listen on the same port: each
binds it with SO_REUSEPORT (`addons/mitmproxy_internals.listen_with_reuse_port`), and the
kernel spreads the incoming connections between them. That needs Linux, macOS or a BSD;
on Windows, where SO_REUSEPORT does not exist, `--workers` above 1 is refused.

The supervisor (this process) starts them, restarts one that dies (after 1 s, doubling up
to 30 s while they keep dying), and on SIGTERM passes it on, so each drains what it has
(`addons/drain.py`), and waits; SIGINT stops them at once. They read the same config file
and each reloads it when it changes. Their Prometheus metrics are summed over all of them
at any worker's `/metrics`: each writes its values to files in `PROMETHEUS_MULTIPROC_DIR`,
a folder the supervisor makes and removes (prometheus-client's multiprocess mode).
`mitmllm web` stays one process: mitmweb shows the flows of its own process only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import FrameType

RESTART_FIRST = 1.0  # seconds before restarting a worker that died
RESTART_MAX = 30.0
STABLE_AFTER = 60.0  # a worker that ran this long resets the delay


class WorkersUnsupported(Exception):
    """This OS cannot share a listen port between processes."""


def check_supported() -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        raise WorkersUnsupported(
            "--workers above 1 needs SO_REUSEPORT, which this OS lacks (Windows); run "
            "several mitmllm instances on different ports behind a load balancer instead "
            "(deploy/README.md)")


class Worker:
    def __init__(self, number: int, argv: list[str], env: dict[str, str]):
        self.number = number
        self.argv = argv
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.delay = RESTART_FIRST
        self.restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, env=self.env)
        self.started = time.monotonic()
        self.restart_at = None

    def reap(self) -> int | None:
        """The exit code if it has just died (and schedules its restart), else None."""
        if self.process is None or (code := self.process.poll()) is None:
            return None
        if time.monotonic() - self.started > STABLE_AFTER:
            self.delay = RESTART_FIRST
        self.restart_at = time.monotonic() + self.delay
        self.delay = min(self.delay * 2, RESTART_MAX)
        self.process = None
        return code


def supervise(count: int, argv: list[str]) -> int:
    """Run `count` workers started with `argv` until a signal stops them; the exit code."""
    check_supported()
    metrics_dir = tempfile.mkdtemp(prefix="mitmllm-metrics-")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
    workers = [Worker(n, argv, env) for n in range(1, count + 1)]
    stopping: list[int] = []  # the signal that stops them, once one came

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)
        for worker in workers:
            if worker.process is not None and worker.process.poll() is None:
                worker.process.send_signal(signum)  # SIGTERM: each drains; SIGINT: stops

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for worker in workers:
            worker.start()
        while not stopping:
            for worker in workers:
                code = worker.reap()
                if code is not None and not stopping:
                    print(f"mitmllm: worker {worker.number} exited with {code}; restarting "
                          f"it in {worker.delay / 2:g} s", file=sys.stderr)
                if worker.process is None and worker.restart_at is not None \
                        and time.monotonic() >= worker.restart_at and not stopping:
                    _mark_dead(metrics_dir)
                    worker.start()
            time.sleep(0.1)
        codes = []
        for worker in workers:
            if worker.process is not None:
                codes.append(worker.process.wait())
        # A worker still starting when the signal came dies of it before it can drain:
        # that is still the stop that was asked for.
        return 0 if all(code in (0, -stopping[0]) for code in codes) else 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _mark_dead(metrics_dir: str) -> None:
    """A dead worker's live gauges leave the sums (counters and histograms stay)."""
    from prometheus_client import multiprocess

    alive = set()
    for name in os.listdir(metrics_dir):
        for part in name.rsplit(".", 1)[0].split("_"):
            if part.isdigit():
                alive.add(int(part))
    for pid in alive:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, metrics_dir)
        except PermissionError:
            pass
