"""`mitmllm run`, `mitmllm web` and `mitmllm models`: start the gateway, or list what the
enabled providers (and local models) offer right now."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from .. import __version__
from ..config.secrets import Secrets
from ..config.store import ensure_config_file, load_config
from .common import config_file, fail, load, provider_named


def cmd_run(args: argparse.Namespace) -> int:
    from ..proxy import ListenSpec, run_headless, run_web

    path = config_file(args)
    if ensure_config_file(path):
        print(f"mitmllm: created {path} (providers are added with `mitmllm providers add`)",
              file=sys.stderr)
    config = load_config(path)
    host = args.host or config.listen.host
    port = args.port or config.listen.port
    listen = config.listen.__class__(host=host, port=port, token=config.listen.token)
    if not listen.is_loopback and not listen.token:
        fail(f"listening on {host} needs listen.token in {path}: anyone who can reach the "
             "port could otherwise spend your keys")
    spec = ListenSpec(host=host, port=port, config=path, verbose=args.verbose,
                      web_port=getattr(args, "web_port", None),
                      web_host=getattr(args, "web_host", "127.0.0.1"),
                      save=getattr(args, "save", None))
    print(f"mitmllm {__version__}: OpenAI, Anthropic and Responses clients -> "
          f"http://{host}:{port}/v1  (config {path})", file=sys.stderr)
    runner = run_web if args.command == "web" else run_headless
    return asyncio.run(runner(spec))


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
