"""mlx_lm called directly: the source of every expected value in the local backend tests.

`MlxReference` loads a model folder with `mlx_lm.load`, applies the tokenizer's chat template
the way an OpenAI request implies, and generates with `mlx_lm.stream_generate` — never through
any code of ours. Imports mlx lazily, so importing this module needs no mlx.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Expected:
    text: str
    pieces: list[str]
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    tokens_after_piece: list[int]  # generation_tokens reported with each piece


class MlxReference:
    """mlx_lm called directly on a model folder, models loaded once per session."""

    def __init__(self) -> None:
        self._loaded: dict[Path, tuple[Any, Any]] = {}

    def load(self, path: Path) -> tuple[Any, Any]:
        import mlx_lm

        if path not in self._loaded:
            self._loaded[path] = mlx_lm.load(str(path))
        return self._loaded[path]

    def prompt(self, path: Path, messages: list[dict[str, Any]], tools: Any = None) -> list[int]:
        _, tokenizer = self.load(path)
        extra = {"tools": tools} if tools else {}
        return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, **extra))

    def generate(
        self,
        path: Path,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        tools: Any = None,
        temperature: float = 0.0,
        seed: int | None = None,
        logit_bias: dict[int, float] | None = None,
    ) -> Expected:
        import mlx.core as mx
        import mlx_lm
        from mlx_lm.sample_utils import make_logits_processors, make_sampler

        model, tokenizer = self.load(path)
        prompt = self.prompt(path, messages, tools)
        if seed is not None:
            mx.random.seed(seed)
        responses = list(
            mlx_lm.stream_generate(
                model,
                tokenizer,
                mx.array(prompt),
                max_tokens=max_tokens,
                sampler=make_sampler(temp=temperature, top_p=1.0),
                logits_processors=make_logits_processors(logit_bias=logit_bias),
            )
        )
        return Expected(
            text="".join(r.text for r in responses),
            pieces=[r.text for r in responses],
            prompt_tokens=len(prompt),
            completion_tokens=responses[-1].generation_tokens,
            finish_reason=responses[-1].finish_reason,
            tokens_after_piece=[r.generation_tokens for r in responses],
        )

    def eos_token_id(self, path: Path) -> int:
        return int(self.load(path)[1].eos_token_id)
