"""A test server (fake, echo or hostile provider) serving from its own event loop in a
thread, so that tests can drive it with synchronous clients (the SDKs, agent CLIs, curl).

    with ServerThread(SomeProvider(), "some provider") as provider:
        ...

The server has `async start()` (what it returns is kept as `started`, e.g. its URL) and
`async stop()`."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Protocol


class Server(Protocol):
    async def start(self) -> Any: ...
    async def stop(self) -> None: ...


class ServerThread[S: Server]:
    def __init__(self, server: S, name: str):
        self.provider = server
        self.name = name
        self.loop = asyncio.new_event_loop()
        self.started: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> S:
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name=self.name)
        self._thread.start()
        self.started = asyncio.run_coroutine_threadsafe(self.provider.start(),
                                                        self.loop).result(10)
        return self.provider

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.provider.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self.loop.close()
