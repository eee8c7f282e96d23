"""The thread all MLX work runs on: calls in submission order, and a clean end.

Why not a `ThreadPoolExecutor`: MLX keeps per-thread streams whose C++ destructors, run when
a thread ends, can abort the whole process at exit ("terminate called without an active
exception", exit code 134: seen on about half the runs here with mlx 0.32 on Linux). MLX's
remedy is to call `mx.clear_streams()` on the thread before it ends
(https://github.com/ml-explore/mlx/pull/3395), and an executor has no hook for the end of its
threads. So this thread clears its streams on the way out, and an `atexit` handler ends it if
the owner never called `stop()` (a daemon thread, so a forgotten `stop()` cannot hang exit).
"""

from __future__ import annotations

import atexit
import logging
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

log = logging.getLogger(__name__)

_Call = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class MlxThread:
    """A single daemon thread; `on_exit` runs on it last, then its MLX streams are cleared."""

    def __init__(
        self,
        on_exit: Callable[[], None],
        *,
        on_stop: Callable[[], None] = lambda: None,
        name: str = "mlx-worker",
    ) -> None:
        self._on_exit = on_exit
        self._on_stop = on_stop
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._calls.put((future, fn, args))
        return future

    def stop(self, timeout: float | None = 30.0) -> None:
        """`on_stop` (which should make running work end soon), then run what is queued,
        then `on_exit`, then end the thread; blocks until it has."""
        atexit.unregister(self.stop)
        self._on_stop()
        self._calls.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the MLX worker did not end within %s s", timeout)

    def _loop(self) -> None:
        try:
            while (call := self._calls.get()) is not None:
                future, fn, args = call
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:
                    future.set_exception(exc)
        finally:
            try:
                self._on_exit()
            except Exception:
                log.exception("cleaning up the MLX worker failed")
            mx = sys.modules.get("mlx.core")
            if mx is not None and hasattr(mx, "clear_streams"):
                mx.clear_streams()
