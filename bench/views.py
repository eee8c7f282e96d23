"""How long mitmweb waits for the `mitmllm` and `SSE` views of a large flow, against the
stock Raw view of the same body, in the same run.

    .venv/bin/python bench/views.py [--mib 2] [--rounds 3]

A translated stream of `--mib` MiB on each side (what `mitmllm_keep_mb` keeps by default),
once in ASCII and once with non-ASCII text (mitmproxy's own control-character escaping is
far slower on such text, for every view). Each view is rendered as mitmweb renders it
(`contentviews.prettify_message`); the best of `--rounds` is printed with its ratio to Raw.
"""

from __future__ import annotations

import argparse
import json
import time

from mitmproxy import contentviews, http
from mitmproxy.test import taddons, tflow

from mitmllm.addons.views import MitmllmViews


def flow_of(mib: float, text: str) -> http.HTTPFlow:
    delta = json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                        "model": "m", "choices": [{"index": 0, "delta": {"content": text},
                                                   "finish_reason": None}]},
                       ensure_ascii=False)
    event = f"data: {delta}\n\n".encode()
    count = int(mib * 1024 * 1024) // len(event)
    body = event * count
    marks = [[i * 2.0, (i + 1) * len(event)] for i in range(count)]
    provider = ("event: content_block_delta\ndata: " + json.dumps(
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": text}}, ensure_ascii=False) + "\n\n") * count
    flow = tflow.tflow(resp=True)
    flow.request.url = "http://127.0.0.1:9/v1/messages"
    flow.response.headers["content-type"] = "text/event-stream"
    flow.response.content = body
    flow.metadata["mitmllm"] = {
        "kind": "chat", "client_format": "openai", "provider_format": "anthropic",
        "model": "p/m", "provider": "p", "upstream_model": "m", "stream": True,
        "provider_answer": {"body": provider, "cut": 0, "marks": marks},
        "client_answer": {"cut": 0, "marks": marks}, "answer_end": "complete"}
    return flow


def best(flow: http.HTTPFlow, view: str, rounds: int) -> float:
    assert flow.response is not None
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        contentviews.prettify_message(flow.response, flow, view)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with taddons.context(MitmllmViews()):
        print(f"{'text':10} {'view':8} {'seconds':>8} {'x Raw':>6}")
        for name, text in (("ascii", "Hello there, "), ("non-ascii", "Grüße, 世界 ")):
            flow = flow_of(args.mib, text)
            raw = best(flow, "raw", args.rounds)
            for view in ("raw", "sse", "mitmllm"):
                seconds = raw if view == "raw" else best(flow, view, args.rounds)
                print(f"{name:10} {view:8} {seconds:8.3f} {seconds / raw:6.1f}")


if __name__ == "__main__":
    main()
