"""The floor's one addon: the least a gateway built on mitmproxy does to each request (a
header set, the model name looked at), so the floor pays for an addon hook as mitmllm does."""

from mitmproxy import http


def request(flow: http.HTTPFlow) -> None:
    flow.request.headers["x-gateway"] = "floor"
