"""`mitmllm run`, `mitmllm web` and `mitmllm models`: start the gateway, or list what the
enabled providers (and local models) offer right now."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import __version__
from ..config.secrets import Secrets
from ..config.store import ensure_config_file, load_config
from . import listen as listen_check
from .common import EXIT_FAILED, config_file, fail, load, provider_named
from .listen import ListenError, authority, listen_failure, listen_host


def cmd_run(args: argparse.Namespace) -> int:
    web_host = listen_host(getattr(args, "web_host", None), "--web-host") or "127.0.0.1"
    host_option = listen_host(args.host, "--host")
    path = config_file(args)
    config = load_config(path)  # a missing file reads as the default one it is created as
    host = host_option or config.listen.host
    port = args.port if args.port is not None else config.listen.port
    listen = replace(config.listen, host=host, port=port)
    if not listen.is_loopback and not listen.token:
        fail(f"listening on {host} needs listen.token in {path} (or "
             "MITMLLM_LISTEN_TOKEN): anyone who can reach the port could otherwise spend your keys")
    web_port = getattr(args, "web_port", None)
    if web_port == port:
        fail(f"--web-port {web_port} is the listen port too; choose another for mitmweb")
    addresses = [("proxy", host, port)]
    if web_port is not None:
        addresses.append(("web", web_host, web_port))
    worker = getattr(args, "worker", False)  # one of `--workers N`: its siblings share the port
    for which, address_host, address_port in addresses if not worker else []:
        problem = listen_check.bind_problem(address_host, address_port)
        if problem is not None:
            fail(listen_failure(ListenError(which, address_host, address_port, problem), path),
                 EXIT_FAILED)
    if ensure_config_file(path):
        print(f"mitmllm: created {path} (providers are added with `mitmllm providers add`)",
              file=sys.stderr)
    workers = getattr(args, "workers", 1)
    if not worker:
        print(f"mitmllm {__version__}: OpenAI, Anthropic and Responses clients -> "
              f"http://{authority(host, port)}/v1  (config {path})"
              + (f", {workers} workers" if workers > 1 else ""), file=sys.stderr)
    if workers > 1 and not worker:
        from ..supervisor import WorkersUnsupported, supervise

        try:
            return supervise(workers, worker_argv(args, host, port, path))
        except WorkersUnsupported as exc:
            fail(str(exc))
    from ..proxy import ListenSpec, run_headless, run_web  # mitmproxy, once all is checked

    spec = ListenSpec(host=host, port=port, config=path, verbose=args.verbose,
                      web_port=web_port, web_host=web_host, save=getattr(args, "save", None),
                      shared_port=worker)
    runner = run_web if args.command == "web" else run_headless
    try:
        return asyncio.run(runner(spec))
    except ListenError as exc:
        fail(listen_failure(exc, path), EXIT_FAILED)


def worker_argv(args: argparse.Namespace, host: str, port: int, path: Path) -> list[str]:
    """How the supervisor starts one worker: this command, as one of several."""
    argv = [sys.executable, "-m", "mitmllm.cli", "run", "--worker", "--host", host,
            "--port", str(port), "--config", str(path)]
    return [*argv, "-v"] if args.verbose else argv


def cmd_models(args: argparse.Namespace) -> int:
    import aiohttp

    from ..addons.connections import probe
    from ..config.auth import SecretCache

    config = load(args)
    cache = SecretCache(Secrets())

    async def run() -> list[Any]:
        async with aiohttp.ClientSession() as session:
            wanted = [p for p in config.providers if p.enabled]
            return list(await asyncio.gather(*(probe(session, p, cache) for p in wanted)))

    for status in asyncio.run(run()):
        provider = provider_named(config, status.name)
        if status.state != "connected":
            print(f"# {provider.name}: {status.state}: {status.error}", file=sys.stderr)
        for model in status.models:
            print(f"{provider.slug}/{model.id}\t{provider.name}")
    if config.local.enabled:
        from ..local.discovery import discover_models

        for local_model in discover_models(config.local.model_dirs):
            print(f"{local_model.id}\tlocal")
    return 0
