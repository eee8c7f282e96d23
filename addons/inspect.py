"""Inspect: label every flow for mitmweb, log one line per model request, and say how much
of each body the inspection views keep.

Option `mitmllm_keep_mb` (per side of a flow: what the provider sent, what the client got;
0 keeps nothing, as `mitmllm run` sets it, where no one looks at flows). Hooks: `request`
labels a routed flow `provider · model · client format → provider format`, and the
gateway's own answers (`mitmllm · GET /v1/models`); `response` and `error` add why a flow
failed (` · 404 model_not_found`, ` · client left mid-stream`) and log one line per model
request at INFO (provider, model, status, time), never a header value or a body; `mitmllm
run` shows mitmproxy's per-connection lines only with `-v` instead (proxy.py). The label is
the flow's comment, which `mitmllm web` shows as a column.
(mitmweb's flow list shows what these hooks changed: mitmproxy runs the `update` hook after
every flow hook.)
"""

from __future__ import annotations

import json
import logging
import time

from mitmproxy import ctx, exceptions, http

from .ingress import MODEL_KINDS
from .state import Gateway, Route, info, is_ours

logger = logging.getLogger("mitmllm")

MB = 1024 * 1024
# How an answer ends when nothing went wrong; the openai SDK leaves right after `[DONE]`.
NORMAL_ENDS = ("complete", "client left after the end")


def label(route: Route, model: str) -> str:
    formats: str = route.client_format
    if route.provider_format != formats:
        formats += f" → {route.provider_format}"
    return f"{route.provider_name} · {route.upstream_model or model} · {formats}"


def why(flow: http.HTTPFlow) -> str | None:
    """What went wrong, in a few words: the error code of an error answer, or the flow's
    own error; None when nothing did."""
    response = flow.response
    if flow.error is not None:
        return flow.error.msg
    if response is None or response.status_code < 400:
        end = info(flow).get("answer_end")
        return None if end in (None, *NORMAL_ENDS) else end
    reason = ""
    try:
        body = json.loads(response.get_content(strict=False) or b"")
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            reason = str(error.get("code") or error.get("type") or "")
    except ValueError:
        pass
    return f"{response.status_code} {reason}".strip()


class Inspect:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway

    def running(self) -> None:
        self.configure(set())

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option(
            "mitmllm_keep_mb", float, self.gateway.keep_bytes / MB,
            "How much of each body mitmllm keeps per side of a flow for its mitmweb views "
            "(what the provider sent, what the client got), in MiB; 0 keeps nothing.")

    def configure(self, updated: set[str]) -> None:
        # Read on every configure, not only when named in `updated`: a value set before
        # this addon was registered (`update_defer`, as `mitmllm run` sets 0) arrives in
        # no `updated` of ours.
        keep = ctx.options.mitmllm_keep_mb
        if keep < 0:
            raise exceptions.OptionsError(f"mitmllm_keep_mb must be 0 or more, not {keep:g}")
        self.gateway.keep_bytes = int(keep * MB)

    def request(self, flow: http.HTTPFlow) -> None:
        self._label(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._explain(flow)
        self._log(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._explain(flow)
        self._log(flow)

    def _label(self, flow: http.HTTPFlow) -> None:
        if flow.comment:
            return
        route = self.gateway.route(flow)
        if route is not None:
            flow.comment = label(route, info(flow).get("model", "?"))
        elif is_ours(flow):
            flow.comment = f"mitmllm · {flow.request.method} {flow.request.path.split('?')[0]}"
            listen = flow.client_conn.sockname
            if flow.response is not None and listen and listen[0]:
                # Answered here, so nothing connects anywhere: the Path column shows the
                # address the client asked, not the reverse mode's placeholder target.
                flow.request.host, flow.request.port = listen[0], listen[1]

    def _explain(self, flow: http.HTTPFlow) -> None:
        if not is_ours(flow):
            return
        if not flow.comment:
            self._label(flow)
        reason = why(flow)
        if reason and reason not in flow.comment:
            flow.comment = f"{flow.comment} · {reason}"

    def _log(self, flow: http.HTTPFlow) -> None:
        # A line costs about 2 % of the CPU under load; mitmproxy's five connection lines
        # per request cost more, and `mitmllm run` shows those only with -v (proxy.py).
        if not logger.isEnabledFor(logging.INFO) or not is_ours(flow):
            return
        meta = info(flow)
        if meta.get("kind") not in MODEL_KINDS:
            return
        route = self.gateway.route(flow)
        status = flow.response.status_code if flow.response else "error"
        started = flow.request.timestamp_start
        elapsed = (time.time() - started) if started else 0.0
        logger.info("%s %s %s -> %s %s (%.2f s)%s", flow.request.method,
                    meta.get("model", "?"), route.provider_name if route else "-",
                    route.upstream_model if route else "-", status, elapsed,
                    " stream" if meta.get("stream") else "")
