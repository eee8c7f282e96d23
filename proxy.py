"""Starting mitmproxy with the mitmllm pipeline: `mitmllm run` (headless) and `mitmllm web`.

`run` builds a bare master (`HeadlessMaster`: hooks dispatched from a table) with only
the addons a reverse proxy needs (profiled: the ~36 default addons of mitmdump cost 40 %
of the CPU per request), then the pipeline, and keeps
no copies of bodies for the inspection views (`mitmllm_keep_mb=0`): no one looks at its
flows. `web` uses mitmweb's `WebMaster` with all its addons, so everything mitmweb offers
works; its flow list shows the Comment column, where mitmllm labels every flow. The flow
list itself (`view`) and the addons that write flows to disk (`save_stream_file`,
`hardump`) run after the pipeline, so an open mitmweb tab never gets a flow before the
client's keys are redacted, and a saved flow has the answer both sides got and no secret.

Both listen in reverse mode on the listen address with `connection_strategy=lazy`: the
reverse target is a placeholder, since every request is re-pointed by the pipeline.
SIGINT and SIGTERM stop the master cleanly (listen sockets closed, tasks cancelled).

A listen address that cannot be bound is a `ListenError` (cli/listen.py), which the CLI
prints as one line naming its option. The CLI checks both ports before mitmproxy starts;
should a port be taken in between, mitmproxy's own failure ends in the same `ListenError`:
mitmweb's WebMaster raises an OSError for its web port, and for the proxy port the
Proxyserver logs an error and mitmproxy's ErrorCheck exits (`SystemExit`) with nothing
listening.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
from dataclasses import dataclass
from pathlib import Path

from mitmproxy import options
from mitmproxy.addons import core, errorcheck, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master

from .addons import pipeline
from .addons.mitmproxy_internals import (
    HeadlessMaster,
    listen_with_reuse_port,
    move_to_chain_end,
)
from .addons.state import Gateway
from .cli.listen import ListenError, bind_problem
from .config.secrets import Secrets

logger = logging.getLogger(__name__)

# Where the reverse proxy would go if no addon re-pointed a request; none reaches it.
PLACEHOLDER_TARGET = "http://mitmllm.invalid"  # .invalid never resolves (RFC 2606)


@dataclass(frozen=True, slots=True)
class ListenSpec:
    host: str
    port: int
    config: Path
    web_port: int | None = None  # set for `mitmllm web`
    web_host: str = "127.0.0.1"
    web_password: str | None = None
    save: Path | None = None  # `mitmllm web --save FILE`: mitmproxy's save_stream_file
    shared_port: bool = False  # one of `run --workers N`: the port is bound with SO_REUSEPORT
    verbose: bool = False


def proxy_options(spec: ListenSpec) -> dict[str, object]:
    return {
        "mode": [f"reverse:{PLACEHOLDER_TARGET}@{spec.port}"],
        "listen_host": spec.host,
        "connection_strategy": "lazy",
        # The Host the client sent, for the Providers page's checks (docs/admin.md#access).
        "keep_host_header": True,
        # mitmllm's answers are made for API clients, not browsers: no mitm.it, no proxy
        # auth prompt, and no interception of the provider's TLS (that is upstream).
        "termlog_verbosity": "debug" if spec.verbose else "info",
    }


# mitmweb's default columns, with the Comment column (mitmllm's label) before the path.
WEB_COLUMNS = ["tls", "icon", "comment", "path", "method", "status", "size", "time"]
# The addons that show flows (mitmweb's flow list, `view`, which sends a flow to every open
# tab as soon as its request headers arrive) or write them out when they end: they must
# see what the pipeline keeps there in the same hooks (the client's keys already redacted,
# the answer both sides got).
# Then `replaysecrets`, which must come after every flow list (credentials.ReplaySecrets).
WRITERS = ("view", "save", "savehar", "replaysecrets")


def _after_pipeline(master: Master, names: tuple[str, ...]) -> None:
    """Move the named addons to the end of the chain, after the pipeline (the chain runs a
    hook in order). Reordered in place rather than removed and added again, which would
    load them twice (and mitmweb's `save` would log "Over-riding existing option")."""
    move_to_chain_end(master.addons, names)


def _configure_logging(verbose: bool = True) -> None:
    # As mitmproxy's own tools do: the root logger passes everything to TermLog (and
    # mitmweb's event list), which filter by `termlog_verbosity`; chatty libraries stay at
    # warnings. `run` without -v passes on INFO and up only (a DEBUG record made and then
    # dropped by TermLog still costs its LogRecord on every request), and keeps mitmproxy's
    # per-connection lines ("client connect", "server connect", ...: five per request)
    # for -v: a gateway's log is one line per model request (addons/inspect.py) and the
    # errors.
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        logging.getLogger("mitmproxy.proxy.server").setLevel(logging.WARNING)
        # What a record collects that no mitmproxy formatter prints (the logging HOWTO's
        # "Optimization" section): the caller's file and line, thread, process.
        logging._srcfile = None
        logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    for name in ("tornado", "asyncio", "hpack", "aiohttp.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _install_signals(master: Master) -> None:
    """SIGINT (Ctrl-C) stops at once. SIGTERM, what a service manager, Kubernetes or a
    rolling restart sends, drains first (`addons/drain.py`); a second one stops at once."""
    loop = asyncio.get_running_loop()
    drain = master.addons.get("drain")
    terms = 0

    def on_term() -> None:
        nonlocal terms
        terms += 1
        if drain is None or terms > 1:
            master.shutdown()
        else:
            drain.begin()

    for sig, handler in ((signal.SIGINT, master.shutdown), (signal.SIGTERM, on_term)):
        try:
            loop.add_signal_handler(sig, handler)
        except (NotImplementedError, RuntimeError):  # Windows
            signal.signal(sig, lambda *_, handler=handler: handler())


async def run_headless(spec: ListenSpec, secrets: Secrets | None = None) -> int:
    _configure_logging(spec.verbose)
    if spec.shared_port:
        listen_with_reuse_port()
    opts = options.Options()
    master = HeadlessMaster(opts)
    master.addons.add(core.Core(), proxyserver.Proxyserver())
    opts.update_defer(mitmllm_config=str(spec.config), mitmllm_keep_mb=0)
    master.addons.add(*pipeline(Gateway(secrets)))
    master.addons.add(next_layer.NextLayer(), tlsconfig.TlsConfig(), errorcheck.ErrorCheck())
    opts.update(**proxy_options(spec))
    _install_signals(master)
    await _run_master(master, spec)
    return 0


async def _run_master(master: Master, spec: ListenSpec) -> None:
    """`master.run()`, a port someone else took turned into a `ListenError`."""
    try:
        await master.run()
    except SystemExit:
        # ErrorCheck ends a start during which an error was logged; if nothing listens,
        # the listen port is why (mitmproxy logged the reason: a busy port, ...).
        proxyserver = master.addons.get("proxyserver")
        if proxyserver is not None and not proxyserver.listen_addrs():
            problem = bind_problem(spec.host, spec.port)
            if problem is not None:
                raise ListenError("proxy", spec.host, spec.port, problem) from None
        raise
    except OSError as exc:
        # mitmweb's web server, which WebMaster starts after the proxy (mitmproxy 12).
        if spec.web_port is not None and exc.errno in (errno.EADDRINUSE, errno.EACCES,
                                                       errno.EADDRNOTAVAIL):
            raise ListenError("web", spec.web_host, spec.web_port, exc) from None
        raise


async def run_web(spec: ListenSpec, secrets: Secrets | None = None) -> int:
    from mitmproxy.tools.web.master import WebMaster

    _configure_logging()
    opts = options.Options()
    master = WebMaster(opts, with_termlog=True)
    opts.update_defer(mitmllm_config=str(spec.config))
    master.addons.add(*pipeline(Gateway(secrets)))
    _after_pipeline(master, WRITERS)
    web: dict[str, object] = {"web_port": spec.web_port or 8081, "web_host": spec.web_host,
                              "web_open_browser": False, "web_columns": WEB_COLUMNS}
    if spec.web_password:
        web["web_password"] = spec.web_password
    if spec.save:
        web["save_stream_file"] = str(spec.save)
    opts.update(**proxy_options(spec), **web)
    _install_signals(master)
    await _run_master(master, spec)
    return 0
