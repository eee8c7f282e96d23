"""Find the local models the MLX backend can serve: the Hugging Face cache and `model_dirs`.

Pure filesystem work, no mlx import, so listing works (and is testable) everywhere.

**What counts as a model folder** (the rule `is_model_folder` applies):

- `config.json` is a JSON object with a string `model_type` (what `mlx_lm` dispatches on);
- at least one `model*.safetensors` file (the pattern `mlx_lm.load` reads; PyTorch `.bin`
  checkpoints and GGUF files are not loadable by mlx_lm and are skipped);
- when `model.safetensors.index.json` exists, every shard it names is present (a half
  downloaded repo in the HF cache has dangling symlinks);
- a tokenizer file: `tokenizer.json`, `tokenizer.model`, `tokenizer_config.json` or `*.tiktoken`.

On top of that the caller may pass `supports(model_type)`: the engine answers it from
mlx_lm's own architecture table, so an embedding or speech model in the HF cache (a BERT or a
Whisper has the same files) is not offered as a chat model. Without mlx_lm the check is skipped
and such models are listed; asking them then answers the backend's "unavailable" error.
No quantization is required: an MLX conversion (`mlx-community/...`) and a plain safetensors
checkpoint of a supported architecture both load.

**Where and which id:**

- the HF cache (`HF_HUB_CACHE`, else legacy `HUGGINGFACE_HUB_CACHE`, else `HF_HOME/hub`, else
  `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`, as huggingface_hub
  resolves it): `models--ORG--NAME/snapshots/REV` gives id `ORG/NAME`; the revision `refs/main`
  points at wins, else the newest snapshot that is a model folder;
- each entry of `model_dirs`: the folder itself if it is a model (id: its name), else its
  sub-folders (id: the sub-folder's name), else their sub-folders (id: `PARENT/NAME`, the
  `publisher/model` layout LM Studio uses).

The first occurrence of an id wins, `model_dirs` before the HF cache: an explicit folder is
the user's choice. Unreadable folders are skipped with a DEBUG log line, never an error.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
WEIGHTS_INDEX = "model.safetensors.index.json"


@dataclass(frozen=True)
class LocalModel:
    """A servable model: `id` is what clients send as `model`, `path` what mlx_lm loads."""

    id: str
    path: Path


def default_hf_cache() -> Path:
    """The hub cache folder, resolved from the environment as huggingface_hub does."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if value := os.environ.get(variable):
            return Path(os.path.expandvars(value)).expanduser()
    if home := os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(home)).expanduser() / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "huggingface" / "hub"


def model_type_of(folder: Path) -> str | None:
    """`config.json`'s `model_type`, or None when there is no readable config."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return model_type if isinstance(model_type, str) and model_type else None


def _weights_complete(folder: Path) -> bool:
    # `exists()` follows symlinks: an HF-cache snapshot whose blob is missing fails here.
    if not any(p.exists() for p in folder.glob("model*.safetensors")):
        return False
    index = folder / WEIGHTS_INDEX
    if not index.exists():
        return True
    try:
        shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return all((folder / shard).exists() for shard in shards)


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).exists() for name in TOKENIZER_FILES) or any(
        folder.glob("*.tiktoken")
    )


def is_model_folder(folder: Path, supports: Callable[[str], bool] | None = None) -> bool:
    """Whether mlx_lm can load `folder` (the rule in the module docstring)."""
    try:
        if not folder.is_dir():
            return False
        model_type = model_type_of(folder)
        if model_type is None or not _weights_complete(folder) or not _has_tokenizer(folder):
            return False
    except OSError as exc:
        log.debug("skipping %s: %s", folder, exc)
        return False
    if supports is not None and not supports(model_type):
        log.debug("skipping %s: mlx_lm has no architecture %r", folder, model_type)
        return False
    return True


def _subdirs(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        log.debug("cannot list %s: %s", folder, exc)
        return []


def _scan_model_dir(root: Path, supports: Callable[[str], bool] | None) -> Iterator[LocalModel]:
    if is_model_folder(root, supports):
        yield LocalModel(root.name, root)
        return
    for child in _subdirs(root):
        if is_model_folder(child, supports):
            yield LocalModel(child.name, child)
            continue
        for grandchild in _subdirs(child):
            if is_model_folder(grandchild, supports):
                yield LocalModel(f"{child.name}/{grandchild.name}", grandchild)


def _snapshot(repo: Path, supports: Callable[[str], bool] | None) -> Path | None:
    snapshots = repo / "snapshots"
    try:
        main = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        main = ""
    if main and is_model_folder(snapshots / main, supports):
        return snapshots / main
    candidates = [s for s in _subdirs(snapshots) if is_model_folder(s, supports)]
    return max(candidates, key=lambda s: s.stat().st_mtime, default=None)


def _scan_hf_cache(cache: Path, supports: Callable[[str], bool] | None) -> Iterator[LocalModel]:
    for repo in _subdirs(cache):
        # Cache folders are `models--ORG--NAME` (`--` cannot occur in a repo id); datasets
        # and spaces live beside them as `datasets--...` and `spaces--...`.
        kind, _, rest = repo.name.partition("--")
        if kind != "models" or not rest:
            continue
        snapshot = _snapshot(repo, supports)
        if snapshot is not None:
            yield LocalModel(rest.replace("--", "/"), snapshot)


def discover_models(
    model_dirs: Sequence[Path],
    *,
    hf_cache: Path | None = None,
    supports: Callable[[str], bool] | None = None,
) -> list[LocalModel]:
    """Every servable model, `model_dirs` first, then the HF cache (default: from the env)."""
    found: dict[str, LocalModel] = {}
    sources = [_scan_model_dir(Path(d).expanduser(), supports) for d in model_dirs]
    sources.append(_scan_hf_cache(hf_cache or default_hf_cache(), supports))
    for source in sources:
        for model in source:
            if model.id in found:
                log.debug("%s: id %r already taken by %s", model.path, model.id, found[model.id])
                continue
            found[model.id] = model
    return list(found.values())
