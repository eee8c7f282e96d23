"""`@fails_closed`: the one way a hook that can answer a flow survives its own bugs.

mitmproxy only logs an exception raised in a hook, and the flow then continues unchanged:
an untranslated OpenAI body would reach an Anthropic host, a request meant for the router
would reach the reverse proxy's placeholder target. So every `requestheaders`, `request`
and `response` hook that can answer a flow is decorated: an unexpected exception (in the
hook, or in the coroutine it returns) is logged once with the flow id, on the hook's own
module logger, and the flow is answered with an error in the client's format, by default a
500 `translation_failed` saying it is a bug. Errors a hook expects (a `TranslationError`, a
missing key) it still answers itself, with their own status and message.

Not for `responseheaders` with a stream: the answer's headers are the provider's by then, so
a failure there ends the stream with an error event instead (see `addons/translate.py`).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from mitmproxy import http

from ..translators.errors import ErrorInfo
from .answers import error_response

Hook = TypeVar("Hook", bound=Callable[..., Any])


def bug(doing: str) -> ErrorInfo:
    """The default answer: mitmllm failed at `doing` ("translate the request"), its fault."""
    return ErrorInfo(500, f"mitmllm could not {doing} (a bug: the proxy log has the details).",
                     "server_error", code="translation_failed")


def fails_closed(doing: str, *, answer: ErrorInfo | None = None) -> Callable[[Hook], Hook]:
    """Decorate a hook method `(self, flow)`, sync or async, or sync returning an awaitable.

    `doing` ends the log line "flow ID: cannot ..."; `answer` is what the client gets."""
    error = answer or bug(doing)

    def decorate(hook: Hook) -> Hook:
        log = logging.getLogger(hook.__module__)

        def fail(flow: http.HTTPFlow) -> None:
            log.exception("flow %s: cannot %s", flow.id, doing)
            flow.response = error_response(flow, error)

        async def guard(flow: http.HTTPFlow, pending: Awaitable[Any]) -> None:
            try:
                await pending
            except Exception:
                fail(flow)

        if inspect.iscoroutinefunction(hook):
            @functools.wraps(hook)
            async def guarded_async(self: Any, flow: http.HTTPFlow) -> None:
                await guard(flow, hook(self, flow))
            return cast(Hook, guarded_async)

        @functools.wraps(hook)
        def guarded(self: Any, flow: http.HTTPFlow) -> Any:
            try:
                result = hook(self, flow)
            except Exception:
                fail(flow)
                return None
            # Hooks that usually finish at once return a coroutine only when they must wait.
            return guard(flow, result) if inspect.isawaitable(result) else result

        return cast(Hook, guarded)

    return decorate
