"""A small driver for mitmproxy proxy layers in unit tests, without sockets or a master.

A test hands the layer the events the proxy server would (`DataReceived` from the client or
the provider, a `Wakeup`, `ConnectionClosed`) and reads back the commands the layer yields
(bytes to send, connections to close, wakeups to schedule). The blocking commands, which
the proxy server would answer later, are answered here at once, as the server would:

- an event hook (`requestheaders`, `request`, `responseheaders`, `response`, `error`, ...)
  runs on the given addons in list order, awaited when it returns an awaitable;
- `OpenConnection` succeeds (the connection is marked open, with timestamps), unless the
  test listed its address as refused.

mitmproxy's own layer tests use a `Playbook` from its repository's test folder, which the
wheel does not ship; this is mitmllm's own, smaller take on the same idea: imperative and
async (our addons' hooks may be coroutines), with the commands returned for the test to
assert on, rather than a scripted expectation list.
"""

from __future__ import annotations

import inspect
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from mitmproxy.connection import Connection, ConnectionState, Server
from mitmproxy.proxy import commands, events, layer


class Playbook:
    def __init__(self, top: layer.Layer, addons: Sequence[object] = (), *,
                 refuse: Mapping[tuple[str, int], str] | None = None):
        self.layer = top
        self.addons = list(addons)
        self.refuse = dict(refuse or {})
        self.hooks_run: list[commands.StartHook] = []  # in the order they ran
        self.opened: list[Server] = []  # connections the layer asked to open
        self.commands: list[commands.Command] = []  # every non-blocking command, in order

    async def feed(self, event: events.Event) -> list[commands.Command]:
        """Give `event` to the layer and answer whatever it blocks on, until it waits for
        the outside again. Returns the non-blocking commands it yielded meanwhile."""
        yielded: list[commands.Command] = []
        replies: deque[events.Event] = deque([event])
        while replies:
            # Drain the layer's generator before answering: a blocking command pauses the
            # layer, and its reply only makes sense once the layer has paused.
            answers: list[events.Event] = []
            for command in self.layer.handle_event(replies.popleft()):
                if isinstance(command, commands.StartHook):
                    await self._run_hook(command)
                    answers.append(events.HookCompleted(command))
                elif isinstance(command, commands.OpenConnection):
                    answers.append(events.OpenConnectionCompleted(
                        command, self._open(command.connection)))
                else:
                    yielded.append(command)
            replies.extend(answers)
        self.commands.extend(yielded)
        return yielded

    async def wake(self, wakeup: commands.RequestWakeup) -> list[commands.Command]:
        """The proxy server's answer to `RequestWakeup`, once its delay has passed."""
        return await self.feed(events.Wakeup(wakeup))

    async def _run_hook(self, hook: commands.StartHook) -> None:
        self.hooks_run.append(hook)
        for addon in self.addons:
            method = getattr(addon, hook.name, None)
            if method is None:
                continue
            result = method(*hook.args())
            if inspect.isawaitable(result):
                await result

    def _open(self, connection: Connection) -> str | None:
        assert isinstance(connection, Server) and connection.address is not None
        self.opened.append(connection)
        refused = self.refuse.get(connection.address)
        if refused is not None:
            connection.error = refused
            return refused
        connection.timestamp_start = connection.timestamp_tcp_setup = time.time()
        connection.state = ConnectionState.OPEN
        connection.peername = connection.address
        connection.sockname = ("127.0.0.1", 40000)
        return None


def sent_to(connection: Connection, yielded: Iterable[commands.Command]) -> bytes:
    """The bytes the layer wrote to `connection`, in order."""
    return b"".join(c.data for c in yielded
                    if isinstance(c, commands.SendData) and c.connection is connection)


def closed(connection: Connection, yielded: Iterable[commands.Command]) -> bool:
    return any(isinstance(c, commands.CloseConnection) and c.connection is connection
               for c in yielded)


def wakeups(yielded: Iterable[commands.Command]) -> list[commands.RequestWakeup]:
    return [c for c in yielded if isinstance(c, commands.RequestWakeup)]
