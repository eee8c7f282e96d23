"""Admin: answers `GET /`, `GET /health`, `GET /ready` and `GET /admin/providers` from memory.

Hook: `request`, for the flows ingress classified as `root`, `health` or `admin` (ingress has
also checked the listen token, which `/health` does not need). `/` says what this is and
where to go: JSON, or a small HTML page for a browser. `/health` is liveness,
`{"status": "ok"}`. `/admin/providers` is one row per configured provider, in config order,
with its connection state from `connections`, then a row for the local backend from `local`
(whose state may also be `unavailable`: no MLX on this machine).
"""

from __future__ import annotations

import html
from typing import Any

from mitmproxy import http

from .. import __version__
from ..config.model import LOCAL_PROVIDER, ProviderConfig
from .answers import is_answered, json_response
from .connections import Connections, ProviderStatus
from .fail_closed import fails_closed
from .local import Local
from .state import Gateway, info, is_routed_replay


def provider_row(status: ProviderStatus, provider: ProviderConfig) -> dict[str, Any]:
    return {
        "name": status.name,
        "state": status.state,
        "error": status.error,
        "format": status.format,
        "models": [m.id for m in status.models],
        "url": provider.url(""),
        "static_models": list(provider.models),
    }


ENDPOINTS = {
    "chat_completions": "/v1/chat/completions",
    "messages": "/v1/messages",
    "responses": "/v1/responses",
    "models": "/v1/models",
    "health": "/health",
    "ready": "/ready",
    "metrics": "/metrics",
    "providers_page": "/admin",
    "providers": "/admin/providers",
}
ABOUT = ("mitmllm: a local gateway for LLM APIs. Point an OpenAI or Anthropic SDK, an agent "
         "or curl at this address (/v1); every model of every configured provider answers in "
         "the client's own format.")
DOCS = "README.md and docs/ in the mitmllm source tree; mitmllm --help"


def root_answer(request: http.Request) -> http.Response:
    """What this is, the endpoints, and where the documentation is."""
    if "text/html" in request.headers.get("accept", ""):
        links = "".join(f'<li><a href="{path}">{html.escape(label)}</a></li>'
                        for label, path in (("Providers", "/admin"), ("/v1/models", "/v1/models"),
                                            ("/health", "/health"),
                                            ("/admin/providers", "/admin/providers")))
        page = (f"<!doctype html><meta charset=utf-8><title>mitmllm</title>"
                f"<h1>mitmllm {__version__}</h1><p>{html.escape(ABOUT)}</p><ul>{links}</ul>"
                f"<p>Documentation: {html.escape(DOCS)}</p>")
        return http.Response.make(200, page.encode(), {"content-type": "text/html; charset=utf-8"})
    return json_response(200, {"name": "mitmllm", "version": __version__, "about": ABOUT,
                               "endpoints": ENDPOINTS, "docs": DOCS})


class Admin:
    def __init__(self, gateway: Gateway, connections: Connections, local: Local):
        self.gateway = gateway
        self.connections = connections
        self.local = local

    @fails_closed("answer the admin endpoint")
    def request(self, flow: http.HTTPFlow) -> None:
        if is_answered(flow) or is_routed_replay(flow):
            return
        kind = info(flow).get("kind")
        if kind == "root":
            flow.response = root_answer(flow.request)
        elif kind == "health":
            flow.response = json_response(200, {"status": "ok"})
        elif kind == "ready":
            flow.response = self.readiness()
        elif kind == "admin":
            flow.response = json_response(200, self.providers_payload())

    def readiness(self) -> http.Response:
        """Whether to send this instance work: its config is loaded and it is not draining
        (load balancers and Kubernetes take it out while it finishes what it has)."""
        if self.gateway.draining:
            return json_response(503, {"status": "draining"})
        if not self.gateway.config_loaded:
            return json_response(503, {"status": "starting"})
        return json_response(200, {"status": "ready"})

    def providers_payload(self) -> list[dict[str, Any]]:
        rows = [provider_row(self.connections.status(p), p)
                for p in self.gateway.config.providers]
        rows.append(self._local_row())
        return rows

    def _local_row(self) -> dict[str, Any]:
        models = self.local.model_ids()
        state, error = self.local.state()
        return {"name": LOCAL_PROVIDER, "format": "openai", "error": error, "models": models,
                "url": self.local.url if state == "connected" else None,
                "static_models": [], "state": state}
