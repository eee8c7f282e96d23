"""Per-event cost of stream translation, in microseconds, for every recorded stream.

    .venv/bin/python bench/translate_events.py [--rounds 300]

For each vector the upstream bytes are decoded, translated and encoded for the client
exactly as the proxy's stream adapter does, with a fresh translator per round; the table
gives µs per upstream event for decode+translate+encode, next to the cost of decoding and
re-encoding alone (the floor any SSE-aware proxy pays).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from mitmllm.translators import hub
from mitmllm.translators.sse import SSEDecoder, encode

VECTORS = Path(__file__).resolve().parent.parent / "tests" / "vectors"

CASES = [  # (vector field, client format, provider format)
    ("anthropic_sse", "openai", "anthropic"),
    ("responses_sse", "openai", "responses"),
    ("openai_sse", "anthropic", "openai"),
    ("openai_sse", "responses", "openai"),
]


def run_once(raw: bytes, client: str, provider: str, request: dict[str, Any]) -> int:
    translator = hub.stream_translator(client, provider, request, model="m")  # type: ignore[arg-type]
    assert translator is not None
    decoder = SSEDecoder()
    out = 0
    for event in decoder.decode(raw):
        for produced in translator.feed(event):
            out += len(encode(produced))
    for event in decoder.flush():
        for produced in translator.feed(event):
            out += len(encode(produced))
    for produced in translator.finish():
        out += len(encode(produced))
    return out


def floor_once(raw: bytes) -> int:
    decoder = SSEDecoder()
    return sum(len(encode(e)) for e in decoder.decode(raw) + decoder.flush())


def timed(fn: Any, rounds: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - start) / rounds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    request = {"model": "m", "stream": True, "stream_options": {"include_usage": True},
               "input": "x", "messages": [{"role": "user", "content": "x"}]}
    print(f"{'vector':55} {'direction':22} {'events':>6} {'µs/event':>9} {'floor':>7}")
    totals: list[float] = []
    for path in sorted(VECTORS.glob("stream_*.json")):
        data = json.loads(path.read_text())
        for field, client, provider in CASES:
            if field not in data:
                continue
            raw = data[field].encode()
            events = len(SSEDecoder().decode(raw + b"\n\n"))
            full = timed(lambda raw=raw, c=client, p=provider: run_once(raw, c, p, request),
                         args.rounds)
            floor = timed(lambda raw=raw: floor_once(raw), args.rounds)
            per_event = full / events * 1e6
            totals.append(per_event)
            print(f"{path.stem:55} {provider + ' -> ' + client:22} {events:6d} "
                  f"{per_event:9.1f} {floor / events * 1e6:7.1f}")
    print(f"\nmean {sum(totals) / len(totals):.1f} µs per event over {len(totals)} streams")


if __name__ == "__main__":
    main()
