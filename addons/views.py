"""Contentviews that make mitmweb (and `mitmdump --flow-detail`, and the console) read an
LLM exchange: `mitmllm` and `SSE`, registered by the `MitmllmViews` addon in `load`.

- `mitmllm`: chosen by default on every flow mitmllm routed to a model. On the request it
  shows the route, the client's own body beside the body sent to the provider, and what was
  dropped or filled in and why; on the response the provider's answer as received beside
  what the client got, both as timed events when streamed, and how the answer ended.
- `SSE`: any `text/event-stream` body, mitmllm's or not, as events with their JSON.

Both read `flow.metadata["mitmllm"]`, plain data the other addons record (saved flows keep
it); any field may be missing, on older flows, unrouted ones, or with capture turned off:

    kind, client_format, provider_format, model, provider, upstream_model, stream,
    dropped: ["field" | "field (why)"], defaulted: ["field = value (why)"],
    client_request: {body, cut}, provider_answer: {body, cut, marks} | {same_as_client},
    client_answer: {cut, marks}, answer_end
    (marks: [[ms since the request started, byte offset where that chunk ended], ...])

`flow.request` is what the provider was sent and `flow.response` what the client got, so
the view is handed those bytes; the rest comes from the metadata. The text itself is built
without mitmproxy in `views_exchange.py` and `views_text.py`.
"""

from __future__ import annotations

from collections.abc import Mapping

from mitmproxy import contentviews, http
from mitmproxy.addonmanager import Loader
from mitmproxy.contentviews import Contentview, Metadata

from .state import METADATA_KEY
from .views_exchange import is_routed, request_text, response_text
from .views_text import body_lines, read_marks, sse_text

# mitmproxy shows the view whose render_priority is highest. The stock ones give at most 2
# (JSON 1, GraphQL 2, Raw 0.1), so 3 wins on every routed flow whatever its content type,
# and the SSE view wins on other event streams, where no stock view but Raw claims anything.
MITMLLM_PRIORITY = 3.0
SSE_PRIORITY = 1.5
EVENT_STREAM = "text/event-stream"


def flow_metadata(metadata: Metadata) -> Mapping[str, object] | None:
    """The flow's mitmllm metadata, None when the flow has none (or it is not a mapping)."""
    found = metadata.flow.metadata.get(METADATA_KEY) if metadata.flow else None
    return found if isinstance(found, dict) else None


class MitmllmContentview(Contentview):
    """One routed exchange: both requests on the request, both answers on the response."""

    @property
    def name(self) -> str:
        return "mitmllm"

    def prettify(self, data: bytes, metadata: Metadata) -> str:
        message = metadata.http_message
        meta = flow_metadata(metadata)
        if isinstance(message, http.Request):
            flow = metadata.flow
            answered_here = (isinstance(flow, http.HTTPFlow) and flow.response is not None
                             and flow.server_conn.timestamp_start is None)
            return request_text(meta, data, f"{message.method} {message.url}", answered_here)
        if isinstance(message, http.Response):
            # Without a content type (a saved flow edited by hand, a bare 200), the bytes say.
            stream = True if metadata.content_type == EVENT_STREAM else None
            return response_text(meta, data, stream)
        # A WebSocket or TCP message: nothing of an exchange, the bytes as they are.
        return "\n".join(body_lines(data))

    def render_priority(self, data: bytes, metadata: Metadata) -> float:
        if metadata.http_message is None or not is_routed(flow_metadata(metadata)):
            return 0
        return MITMLLM_PRIORITY


class SSEContentview(Contentview):
    """Any event stream as events; timed when the flow is mitmllm's and recorded timings."""

    @property
    def name(self) -> str:
        return "SSE"

    def prettify(self, data: bytes, metadata: Metadata) -> str:
        meta = flow_metadata(metadata)
        answer = meta.get("client_answer") if meta else None
        marks = None
        # The recorded timings are those of the client's answer, i.e. flow.response's bytes.
        if isinstance(answer, dict) and isinstance(metadata.http_message, http.Response):
            marks = read_marks(answer.get("marks"))
        return sse_text(data, marks)

    def render_priority(self, data: bytes, metadata: Metadata) -> float:
        return SSE_PRIORITY if metadata.content_type == EVENT_STREAM else 0


VIEWS: tuple[Contentview, ...] = (MitmllmContentview(), SSEContentview())


class MitmllmViews:
    """Registers the views with mitmproxy. Loading it again is harmless: a view already
    registered is left alone (mitmproxy would replace it, and log that it did)."""

    def load(self, loader: Loader) -> None:
        for view in VIEWS:
            if not isinstance(contentviews.registry.get(view.name.lower()), type(view)):
                contentviews.add(view)
