"""Fixtures for the local backend tests: tiny models, a started backend, mlx_lm's own answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from support.mlxref import MlxReference
from support.tinymodel import build_tiny_model

from mitmllm.local.server import LocalBackend

# Same shape as the builder's template, but it never looks at `tools`.
TEMPLATE_WITHOUT_TOOLS = (
    "{{ bos_token }}{% for message in messages %}<|{{ message['role'] }}|>"
    "{{ message['content'] }}</s>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    build_tiny_model(root, "tiny-llama", seed=0)
    build_tiny_model(root, "tiny-llama-b", seed=1)
    build_tiny_model(root, "no-tools", seed=2, chat_template=TEMPLATE_WITHOUT_TOOLS)
    return root


@pytest.fixture
async def backend(model_dir: Path) -> AsyncIterator[LocalBackend]:
    backend = LocalBackend(model_dirs=[model_dir], hf_cache=model_dir / "no-hf-cache")
    await backend.start()
    yield backend
    await backend.stop()


@pytest.fixture(scope="session")
def reference() -> MlxReference:
    return MlxReference()
