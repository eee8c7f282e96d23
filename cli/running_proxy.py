"""Telling a running mitmllm that a provider's secrets changed.

`providers set-key` (and `remove`, and an `edit` that changes secret headers) change the
keychain, which a running proxy reads through a short cache. So the CLI then makes a
best-effort call to the proxy its config file describes (`listen.host`, `listen.port`, and
`listen.token` as `Authorization: Bearer`), through the admin API of docs/admin.md:
`GET /admin/api/state` for the CSRF token, then `POST /admin/api/providers/NAME/reconnect`
with `X-CSRF-Token`, which forgets the cached secrets and connects the provider again.

Best effort: no proxy listening, one started on another port (`run --port`), an older one
without that API, or any error means nothing happens, within about a second per request.
The request carries no secret but the listen token (the proxy reads keys from the keychain
itself); proxies from the environment (`http_proxy`) are never used for it.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
import urllib.request
from typing import Any

from ..config.model import ListenConfig

TIMEOUT_SECONDS = 1.0
# Where a proxy listening on every address is reached from this machine.
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def proxy_url(listen: ListenConfig) -> str:
    host = _WILDCARDS.get(listen.host, listen.host)
    return f"http://[{host}]:{listen.port}" if ":" in host else f"http://{host}:{listen.port}"


def reconnect(listen: ListenConfig, name: str,
              timeout: float = TIMEOUT_SECONDS) -> str | None:
    """Ask the running proxy to reconnect provider `name`; its URL if it did, else None."""
    base = proxy_url(listen)
    # No ProxyHandler entries: urllib would otherwise send this through $http_proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    headers = {"Accept": "application/json"}
    if listen.token:
        headers["Authorization"] = f"Bearer {listen.token}"
    try:
        state = _json(opener, urllib.request.Request(base + "/admin/api/state",
                                                     headers=headers), timeout)
        csrf = state.get("csrf") if isinstance(state, dict) else None
        if not isinstance(csrf, str) or not csrf:
            return None
        path = f"/admin/api/providers/{urllib.parse.quote(name, safe='')}/reconnect"
        request = urllib.request.Request(
            base + path, data=b"{}", method="POST",
            headers={**headers, "X-CSRF-Token": csrf, "Content-Type": "application/json"})
        with opener.open(request, timeout=timeout) as answer:
            ok = 200 <= answer.status < 300
    except (OSError, ValueError, http.client.HTTPException):
        return None  # URLError, HTTPError and timeouts are OSErrors
    return base if ok else None


def _json(opener: urllib.request.OpenerDirector, request: urllib.request.Request,
          timeout: float) -> Any:
    with opener.open(request, timeout=timeout) as answer:
        return json.loads(answer.read(1_000_000))
