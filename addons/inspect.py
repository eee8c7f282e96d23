"""Inspect: label each flow for mitmweb and log one line per routed flow.

Hooks: `request` sets the flow's comment (shown in mitmweb's flow list) to
`provider · model · client format → provider format`; `response` and `error` log one INFO
line per routed flow (provider, model, status, time) — never a header value or a body.
"""

from __future__ import annotations

import logging
import time

from mitmproxy import http

from .ingress import MODEL_KINDS
from .state import info, is_ours

logger = logging.getLogger("mitmllm")


def label(flow: http.HTTPFlow) -> str:
    meta = info(flow)
    formats = meta.get("client_format", "?")
    if meta.get("provider_format", formats) != formats:
        formats += f" → {meta.get('provider_format')}"
    model = meta.get("upstream_model") or meta.get("model", "?")
    return f"{meta.get('provider', '?')} · {model} · {formats}"


class Inspect:
    def request(self, flow: http.HTTPFlow) -> None:
        if is_ours(flow) and "provider" in info(flow) and not flow.comment:
            flow.comment = label(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._log(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._log(flow)

    def _log(self, flow: http.HTTPFlow) -> None:
        if not is_ours(flow) or info(flow).get("kind") not in MODEL_KINDS:
            return
        meta = info(flow)
        status = flow.response.status_code if flow.response else "error"
        started = flow.request.timestamp_start
        elapsed = (time.time() - started) if started else 0.0
        logger.info("%s %s %s -> %s %s (%.2f s)%s", flow.request.method,
                    meta.get("model", "?"), meta.get("provider", "-"),
                    meta.get("upstream_model", "-"), status, elapsed,
                    " stream" if meta.get("stream") else "")
