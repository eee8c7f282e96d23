"""Loaded models: loading with progress, prompt rendering, and the LRU pool that bounds memory.

Everything here runs on the engine's single worker thread (see `engine.py`), so the pool needs
no lock for its own bookkeeping; only `loaded_ids()`, read from the event loop, takes one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from .discovery import LocalModel
from .errors import BadRequest, ModelLoadFailed
from .mlxapi import mlx_api

log = logging.getLogger(__name__)

PROGRESS_MIN_BYTES = 256 * 2**20
"""Below this a load takes well under a second and gets one log line, not a progress bar."""
PROGRESS_STEPS = 10


def _weights_size(model: LocalModel) -> int:
    return sum(p.stat().st_size for p in model.path.glob("model*.safetensors") if p.exists())


def _materialize(model_id: str, parameters: list[tuple[str, Any]]) -> None:
    """Read lazily loaded weights in about ten groups, logging the share done after each."""
    api = mlx_api()
    total = max(sum(array.nbytes for _, array in parameters), 1)
    step = max(total // PROGRESS_STEPS, 1)
    group: list[Any] = []
    done = pending = 0
    for index, (_, array) in enumerate(parameters, 1):
        group.append(array)
        pending += array.nbytes
        if pending >= step or index == len(parameters):
            api.mx.eval(group)
            done, group, pending = done + pending, [], 0
            log.info("loading %s: %d%%", model_id, 100 * done // total)


@dataclass
class LoadedModel:
    """A model and its tokenizer (mlx_lm's TokenizerWrapper) in memory."""

    model: LocalModel
    nn: Any
    tokenizer: Any

    @classmethod
    def load(cls, model: LocalModel) -> LoadedModel:
        api = mlx_api()
        size = _weights_size(model)
        log.info("loading %s (%.2f GB) from %s", model.id, size / 1e9, model.path)
        started = time.monotonic()
        try:
            # `lazy=True` maps the weights without reading them, so the reading can be done
            # in steps with progress lines; the result is what `lazy=False` gives.
            nn, tokenizer = api.load(str(model.path), lazy=True)
            parameters = api.tree_flatten(nn.parameters())
            if size >= PROGRESS_MIN_BYTES:
                _materialize(model.id, parameters)
            else:
                api.mx.eval([array for _, array in parameters])
        except Exception as exc:
            log.warning("could not load %s: %s", model.id, exc)
            raise ModelLoadFailed(f"could not load local model {model.id}: {exc}") from exc
        log.info("loaded %s in %.1f s", model.id, time.monotonic() - started)
        return cls(model, nn, tokenizer)

    @property
    def template_takes_tools(self) -> bool:
        # A template that never mentions `tools` would silently drop them. mlx_lm's own
        # renderers (set by `chat_template_type`) are Python and handle tools.
        template = getattr(self.tokenizer, "chat_template", None)
        if getattr(self.tokenizer, "_chat_template", None) is not None:
            return True
        return template is not None and "tools" in str(template)

    def render(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> list[int]:
        """The prompt tokens: the tokenizer's chat template with the generation prompt."""
        if not self.tokenizer.has_chat_template:
            raise BadRequest(
                f"{self.model.id} has no chat template (a base model?); use an instruct model",
                param="messages",
            )
        kwargs: dict[str, Any] = {"add_generation_prompt": True}
        if tools:
            if not self.template_takes_tools:
                raise BadRequest(
                    f"the chat template of {self.model.id} does not support tools", param="tools"
                )
            kwargs["tools"] = tools
        import jinja2

        try:
            tokens = self.tokenizer.apply_chat_template(messages, **kwargs)
        except (jinja2.TemplateError, ValueError, TypeError, KeyError) as exc:
            raise BadRequest(
                f"the chat template of {self.model.id} rejected the messages: {exc}",
                param="messages",
            ) from exc
        return list(tokens)

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)


class ModelPool:
    """At most `max_loaded` models in memory, least recently used evicted first."""

    def __init__(self, max_loaded: int) -> None:
        self.max_loaded = max(1, max_loaded)
        self.loads = 0
        self._loaded: OrderedDict[LocalModel, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model: LocalModel) -> LoadedModel:
        with self._lock:
            hit = self._loaded.get(model)
            if hit is not None:
                self._loaded.move_to_end(model)
                return hit
        # Evict before loading, so memory never holds max_loaded + 1 models.
        self._evict(self.max_loaded - 1)
        loaded = LoadedModel.load(model)
        with self._lock:
            self._loaded[model] = loaded
            self.loads += 1
        return loaded

    def resize(self, max_loaded: int) -> None:
        self.max_loaded = max(1, max_loaded)
        self._evict(self.max_loaded)

    def clear(self) -> None:
        self._evict(0)

    def _evict(self, keep: int) -> None:
        evicted = []
        with self._lock:
            while len(self._loaded) > keep:
                evicted.append(self._loaded.popitem(last=False)[0].id)
        if evicted:
            log.info("unloaded %s", ", ".join(evicted))
            # The arrays are freed with their last reference; give MLX's cached buffers back.
            mlx_api().mx.clear_cache()

    def loaded_ids(self) -> list[str]:
        with self._lock:
            return [m.id for m in self._loaded]
