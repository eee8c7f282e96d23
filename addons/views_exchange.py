"""The text of the `mitmllm` contentview (`addons/views.py`): one translated exchange.

On the request: the route, the client's own body, the body sent to the provider, what was
dropped or filled in and why. On the response: the provider's answer as received, what the
client got, and how the answer ended. Both read `flow.metadata["mitmllm"]` as plain data
(the schema is in `views.py`), in which any field may be missing: an older saved flow, a
flow that was never routed, capture turned off. A missing part is said to be missing.

No mitmproxy here: the view passes in the metadata, the bytes and the few request facts.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator, Mapping, Sequence

from .views_text import (
    DROPPED_RULES,
    WIDTH,
    body_lines,
    cut_comment,
    format_name,
    looks_like_sse,
    read_marks,
    rule,
    size,
    stream_lines,
)

type Meta = Mapping[str, object]

# The kinds a provider answers (addons/ingress.py's MODEL_KINDS, which imports mitmproxy).
MODEL_KINDS = ("chat", "messages", "responses", "count_tokens")
NOT_RECORDED = "not recorded"
NOT_CAPTURED = ("Not recorded: capture was off, or the flow was saved by a mitmllm that did "
                "not keep it.")


def is_routed(meta: Meta | None) -> bool:
    """Whether the flow went to a provider (or the local backend), so there is an exchange
    to show."""
    return meta is not None and bool(text_field(meta, "provider"))


def request_text(meta: Meta | None, sent: bytes, endpoint: str, answered_here: bool = False
                 ) -> str:
    """The request page: route, dropped and defaulted fields, both bodies, cut notes. The
    short parts come first: mitmweb shows a view's first 512 lines until asked for more.
    `answered_here`: mitmllm answered before any connection to the provider (a refused
    translation), so the request shown was never sent."""
    if meta is None or not is_routed(meta):
        return unrouted_text(meta, sent, stream=None)
    client_format = text_field(meta, "client_format")
    provider_format = text_field(meta, "provider_format")
    lines = [rule("mitmllm route"), *route_lines(meta, endpoint), ""]

    rule_name = format_name(provider_format) if provider_format else "the provider's format"
    dropped = str_list(meta, "dropped")
    lines.append(rule("Dropped"))
    if dropped:
        rows = []
        for entry in dropped:
            field, why = split_reason(entry)
            rows.append((field, why or f"no equivalent in {rule_name} (see {DROPPED_RULES})"))
        lines += table([("field", "why"), *rows])
    else:
        lines.append("nothing" if dropped is not None else "nothing recorded")
    defaulted = str_list(meta, "defaulted")
    lines += ["", rule("Defaulted")]
    if defaulted:
        rows = [(field, why or "filled in by mitmllm")
                for field, why in map(split_reason, defaulted)]
        lines += table([("field = value", "why"), *rows])
    else:
        lines.append("nothing" if defaulted is not None else "nothing recorded")
    lines.append("")

    client = record_field(meta, "client_request")
    body = client.get("body") if client else None
    lines.append(rule(f"Client sent: {format_name(client_format)}"))
    if isinstance(body, str):
        raw = body.encode("utf-8", "replace")
        lines += [f"{size(len(raw))} as the client sent it", "", *body_lines(raw)]
    else:
        lines.append(NOT_CAPTURED)

    lines += ["", rule(f"Sent to the provider: {format_name(provider_format)}")]
    if answered_here:
        lines.append("Never sent: mitmllm answered this request itself (see the response). "
                     "The request as it stood then:")
    lines += [f"{size(len(sent))}", "", *body_lines(sent)]
    cut = cut_bytes(client)
    if cut:
        lines += ["", rule("Cut"), f"The client's request: {size(cut)} more were not kept, "
                  "so its JSON may end early."]
    return "\n".join(lines)


def route_lines(meta: Meta, endpoint: str) -> list[str]:
    client_format = text_field(meta, "client_format")
    provider_format = text_field(meta, "provider_format")
    formats = format_name(client_format)
    if client_format and provider_format and client_format != provider_format:
        formats += f" -> {format_name(provider_format)} (translated)"
    elif client_format and provider_format:
        formats += " on both sides (passed through)"
    else:
        formats = NOT_RECORDED
    model = text_field(meta, "model")
    stream = meta.get("stream")
    kind = text_field(meta, "kind") or NOT_RECORDED
    if isinstance(stream, bool):
        kind += ", streamed" if stream else ", whole answer"
    rows = [("provider", text_field(meta, "provider") or NOT_RECORDED),
            ("model", f"{model}, as the client asked" if model else NOT_RECORDED),
            ("upstream model", text_field(meta, "upstream_model") or NOT_RECORDED),
            ("formats", formats),
            ("endpoint", endpoint),
            ("request", kind)]
    return list(table(rows))


def response_text(meta: Meta | None, got: bytes, stream: bool | None) -> str:
    """The response page: the provider's answer as received, the client's, and the end.
    `stream`: whether `got` is an event stream, None to tell from the bytes."""
    if meta is None or not is_routed(meta):
        return unrouted_text(meta, got, stream)
    provider = record_field(meta, "provider_answer")
    client = record_field(meta, "client_answer")
    # How it ended first: mitmweb shows a view's first 512 lines until asked for more.
    lines = [rule("How the answer ended"), text_field(meta, "answer_end") or NOT_RECORDED]
    notes = []
    if cut := cut_bytes(provider):
        notes.append(f"The provider's answer: {size(cut)} more were not kept.")
    if cut := cut_bytes(client) or cut_comment(got) or 0:
        notes.append(f"The client's answer: {size(cut)} more were not kept.")
    if notes:
        lines += ["", rule("Cut"), *notes]

    lines += ["", rule(f"Provider sent: {format_name(text_field(meta, 'provider_format'))}")]
    if provider is not None and provider.get("same_as_client") is True:
        lines.append("The same bytes as the client got, below: a passthrough.")
    elif provider is not None and isinstance(provider.get("body"), str):
        raw = str(provider["body"]).encode("utf-8", "replace")
        lines += answer_lines(raw, provider.get("marks"), stream=None)
    else:
        lines.append(NOT_CAPTURED)

    lines += ["", rule(f"Client got: {format_name(text_field(meta, 'client_format'))}")]
    lines += answer_lines(got, client.get("marks") if client else None, stream)
    return "\n".join(lines)


def answer_lines(data: bytes, marks_value: object, stream: bool | None) -> list[str]:
    """An answer as events when it is a stream, else as a whole body. `stream=None`: decide
    from the bytes (a provider's answer has no headers of its own in the metadata)."""
    marks = read_marks(marks_value)
    if stream is None:
        try:
            json.loads(data)
        except ValueError:
            stream = looks_like_sse(data)
        else:
            stream = False
    if stream:
        return stream_lines(data, marks)
    summary = f"whole body, {size(len(data))}"
    if marks is not None:
        summary += f", complete at +{marks[1][-1]:,.0f} ms"
    return [summary, "", *body_lines(data)]


def unrouted_text(meta: Meta | None, data: bytes, stream: bool | None) -> str:
    """A flow with nothing of an exchange to show: say why, then the body as it is."""
    if meta is None:
        lines = ["No mitmllm data on this flow: it did not go through mitmllm, or was saved "
                 "without it."]
    else:
        kind = text_field(meta, "kind") or "unknown"
        if kind in MODEL_KINDS:
            why = "mitmllm answered it itself before any provider was asked (see the answer)."
        else:
            why = f"mitmllm answers {kind} requests itself."
        lines = [f"Not routed to a model: {why}"]
    lines += ["", *answer_lines(data, None, stream)]
    return "\n".join(lines)


# Plain metadata, read defensively


def text_field(meta: Meta, key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) and value else None


def str_list(meta: Meta, key: str) -> list[str] | None:
    value = meta.get(key)
    return [str(item) for item in value] if isinstance(value, list) else None


def record_field(meta: Meta, key: str) -> Meta | None:
    value = meta.get(key)
    return value if isinstance(value, dict) else None


def cut_bytes(record: Meta | None) -> int:
    cut = record.get("cut") if record else None
    return cut if isinstance(cut, int) and cut > 0 else 0


def split_reason(entry: str) -> tuple[str, str | None]:
    """`"field (why)"` → `("field", "why")`; a bare `"field"` has no reason of its own."""
    field, sep, why = entry.partition(" (")
    if sep and why.endswith(")"):
        return field, why[:-1]
    return entry, None


def table(rows: Sequence[tuple[str, str]]) -> Iterator[str]:
    """Two columns, the second wrapped to `WIDTH`; a first cell too wide for its column
    puts the second on the next line."""
    column = min(32, max(len(first) for first, _ in rows)) + 2
    for first, second in rows:
        wrapped = textwrap.wrap(second, WIDTH - 2 - column, break_long_words=False,
                                break_on_hyphens=False) or [""]
        if len(first) + 2 > column:
            yield f"  {first}"
        else:
            yield f"  {first.ljust(column)}{wrapped.pop(0)}"
        yield from (" " * (column + 2) + line for line in wrapped)
