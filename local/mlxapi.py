"""The one place that imports mlx and mlx_lm, lazily, so `mitmllm.local` imports everywhere.

`mlx_status()` is cheap (about 0.1 s: `import mlx.core`, which is where an unsupported
platform fails, plus a look-up that mlx_lm is installed). `mlx_api()` imports mlx_lm itself,
which pulls in transformers (about 2 s), and is only called on the worker thread or when a
scan asks which architectures mlx_lm knows.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

INSTALL_HINT = "install the MLX extra: pip install 'mitmllm[mlx]'"


def _import_mlx() -> ModuleType:
    """Import `mlx.core` (tests replace this to simulate a machine without MLX)."""
    # import_module rather than `import mlx.core`: typed the same whether or not mlx is installed
    return importlib.import_module("mlx.core")


@functools.cache
def mlx_status() -> tuple[bool, str | None]:
    """(available, reason): whether local models can run here, and if not, why, in one line."""
    if sys.platform == "darwin" and platform.machine() != "arm64":
        return False, "MLX needs Apple silicon; this Mac has an Intel processor"
    try:
        _import_mlx()
    except Exception as exc:  # ImportError, or OSError from a broken native library
        return False, f"MLX is not available ({exc}); {INSTALL_HINT}"
    if importlib.util.find_spec("mlx_lm") is None:
        return False, f"mlx is installed but mlx-lm is not; {INSTALL_HINT}"
    return True, None


@dataclass(frozen=True)
class MlxApi:
    """The handful of mlx / mlx_lm entry points the backend uses."""

    mx: Any
    load: Callable[..., Any]
    stream_generate: Callable[..., Any]
    make_sampler: Callable[..., Any]
    make_logits_processors: Callable[..., Any]
    tree_flatten: Callable[..., Any]


@functools.cache
def mlx_api() -> MlxApi:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm import load, stream_generate
    from mlx_lm.sample_utils import make_logits_processors, make_sampler

    return MlxApi(mx, load, stream_generate, make_sampler, make_logits_processors, tree_flatten)


@functools.cache
def _known_architectures() -> frozenset[str] | None:
    try:
        import mlx_lm.models
        from mlx_lm.utils import MODEL_REMAPPING
    except Exception as exc:
        log.debug("cannot read mlx_lm's architectures: %s", exc)
        return None
    folder = mlx_lm.models.__path__[0]
    modules = {p.stem for p in Path(folder).glob("*.py") if not p.stem.startswith("_")}
    return frozenset(modules | set(MODEL_REMAPPING))


def supports_model_type(model_type: str) -> bool:
    """Whether mlx_lm has an architecture for `config.json`'s `model_type`.

    Mirrors how mlx_lm picks the module (`mlx_lm.models.<type>`, after its remapping table).
    Unknown (mlx_lm not importable) counts as supported: the load will tell.
    """
    known = _known_architectures() if mlx_status()[0] else None
    return known is None or model_type in known
