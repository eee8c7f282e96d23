"""Hermetic secrets for every addon test: the null keyring (never the user's keychain) and
no provider keys inherited from the environment; tests give keys with `monkeypatch.setenv`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.null
import pytest

INHERITED = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "XAI_API_KEY", "OPENROUTER_API_KEY",
             "MITMLLM_CONFIG")


@pytest.fixture(autouse=True)
def null_keyring(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[None]:
    for name in [*INHERITED, *(n for n in os.environ if n.startswith("MITMLLM_KEY_"))]:
        monkeypatch.delenv(name, raising=False)
    # Local model discovery must not see the machine's Hugging Face cache.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path_factory.mktemp("empty-hf-cache")))
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.null.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A folder that local model discovery counts as one model, `tiny-folder` (never
    loaded: MLX is not run by the addon tests)."""
    folder = tmp_path / "models" / "tiny-folder"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "tokenizer.json").write_text("{}")
    return folder.parent
