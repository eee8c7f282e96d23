"""Incremental Server-Sent Events codec: the one place where stream bytes are handled.

`SSEDecoder` follows the WHATWG event-stream grammar as the three LLM APIs use it:
bytes may arrive split anywhere (even inside a UTF-8 character or between `\\r` and
`\\n`); lines end in `\\n`, `\\r\\n` or `\\r`; lines starting with `:` are comments
(OpenRouter's keep-alives); several `data:` lines join with `\\n`; exactly one space after
the colon is stripped. Unlike the browser algorithm, an event still pending at the end of
the input is dispatched by `flush()`, because recorded streams end without a blank line
(docs/formats.md#server-sent-events).

It has the shape of httpx's decoders and of a mitmproxy stream callable: `decode(chunk)`
for every chunk, then `flush()` once at the end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DONE = "[DONE]"
_BOM = "\ufeff"
# json.dumps builds a new encoder for every call with non-default options; one is enough.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event. `event` is None when the stream gave no `event:` field."""

    data: str
    event: str | None = None
    id: str | None = None

    def json(self) -> Any:
        """The data parsed as JSON; raises ValueError on anything else (e.g. `[DONE]`)."""
        return json.loads(self.data)

    @property
    def is_done(self) -> bool:
        return self.data == DONE


class SSEDecoder:
    """Turns arbitrarily split bytes into `SSEEvent`s."""

    __slots__ = ("_after_cr", "_data", "_event", "_first_line", "_id", "_tail")

    def __init__(self) -> None:
        self._tail = b""  # bytes of a line whose end has not arrived yet
        self._after_cr = False  # the last chunk ended in \r: a leading \n is its pair
        self._first_line = True
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def decode(self, chunk: bytes) -> list[SSEEvent]:
        if not chunk:
            return []
        if self._after_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._after_cr = chunk[-1:] == b"\r"
        buf = self._tail + chunk if self._tail else chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._tail = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[SSEEvent]:
        """End of input: the last line and a pending event count even without a blank line."""
        events: list[SSEEvent] = []
        if self._tail:
            tail, self._tail = self._tail, b""
            event = self._line(tail)
            if event is not None:
                events.append(event)
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _line(self, raw: bytes) -> SSEEvent | None:
        # A whole line never splits a UTF-8 sequence: \n and \r are never continuation bytes.
        line = raw.decode("utf-8", errors="replace")
        if self._first_line:
            self._first_line = False
            if line.startswith(_BOM):
                line = line[1:]
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        field, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._id = value
        # `retry` and unknown fields do not matter to a proxy.
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = None
            return None
        event = SSEEvent("\n".join(self._data), self._event, self._id)
        self._data = []
        self._event = None
        return event


def encode(event: SSEEvent) -> bytes:
    return encode_event(event.data, event.event)


def encode_event(data: str, event: str | None = None) -> bytes:
    """Frame one event; multi-line data becomes several `data:` lines."""
    head = f"event: {event}\n" if event else ""
    if "\n" in data or "\r" in data:
        lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        body = "".join(f"data: {line}\n" for line in lines)
    else:
        body = f"data: {data}\n"
    # A lone surrogate in JSON data stays its escape (see json_values.json_bytes).
    return f"{head}{body}\n".encode("utf-8", "backslashreplace")


def json_event(payload: Any, event: str | None = None) -> SSEEvent:
    """An event whose data is compact JSON, as the providers send it."""
    return SSEEvent(_COMPACT.encode(payload), event)
