"""Tokens per second of a local MLX model: mlx_lm called directly, through the local backend's
loopback server, and (with --proxy-url) through the mitmllm proxy — with the ratios.

    .venv/bin/python bench/local_tokens.py                       # a tiny model, built here
    .venv/bin/python bench/local_tokens.py --model-dir ~/models/Qwen3-0.6B-4bit --tokens 200
    .venv/bin/python bench/local_tokens.py --model-dir DIR --proxy-url http://127.0.0.1:1337/v1

Every path generates the same number of tokens for the same templated prompt (EOS is
suppressed with a logit bias on all paths alike), streamed, and is timed from the request to
the last token, so prompt processing and the first token count too. Each path gets one
warm-up run (MLX compiles kernels on first use), then the paths take turns for `--runs` timed
rounds, so changes in machine load hit all of them alike; the median is shown.
The server and proxy paths read raw SSE with aiohttp, so client-side parsing stays small.

For the proxy column the proxy must serve the same folder: run `mitmllm run` with
`local.model_dirs` containing the parent of --model-dir (or with --model-dir's parent in it),
and give --model-dir explicitly so both use the same weights. The tiny default model is about
1 ms per token, so its ratios measure the serving overhead per token at its worst; a real
model (tens of ms per token) shows what a user will notice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from mitmllm.local.server import LocalBackend

PROMPT = [{"role": "user", "content": "Tell me a long story about a llama in Paris."}]


@dataclass(frozen=True)
class Run:
    tokens: int
    seconds: float
    first_token: float

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds


@dataclass(frozen=True)
class Result:
    path: str
    runs: list[Run]

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    @property
    def first_token_ms(self) -> float:
        return 1000 * statistics.median(r.first_token for r in self.runs)


def measure_direct(model_dir: Path, tokens: int) -> Callable[[], Awaitable[Run]]:
    """mlx_lm on this thread, exactly as the backend's worker calls it."""
    import mlx.core as mx
    import mlx_lm
    from mlx_lm.sample_utils import make_logits_processors, make_sampler

    model, tokenizer = mlx_lm.load(str(model_dir))
    prompt = mx.array(tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True))
    processors = make_logits_processors(logit_bias={tokenizer.eos_token_id: -100.0})

    async def run() -> Run:
        started = time.perf_counter()
        first = None
        count = 0
        for response in mlx_lm.stream_generate(
            model,
            tokenizer,
            prompt,
            max_tokens=tokens,
            sampler=make_sampler(temp=0.0),
            logits_processors=processors,
        ):
            if not first and response.text:  # as for HTTP: the first visible text
                first = time.perf_counter()
            count = response.generation_tokens
        end = time.perf_counter()
        return Run(count, end - started, (first or end) - started)

    return run


def measure_http(
    session: aiohttp.ClientSession, base_url: str, model: str, tokens: int, eos_id: int
) -> Callable[[], Awaitable[Run]]:
    """A streamed Chat Completions request to `base_url` (ending in /v1)."""
    body = {
        "model": model,
        "messages": PROMPT,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0,
        "max_tokens": tokens,
        "logit_bias": {str(eos_id): -100},
    }

    async def run() -> Run:
        started = time.perf_counter()
        first = None
        count = 0
        async with session.post(f"{base_url}/chat/completions", json=body) as response:
            if response.status != 200:
                raise SystemExit(f"{base_url}: {response.status} {await response.text()}")
            async for line in response.content:
                if not line.startswith(b"data: {"):
                    continue
                chunk = json.loads(line[6:])
                # The first chunk (role only) leaves before any token: time the first text.
                if not first and any(c["delta"].get("content") for c in chunk["choices"]):
                    first = time.perf_counter()
                if chunk.get("usage"):
                    count = chunk["usage"]["completion_tokens"]
        end = time.perf_counter()
        return Run(count, end - started, (first or end) - started)

    return run


async def compare(paths: dict[str, Callable[[], Awaitable[Run]]], runs: int) -> list[Result]:
    """One warm-up per path, then the paths take turns, so drift in machine load hits all."""
    for run in paths.values():
        await run()  # kernel compilation, model load, connection set-up
    samples: dict[str, list[Run]] = {name: [] for name in paths}
    for _ in range(runs):
        for name, run in paths.items():
            samples[name].append(await run())
    return [Result(name, found) for name, found in samples.items()]


def report(results: list[Result], tokens: int) -> None:
    base = results[0].rate
    print(f"{tokens} tokens per run, median of {len(results[0].runs)} runs, streamed")
    print(f"{'path':<10} {'tokens/s':>10} {'first token ms':>15} {'ratio':>7}")
    for result in results:
        print(
            f"{result.path:<10} {result.rate:>10.1f} {result.first_token_ms:>15.1f}"
            f" {result.rate / base:>7.3f}"
        )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model_dir
        if model_dir is None:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
            from support.tinymodel import build_tiny_model

            model_dir = build_tiny_model(Path(scratch), hidden=args.hidden, layers=args.layers)
        model_dir = model_dir.expanduser().resolve()
        model_id = model_dir.name
        print(f"model {model_id} at {model_dir}")

        paths = {"direct": measure_direct(model_dir, args.tokens)}
        from mlx_lm.utils import load_tokenizer

        eos_id = int(load_tokenizer(model_dir).eos_token_id)
        backend = LocalBackend(model_dirs=[model_dir], hf_cache=Path(scratch) / "no-hf-cache")
        await backend.start()
        try:
            async with aiohttp.ClientSession() as session:
                paths["server"] = measure_http(
                    session, backend.base_url + "/v1", model_id, args.tokens, eos_id
                )
                if args.proxy_url:
                    paths["proxy"] = measure_http(
                        session,
                        args.proxy_url.rstrip("/"),
                        args.proxy_model or model_id,
                        args.tokens,
                        eos_id,
                    )
                results = await compare(paths, args.runs)
        finally:
            await backend.stop()
        report(results, args.tokens)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, help="a model folder (default: a tiny llama)")
    parser.add_argument("--hidden", type=int, default=64, help="the built model's width")
    parser.add_argument("--layers", type=int, default=2, help="the built model's depth")
    parser.add_argument("--tokens", type=int, default=256, help="tokens per run (default 256)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per path (default 5)")
    parser.add_argument(
        "--proxy-url", help="also measure through this proxy, e.g. http://127.0.0.1:1337/v1"
    )
    parser.add_argument(
        "--proxy-model", help="the model id to ask the proxy for (default: the folder name)"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
