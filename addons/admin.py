"""Admin: answers `GET /health` and `GET /admin/providers` from memory.

Hook: `request`, for the flows ingress classified as `health` or `admin` (ingress has also
checked the listen token, which `/health` does not need). `/health` is liveness,
`{"status": "ok"}`. `/admin/providers` is one row per configured provider, in config order,
with its connection state from `connections`, then a row for the local backend from `local`
(whose state may also be `unavailable`: no MLX on this machine).
"""

from __future__ import annotations

from typing import Any

from mitmproxy import http

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
        if kind == "health":
            flow.response = json_response(200, {"status": "ok"})
        elif kind == "admin":
            flow.response = json_response(200, self.providers_payload())

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
