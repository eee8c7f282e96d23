"""Who may use the Providers page and its API (docs/admin.md#access), as one function.

Three checks, each against a way a web page the user visits could reach the gateway:

- the peer: with no listen token, only loopback clients (a token, checked by ingress,
  is what lets anyone else in);
- the `Host` header: a loopback name or the configured listen host (any name once a token
  is required), so a DNS-rebinding page (evil.example resolving to 127.0.0.1) cannot read
  or change settings as same-origin;
- for requests that change something: the CSRF token the state endpoint hands out (another
  origin cannot read it: no CORS header is ever sent), an `Origin`, when sent, equal to the
  request's own, and no `Sec-Fetch-Site: cross-site`.

No mitmproxy flow here: the addon passes in the request's parts, so this is easy to test.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..config.model import ListenConfig

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    message: str


def is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def host_name(host_header: str) -> str:
    """`127.0.0.1:1337` → `127.0.0.1`, `[::1]:1337` → `::1`, lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def refusal(*, method: str, peer: str, host_header: str, origin: str | None,
            fetch_site: str | None, csrf_sent: str | None, csrf: str,
            listen: ListenConfig) -> Refusal | None:
    """Why this request to the page or its API is refused, or None to answer it."""
    if not listen.token and not is_loopback(peer):
        return Refusal(403, "The Providers page answers only on this machine (loopback) "
                            "unless listen.token is set in the config.")
    # With a token, a rebinding page lacks what it needs (the token lives in the real page's
    # tab); without one, only this machine's own names are this gateway.
    name = host_name(host_header)
    allowed = name in LOOPBACK_NAMES or is_loopback(name) or name == listen.host.lower()
    if "," in host_header or not (allowed or listen.token):
        return Refusal(403, f"Host {host_header!r} is not this gateway's address; open the "
                            "page as http://127.0.0.1:PORT/admin (or the listen host).")
    if method not in CHANGES:
        return None
    if fetch_site == "cross-site":
        return Refusal(403, "A page of another site cannot change mitmllm's settings.")
    if origin is not None and origin != "null":
        parts = urlsplit(origin)
        if parts.netloc.lower() != host_header.strip().lower():
            return Refusal(403, f"Origin {origin!r} is not this page's origin; changes are "
                                "only accepted from the Providers page itself.")
    elif origin == "null":
        return Refusal(403, "A request with Origin: null cannot change mitmllm's settings.")
    if not csrf_sent or not hmac.compare_digest(csrf_sent, csrf):
        return Refusal(403, "Missing or wrong X-CSRF-Token: read `csrf` from "
                            "GET /admin/api/state and send it with every change.")
    return None
