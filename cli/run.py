"""`mitmllm run`, `mitmllm web` and `mitmllm models`: start the gateway, or list what the
enabled providers (and local models) offer right now."""

from __future__ import annotations

import argparse
import asyncio
import errno
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..config.hosts import AddressError, normalise_host, shown, split_address
from ..config.secrets import Secrets
from ..config.store import ensure_config_file, load_config
from .common import EXIT_FAILED, config_file, fail, load, provider_named

if TYPE_CHECKING:
    from ..proxy import ListenError


def cmd_run(args: argparse.Namespace) -> int:
    from ..proxy import ListenError, ListenSpec, bind_problem, run_headless, run_web

    web_host = _listen_host(getattr(args, "web_host", None), "--web-host") or "127.0.0.1"
    host_option = _listen_host(args.host, "--host")
    path = config_file(args)
    config = load_config(path)  # a missing file reads as the default one it is created as
    host = host_option or config.listen.host
    port = args.port if args.port is not None else config.listen.port
    listen = replace(config.listen, host=host, port=port)
    if not listen.is_loopback and not listen.token:
        fail(f"listening on {host} needs listen.token in {path}: anyone who can reach the "
             "port could otherwise spend your keys")
    web_port = getattr(args, "web_port", None)
    spec = ListenSpec(host=host, port=port, config=path, verbose=args.verbose,
                      web_port=web_port, web_host=web_host, save=getattr(args, "save", None))
    if web_port == port:
        fail(f"--web-port {web_port} is the listen port too; choose another for mitmweb")
    addresses = [("proxy", host, port)]
    if web_port is not None:
        addresses.append(("web", web_host, web_port))
    for which, address_host, address_port in addresses:
        problem = bind_problem(address_host, address_port)
        if problem is not None:
            fail(listen_failure(ListenError(which, address_host, address_port, problem), path),
                 EXIT_FAILED)
    if ensure_config_file(path):
        print(f"mitmllm: created {path} (providers are added with `mitmllm providers add`)",
              file=sys.stderr)
    print(f"mitmllm {__version__}: OpenAI, Anthropic and Responses clients -> "
          f"http://{_authority(host, port)}/v1  (config {path})", file=sys.stderr)
    runner = run_web if args.command == "web" else run_headless
    try:
        return asyncio.run(runner(spec))
    except ListenError as exc:
        fail(listen_failure(exc, path), EXIT_FAILED)


def _listen_host(text: str | None, option: str) -> str | None:
    """A listen host option as mitmproxy takes it (IPv6 without brackets); a URL is refused
    with the options to give instead."""
    if text is None:
        return None
    host = normalise_host(text)
    if host is not None:
        return host
    hint = ""
    try:
        address = split_address(text)
    except AddressError:
        pass
    else:
        hint = f"; use {option} {address.host}"
        if address.port is not None and option == "--host":
            hint += f" --port {address.port}"
    fail(f"{option} expects a host name or address to listen on, such as 127.0.0.1 or "
         f"0.0.0.0, got {shown(text)!r}{hint}")


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen_failure(exc: ListenError, config: Path) -> str:
    """One line: which address, why, and the option (or config field) that moves it."""
    where = _authority(exc.host, exc.port)
    if exc.which == "web":
        what, change = f"{where} (mitmweb)", "--web-port N"
    else:
        what, change = where, f"--port N or listen.port in {config}"
    code = exc.error.errno
    if code == errno.EADDRINUSE:
        other = "another mitmllm web?" if exc.which == "web" else "another mitmllm?"
        return f"{what} is already in use ({other}); choose another port with {change}"
    if code == errno.EACCES:
        return (f"cannot listen on {what}: permission denied (ports below 1024 need root); "
                f"choose another port with {change}")
    host_change = "--web-host" if exc.which == "web" else f"--host or listen.host in {config}"
    if code == errno.EADDRNOTAVAIL:
        return (f"cannot listen on {what}: this machine has no such address; choose another "
                f"with {host_change}")
    return f"cannot listen on {what}: {exc.error.strerror or exc.error}"


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
