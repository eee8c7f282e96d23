"""Inspect: label each flow for mitmweb and log one line per routed flow.

Hooks: `request` sets the flow's comment (shown in mitmweb's flow list) to
`provider · model · client format → provider format`; `response` and `error` log one INFO
line per routed flow (provider, model, status, time) — never a header value or a body.
It reads the flow's `Route` (set by the router) and ingress's metadata.
"""

from __future__ import annotations

import logging
import time

from mitmproxy import http

from .ingress import MODEL_KINDS
from .state import Gateway, Route, info, is_ours

logger = logging.getLogger("mitmllm")


def label(route: Route, model: str) -> str:
    formats: str = route.client_format
    if route.provider_format != formats:
        formats += f" → {route.provider_format}"
    return f"{route.provider_name} · {route.upstream_model or model} · {formats}"


class Inspect:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway

    def request(self, flow: http.HTTPFlow) -> None:
        route = self.gateway.route(flow)
        if route is not None and not flow.comment:
            flow.comment = label(route, info(flow).get("model", "?"))

    def response(self, flow: http.HTTPFlow) -> None:
        self._log(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._log(flow)

    def _log(self, flow: http.HTTPFlow) -> None:
        meta = info(flow)
        if not is_ours(flow) or meta.get("kind") not in MODEL_KINDS:
            return
        route = self.gateway.route(flow)
        status = flow.response.status_code if flow.response else "error"
        started = flow.request.timestamp_start
        elapsed = (time.time() - started) if started else 0.0
        logger.info("%s %s %s -> %s %s (%.2f s)%s", flow.request.method,
                    meta.get("model", "?"), route.provider_name if route else "-",
                    route.upstream_model if route else "-", status, elapsed,
                    " stream" if meta.get("stream") else "")
