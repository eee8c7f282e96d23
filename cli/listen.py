"""The listen addresses of `mitmllm run` and `mitmllm web`: checked before mitmproxy starts,
and one line for each way they can fail, naming the option (or config field) to change.

Kept apart from proxy.py, which imports mitmproxy, so that a bad or busy address is
reported at once; proxy.py raises the same `ListenError` when mitmproxy itself fails to
listen.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from ..config.hosts import AddressError, normalise_host, shown, split_address
from .common import fail


class ListenError(Exception):
    """A listen address that cannot be bound: `which` is "proxy" or "web"."""

    def __init__(self, which: str, host: str, port: int, error: OSError):
        super().__init__(f"cannot listen on {authority(host, port)}: {error}")
        self.which = which
        self.host = host
        self.port = port
        self.error = error


def bind_problem(host: str, port: int) -> OSError | None:
    """Why `host:port` cannot be listened on right now, or None: a trial bind of every
    address the host resolves to, as asyncio's `start_server` (mitmproxy) and tornado
    (mitmweb) bind them: SO_REUSEADDR on POSIX, so a port in TIME_WAIT is free and one
    being listened on is not; IPv6 sockets v6-only; an address family the machine lacks
    (EADDRNOTAVAIL) skipped while another works."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return OSError(errno.EADDRNOTAVAIL, f"unknown host ({exc.strerror})")
    skipped: OSError | None = None
    bound = 0
    for family, kind, proto, _, address in dict.fromkeys(infos):
        with socket.socket(family, kind, proto) as sock:
            if os.name == "posix":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno != errno.EADDRNOTAVAIL:
                    return exc
                skipped = exc
                continue
            bound += 1
    return skipped if bound == 0 else None


def listen_host(text: str | None, option: str) -> str | None:
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


def authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen_failure(exc: ListenError, config: Path) -> str:
    """One line: which address, why, and the option (or config field) that moves it."""
    where = authority(exc.host, exc.port)
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
