"""What the inspection views show: bounded copies of a flow's bodies, with their timing.

mitmproxy keeps a request and a response per flow; a translating gateway has four bodies: the
client's request and the one sent to the provider, the provider's answer and the one the
client got. The flow itself holds the provider's request and the client's answer; the other
two are kept here, in `flow.metadata["mitmllm"]` (plain data: saved flows keep it, the
`mitmllm` contentview shows it). A `Tape` keeps one side of an answer as its chunks arrive:
references to the chunks (no copy until the end), when each came, and how much did not fit.
The limit is the option `mitmllm_keep_mb` (per side; 0 keeps nothing).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

CUT_NOTE = "\n: [mitmllm: {} more bytes not kept]\n"


def text_of(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def kept_body(data: bytes, limit: int) -> dict[str, Any]:
    """A whole body, bounded: `{"body": text, "cut": bytes not kept}`."""
    return {"body": text_of(data[:limit]), "cut": max(len(data) - limit, 0)}


@dataclass(slots=True)
class Tape:
    """One side of an answer as it arrived: the chunks (up to `limit` bytes), and for each
    the milliseconds since the request started and the offset where it ended."""

    limit: int
    started: float  # the request's start, time.time()
    chunks: list[bytes] = field(default_factory=list)
    marks: list[list[float]] = field(default_factory=list)
    size: int = 0
    cut: int = 0

    def add(self, chunk: bytes) -> None:
        if not chunk:
            return
        room = self.limit - self.size
        if room <= 0:
            self.cut += len(chunk)
            return
        if len(chunk) > room:
            self.cut += len(chunk) - room
            chunk = chunk[:room]
        self.chunks.append(chunk)
        self.size += len(chunk)
        self.marks.append([round((time.time() - self.started) * 1000, 1), self.size])

    def body(self) -> bytes:
        return b"".join(self.chunks)

    def summary(self, with_body: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"cut": self.cut, "marks": self.marks}
        if with_body:
            out["body"] = text_of(self.body())
        return out
