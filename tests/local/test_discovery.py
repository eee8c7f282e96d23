"""Which folders are served as local models, under which ids (local/discovery.py).

Expectations come from the rule in the module docstring and from the Hugging Face cache layout
(`models--ORG--NAME/{refs/main,snapshots/REV}`, blobs behind symlinks); no mlx is needed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support.tinymodel import build_tiny_model

from mitmllm.local.discovery import LocalModel, default_hf_cache, discover_models, is_model_folder
from mitmllm.local.server import LocalBackend

ENV_VARS = ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME")


def make_model(
    folder: Path,
    *,
    model_type: str = "llama",
    weights: str = "model.safetensors",
    tokenizer: str | None = "tokenizer.json",
) -> Path:
    """A folder with the files the rule looks at (contents are never read past config.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    (folder / weights).write_bytes(b"weights")
    if tokenizer:
        (folder / tokenizer).write_text("{}")
    return folder


def make_hf_repo(cache: Path, repo_id: str, revisions: list[str], main: str | None) -> Path:
    """The hub cache layout: files are symlinks into blobs/, refs/main names a snapshot."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    blobs = repo / "blobs"
    blobs.mkdir(parents=True)
    for name, content in {"config": '{"model_type": "llama"}', "w": "w", "t": "{}"}.items():
        (blobs / name).write_text(content)
    for revision in revisions:
        snapshot = repo / "snapshots" / revision
        snapshot.mkdir(parents=True)
        for file, blob in [
            ("config.json", "config"),
            ("model.safetensors", "w"),
            ("tokenizer.json", "t"),
        ]:
            (snapshot / file).symlink_to(blobs / blob)
    if main is not None:
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(main)
    return repo


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "home/.cache/huggingface/hub"),
        ({"XDG_CACHE_HOME": "xdg"}, "xdg/huggingface/hub"),
        ({"HF_HOME": "hfhome", "XDG_CACHE_HOME": "xdg"}, "hfhome/hub"),
        ({"HUGGINGFACE_HUB_CACHE": "legacy", "HF_HOME": "hfhome"}, "legacy"),
        (
            {"HF_HUB_CACHE": "hubcache", "HUGGINGFACE_HUB_CACHE": "legacy", "HF_HOME": "h"},
            "hubcache",
        ),
    ],
)
def test_hf_cache_location_follows_huggingface_hub(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, str(clean_env / value))
    assert default_hf_cache() == clean_env / expected


@pytest.mark.parametrize("variable", ["HF_HOME", "HF_HUB_CACHE"])
def test_hf_cache_models_are_found_through_the_environment(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    root = clean_env / "custom"
    cache = root / "hub" if variable == "HF_HOME" else root
    make_hf_repo(cache, "mlx-community/Tiny-4bit", ["abc"], main="abc")
    monkeypatch.setenv(variable, str(root))
    assert discover_models([]) == [
        LocalModel(
            "mlx-community/Tiny-4bit",
            cache / "models--mlx-community--Tiny-4bit" / "snapshots" / "abc",
        )
    ]


def test_hf_snapshot_named_by_refs_main_wins(tmp_path: Path) -> None:
    repo = make_hf_repo(tmp_path, "org/model", ["old", "new"], main="old")
    os.utime(repo / "snapshots" / "new", (2e9, 2e9))  # newer, but not what main points at
    [model] = discover_models([], hf_cache=tmp_path)
    assert model.path == repo / "snapshots" / "old"


def test_hf_newest_complete_snapshot_without_refs(tmp_path: Path) -> None:
    repo = make_hf_repo(tmp_path, "org/model", ["a", "b"], main=None)
    os.utime(repo / "snapshots" / "a", (2e9, 2e9))
    [model] = discover_models([], hf_cache=tmp_path)
    assert model.path == repo / "snapshots" / "a"


def test_hf_skips_missing_blobs_datasets_and_foreign_folders(tmp_path: Path) -> None:
    repo = make_hf_repo(tmp_path, "org/partial", ["r1"], main="r1")
    (repo / "blobs" / "w").unlink()  # an interrupted download: a dangling symlink
    make_hf_repo(tmp_path, "org/good", ["r1"], main="r1")
    make_model(tmp_path / "datasets--org--data" / "snapshots" / "r1")
    make_model(tmp_path / "not-a-cache-entry")
    assert [m.id for m in discover_models([], hf_cache=tmp_path)] == ["org/good"]


@pytest.mark.parametrize(
    "damage",
    [
        "no config",
        "config without model_type",
        "config not json",
        "no tokenizer",
        "pytorch weights only",
        "shard missing from index",
    ],
)
def test_non_model_folders_are_skipped(tmp_path: Path, damage: str) -> None:
    folder = make_model(tmp_path / "m")
    if damage == "no config":
        (folder / "config.json").unlink()
    elif damage == "config without model_type":
        (folder / "config.json").write_text('{"hidden_size": 64}')
    elif damage == "config not json":
        (folder / "config.json").write_text("{")
    elif damage == "no tokenizer":
        (folder / "tokenizer.json").unlink()
    elif damage == "pytorch weights only":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    elif damage == "shard missing from index":
        (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
        index = {
            "weight_map": {
                "a": "model-00001-of-00002.safetensors",
                "b": "model-00002-of-00002.safetensors",
            }
        }
        (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert not is_model_folder(folder)
    assert discover_models([tmp_path], hf_cache=tmp_path / "none") == []


@pytest.mark.parametrize(
    "tokenizer", ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "cl100k.tiktoken"]
)
def test_any_tokenizer_file_counts(tmp_path: Path, tokenizer: str) -> None:
    assert is_model_folder(make_model(tmp_path / "m", tokenizer=tokenizer))


def test_complete_sharded_model_counts(tmp_path: Path) -> None:
    folder = make_model(tmp_path / "m", weights="model-00001-of-00002.safetensors")
    (folder / "model-00002-of-00002.safetensors").write_bytes(b"w")
    index = {
        "weight_map": {
            "a": "model-00001-of-00002.safetensors",
            "b": "model-00002-of-00002.safetensors",
        }
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert is_model_folder(folder)


def test_model_dirs_ids_by_depth(tmp_path: Path) -> None:
    itself = make_model(tmp_path / "single" / "Solo-Model")
    make_model(tmp_path / "shelf" / "alpha")
    make_model(tmp_path / "shelf" / "mlx-community" / "beta-4bit")  # LM Studio's layout
    (tmp_path / "shelf" / "notes").mkdir()
    found = discover_models([itself, tmp_path / "shelf"], hf_cache=tmp_path / "none")
    assert [(m.id, m.path) for m in found] == [
        ("Solo-Model", itself),
        ("alpha", tmp_path / "shelf" / "alpha"),
        ("mlx-community/beta-4bit", tmp_path / "shelf" / "mlx-community" / "beta-4bit"),
    ]


def test_model_dirs_win_over_the_hf_cache_and_missing_dirs_are_ignored(tmp_path: Path) -> None:
    make_hf_repo(tmp_path / "hub", "org/dup", ["r"], main="r")
    mine = make_model(tmp_path / "mine" / "org" / "dup")
    found = discover_models([tmp_path / "absent", tmp_path / "mine"], hf_cache=tmp_path / "hub")
    assert found == [LocalModel("org/dup", mine)]


def test_supports_filters_architectures(tmp_path: Path) -> None:
    make_model(tmp_path / "chat", model_type="llama")
    make_model(tmp_path / "embedder", model_type="bert")
    found = discover_models([tmp_path], hf_cache=tmp_path / "none", supports=lambda t: t == "llama")
    assert [m.id for m in found] == ["chat"]


def test_tiny_model_builder_output_is_a_model_folder(tmp_path: Path) -> None:
    path = build_tiny_model(tmp_path, "tiny")
    assert discover_models([tmp_path], hf_cache=tmp_path / "none") == [LocalModel("tiny", path)]


def test_tiny_model_builder_is_deterministic(tmp_path: Path) -> None:
    a = build_tiny_model(tmp_path / "a")
    b = build_tiny_model(tmp_path / "b")
    c = build_tiny_model(tmp_path / "c", seed=1)
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()


def test_backend_resolves_exact_then_case_insensitive_then_local_prefix(tmp_path: Path) -> None:
    make_model(tmp_path / "Tiny-Model")
    make_model(tmp_path / "tiny-model-2")
    backend = LocalBackend(model_dirs=[tmp_path], hf_cache=tmp_path / "none")
    assert backend.resolve("Tiny-Model") == LocalModel("Tiny-Model", tmp_path / "Tiny-Model")
    assert backend.resolve("tiny-MODEL").id == "Tiny-Model"  # type: ignore[union-attr]
    assert backend.resolve("local/tiny-model-2").id == "tiny-model-2"  # type: ignore[union-attr]
    assert backend.resolve("tiny") is None
    assert backend.resolve("other/Tiny-Model") is None


def test_backend_refresh_and_reconfigure_rescan(tmp_path: Path) -> None:
    backend = LocalBackend(model_dirs=[tmp_path / "a"], hf_cache=tmp_path / "none")
    assert backend.models() == []
    make_model(tmp_path / "a" / "first")
    backend.refresh()
    assert [m.id for m in backend.models()] == ["first"]
    make_model(tmp_path / "b" / "second")
    backend.reconfigure(model_dirs=[tmp_path / "b"], max_loaded=2)
    assert [m.id for m in backend.models()] == ["second"]
    assert backend.engine.pool.max_loaded == 2
