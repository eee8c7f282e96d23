"""The plain text of mitmllm's contentviews (`addons/views.py`), without mitmproxy.

Bodies read as JSON laid out to fit 100 columns; event streams read as one block per
event: the time it arrived (when the flow recorded chunk timings), its name, its data as
JSON. Events are split by the project's own decoder (`translators.sse`), fed one event at a
time so that the byte offset where each one ends is known: an event's time is that of the
first recorded chunk reaching that offset.

Everything here reads plain data that may come from an older or foreign saved flow, so
every field is checked and a missing one is said to be missing, never guessed.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_left
from collections.abc import Iterator
from json.encoder import encode_basestring
from typing import Any

from ..translators.formats import FORMAT_NAMES, is_format
from ..translators.sse import SSEDecoder, SSEEvent

WIDTH = 100
EVENT_INDENT = 4
DROPPED_RULES = "docs/formats.md#dropped-and-refused"

_FLAT = json.JSONEncoder(ensure_ascii=False)  # ", " and ": ": the one-line form
_string = encode_basestring  # a str as a JSON string, non-ASCII kept as it is
_LINE_END = re.compile(rb"\r\n|\r|\n")
_SSE_START = re.compile(rb"\s*(?::|(?:data|event|id|retry)[ \t]*:)")
# The comment mitmllm appends to a stream it stopped keeping (addons/streaming.py).
_CUT_COMMENT = re.compile(rb"^: \[mitmllm: ([0-9,]+) more bytes not kept\]", re.MULTILINE)

type Marks = tuple[list[int], list[float]]  # byte offsets, ascending; ms at each


def rule(title: str) -> str:
    """A section heading that stands out in a `<pre>` and a terminal alike. ASCII on
    purpose: mitmproxy escapes control characters in every view's text with `str.translate`,
    which is fast only on an all-ASCII string (a 2 MiB stream: 5 ms against 300)."""
    head = f"== {title} "
    return head + "=" * max(3, 72 - len(head))


def size(n: int) -> str:
    return f"{n:,} byte" + ("" if n == 1 else "s")


def format_name(value: object) -> str:
    """`openai` → `OpenAI Chat Completions`; anything unknown as it was recorded."""
    if is_format(value):
        return FORMAT_NAMES[value]
    return str(value) if value else "?"


# JSON


def json_lines(value: Any, indent: int = 0, expand: bool = True) -> list[str]:
    """`value` as JSON lines no wider than `WIDTH` where possible: a container that fits on
    one line stays on it, one that does not gets one member per line. `expand` opens the
    outermost container even when it would fit, as a request body reads best that way."""
    out: list[str] = []
    _layout(value, indent, expand, " " * indent, "", out)
    return out


def _leaf(value: Any) -> str:
    # Strings are most of a body: the C string encoder alone is several times faster than
    # a whole encoder call.
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    return _FLAT.encode(value)  # floats (NaN and infinity too) and empty containers


def _layout(value: Any, indent: int, expand: bool, head: str, tail: str,
            out: list[str]) -> None:
    if not isinstance(value, (dict, list)) or not value:
        out.append(head + _leaf(value) + tail)
        return
    if not expand:
        flat = _FLAT.encode(value)
        if len(head) + len(flat) + len(tail) <= WIDTH:
            out.append(head + flat + tail)
            return
    pad = " " * (indent + 2)
    last = len(value) - 1
    # Members that are leaves are written here rather than through a call: most are.
    if isinstance(value, dict):
        out.append(head + "{")
        for i, (key, member) in enumerate(value.items()):
            member_head = f"{pad}{_string(str(key))}: "
            comma = "," if i < last else ""
            if isinstance(member, (dict, list)) and member:
                _layout(member, indent + 2, False, member_head, comma, out)
            else:
                out.append(member_head + _leaf(member) + comma)
        out.append(" " * indent + "}" + tail)
    else:
        out.append(head + "[")
        for i, member in enumerate(value):
            comma = "," if i < last else ""
            if isinstance(member, (dict, list)) and member:
                _layout(member, indent + 2, False, pad, comma, out)
            else:
                out.append(pad + _leaf(member) + comma)
        out.append(" " * indent + "]" + tail)


def text_lines(data: bytes, indent: int = 0) -> list[str]:
    """Bytes that are not JSON, as text; bytes that are not UTF-8 as `\\xNN` escapes."""
    text = data.decode("utf-8", "backslashreplace")
    pad = " " * indent
    return [pad + line for line in text.splitlines()] or [pad + "(empty)"]


def body_lines(data: bytes) -> list[str]:
    """A whole body: its JSON laid out, else its text."""
    if not data.strip():
        return ["(empty)"]
    try:
        value = json.loads(data)
    except ValueError:  # UnicodeDecodeError included
        lines = text_lines(data)
        if not is_utf8(data):
            lines.insert(0, "(not UTF-8: the bytes that are not are shown as \\xNN)")
        return lines
    return json_lines(value)


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# Event streams


def looks_like_sse(data: bytes) -> bool:
    """Whether a body starts the way an event stream does (a field or a comment)."""
    return _SSE_START.match(data[:256]) is not None


def split_events(data: bytes) -> list[tuple[SSEEvent, int]]:
    """The events of a whole stream, each with the byte offset just past its last line.

    The decoder dispatches an event on an empty line, so it is fed up to each empty line
    and whatever it returns ends there; what is left is flushed at the end of the body."""
    decoder = SSEDecoder()
    events: list[tuple[SSEEvent, int]] = []
    fed = 0
    for end in _empty_line_ends(data):
        events.extend((event, end) for event in decoder.decode(data[fed:end]))
        fed = end
    tail = [*decoder.decode(data[fed:]), *decoder.flush()]
    events.extend((event, len(data)) for event in tail)
    return events


def _empty_line_ends(data: bytes) -> Iterator[int]:
    r"""The offsets just past each empty line. With `\n` endings only (the usual case) a
    search for `\n\n` finds them; `\r` endings need every line end looked at."""
    if b"\r" not in data:
        found = data.find(b"\n\n")
        while found >= 0:
            yield found + 2
            found = data.find(b"\n\n", found + 1)
        return
    line_start = 0
    for match in _LINE_END.finditer(data):
        if match.start() == line_start:
            yield match.end()
        line_start = match.end()


def read_marks(value: object) -> Marks | None:
    """Recorded `[[ms, offset], ...]` as offsets and times, None when there are none."""
    if not isinstance(value, list):
        return None
    pairs = sorted((int(p[1]), float(p[0])) for p in value
                   if isinstance(p, (list, tuple)) and len(p) == 2
                   and all(isinstance(x, (int, float)) and math.isfinite(x) for x in p))
    if not pairs:
        return None
    return [offset for offset, _ in pairs], [ms for _, ms in pairs]


def time_at(marks: Marks, offset: int) -> float | None:
    """When the byte at `offset` had arrived: the first chunk that reached it."""
    offsets, times = marks
    i = bisect_left(offsets, offset)
    return times[i] if i < len(times) else None


def stream_lines(data: bytes, marks: Marks | None) -> list[str]:
    """A stream as a summary line, then blocks of `+123 ms  event_name` and the event's
    JSON below it."""
    events = split_events(data)
    summary = f"event stream, {len(events)} event" + ("" if len(events) == 1 else "s")
    summary += f", {size(len(data))}"
    if marks is not None:
        summary += f", {len(marks[0])} chunks, the last at +{marks[1][-1]:,.0f} ms"
    if not events:
        return [summary, "", "(no events)", *text_lines(data, EVENT_INDENT)]
    stamps: list[str] = []
    if marks is not None:
        for _, end in events:
            ms = time_at(marks, end)
            stamps.append("+? ms" if ms is None else f"+{ms:,.0f} ms")
        width = max(map(len, stamps))
        stamps = [stamp.rjust(width) + "  " for stamp in stamps]
    out = [summary, ""]
    for i, (event, _) in enumerate(events):
        stamp = stamps[i] if stamps else ""
        if event.is_done:
            out.append(f"{stamp}[DONE]")
            continue
        name = event.event or "message"  # the SSE name of an event without `event:`
        out.append(f"{stamp}{name}" + (f"  id={event.id}" if event.id else ""))
        try:
            value = event.json()
        except ValueError:
            out.extend(" " * EVENT_INDENT + line for line in event.data.splitlines())
        else:
            # Compact data already wider than the page will not fit on one line: skip trying.
            long = len(event.data) > WIDTH - EVENT_INDENT
            out.extend(json_lines(value, EVENT_INDENT, expand=long))
    return out


def cut_comment(data: bytes) -> int | None:
    """The byte count of mitmllm's own cut comment at the end of a kept stream, if any."""
    found = _CUT_COMMENT.search(data, max(0, len(data) - 200))
    return int(found.group(1).replace(b",", b"")) if found else None


def sse_text(data: bytes, marks: Marks | None = None) -> str:
    """The `SSE` view: any event stream as events, timed when the flow has timings."""
    lines = stream_lines(data, marks)
    cut = cut_comment(data)
    if cut is not None:
        lines += ["", f"Cut: {size(cut)} more of this stream were not kept."]
    return "\n".join(lines)
