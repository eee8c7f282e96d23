"""Metrics: Prometheus metrics of the model requests, and `GET /metrics` to scrape them.

With the maintained `prometheus-client` (counters and histograms, its text format, and its
multiprocess mode for `mitmllm run --workers N`: each worker writes its values to files in
`PROMETHEUS_MULTIPROC_DIR`, which the supervisor sets, and any worker's `/metrics` sums
them). Labels: `provider`, `model` (the upstream model), `client_format`,
`provider_format`; a request refused before routing counts as provider and model `-`.
A model label never comes from the client alone: at most `MAX_MODELS` distinct values per
provider, the rest read `other`, so `openai/<random>` cannot grow the series without end.

    mitmllm_requests_total{..., status}         answers (status: the HTTP status, or "error"
                                                when the connection failed before one)
    mitmllm_request_duration_seconds{...}       request start to the answer's end
    mitmllm_time_to_first_token_seconds{...}    request start to a stream's first bytes
    mitmllm_tokens_total{..., direction}        input and output tokens, as the answers say

Errors are the requests whose status is 4xx, 5xx or `error`. Hooks: `response` and `error`
observe a flow once it ended; `request` answers `/metrics`.
"""

from __future__ import annotations

import logging
import os
import time
import weakref
from collections import defaultdict
from typing import Any

from mitmproxy import http
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from .answers import is_answered
from .ingress import MODEL_KINDS
from .state import Gateway, info
from .usage_counts import body_tokens, stream_tokens

logger = logging.getLogger(__name__)

LABELS = ("provider", "model", "client_format", "provider_format")
MAX_MODELS = 200  # distinct model label values per provider
# Seconds: a cached answer in milliseconds, a long generation in minutes.
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self, gateway: Gateway, registry: CollectorRegistry | None = None):
        self.gateway = gateway
        self.registry = registry or CollectorRegistry()
        self.requests = Counter("mitmllm_requests", "Model requests answered, by route and "
                                "status", (*LABELS, "status"), registry=self.registry)
        self.duration = Histogram("mitmllm_request_duration_seconds", "From the request's "
                                  "start to the end of its answer", LABELS, buckets=BUCKETS,
                                  registry=self.registry)
        self.first_token = Histogram("mitmllm_time_to_first_token_seconds", "From the "
                                     "request's start to the first bytes of a streamed "
                                     "answer", LABELS, buckets=BUCKETS, registry=self.registry)
        self.tokens = Counter("mitmllm_tokens", "Tokens in and out, as the answers count them",
                              (*LABELS, "direction"), registry=self.registry)
        self._models: dict[str, set[str]] = defaultdict(set)
        self._seen: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()  # observed once
        self._durations: dict[tuple[str, ...], Any] = {}

    def request(self, flow: http.HTTPFlow) -> None:
        if info(flow).get("kind") == "metrics" and not is_answered(flow):
            flow.response = http.Response.make(200, self.exposition(),
                                               {"content-type": CONTENT_TYPE_LATEST})

    def exposition(self) -> bytes:
        """The text format; with workers, the sum over all of them."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

    def response(self, flow: http.HTTPFlow) -> None:
        self._observe(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._observe(flow)

    def _observe(self, flow: http.HTTPFlow) -> None:
        meta = info(flow)
        if meta.get("kind") not in MODEL_KINDS or flow in self._seen:
            return
        self._seen.add(flow)  # a stream cut after its end gets both response and error
        route = self.gateway.route(flow)
        labels = (route.provider_name, self._model(route.provider_name, route.upstream_model),
                  route.client_format, route.provider_format) if route else \
            ("-", "-", meta.get("client_format", "openai"), "-")
        response = flow.response
        status = str(response.status_code) if response is not None and not flow.error \
            else "error"
        self.requests.labels(*labels, status).inc()
        started = flow.request.timestamp_start
        self._duration(labels).observe(max(time.time() - started, 0.0))
        exchange = self.gateway.peek_exchange(flow)
        stream = exchange.stream if exchange is not None else None
        if stream is not None:
            if stream.first_out is not None:
                self.first_token.labels(*labels).observe(max(stream.first_out - started, 0.0))
            tokens_in, tokens_out = stream_tokens(stream.usage_chunks)
        elif response is not None and response.status_code < 300:
            tokens_in, tokens_out = body_tokens(response.raw_content or b"")
        else:
            tokens_in = tokens_out = 0
        if tokens_in:
            self.tokens.labels(*labels, "in").inc(tokens_in)
        if tokens_out:
            self.tokens.labels(*labels, "out").inc(tokens_out)

    def _duration(self, labels: tuple[str, ...]) -> Any:
        """The labelled histogram, looked up once per route (`labels()` validates and
        locks on every call)."""
        child = self._durations.get(labels)
        if child is None:
            child = self._durations[labels] = self.duration.labels(*labels)
        return child

    def _model(self, provider: str, model: str) -> str:
        seen = self._models[provider]
        if model in seen:
            return model
        if len(seen) >= MAX_MODELS:
            return "other"
        seen.add(model)
        return model
