"""End to end, issue 4: local MLX models through the real proxy with the real SDKs.

A tiny random-weight llama is built in a temp folder (nothing is downloaded), listed by
`mitmllm run`, and answered through mitmproxy and the in-process loopback server. Expected
values come from `mlx_lm` itself, called directly on the same folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest
from openai import OpenAI
from support.mlxref import MlxReference
from support.proxy import MitmllmProcess
from support.tinymodel import build_tiny_model

from mitmllm.local.mlxapi import mlx_status

pytestmark = [pytest.mark.e2e, pytest.mark.mlx]

if not mlx_status()[0]:
    if os.environ.get("CI"):  # CI's machines run MLX on the CPU (mlx[cpu])
        pytest.fail(f"MLX cannot run here: {mlx_status()[1]}", pytrace=False)
    pytest.skip(f"MLX cannot run here: {mlx_status()[1]}", allow_module_level=True)

MESSAGES = [{"role": "user", "content": "Tell me about the llama in Paris."}]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    build_tiny_model(folder, "tiny-llama")
    # Big enough that 3000 tokens take many seconds: an abandoned generation shows.
    build_tiny_model(folder, "slow-llama", seed=1, hidden=512, layers=6)
    return folder


@pytest.fixture(scope="module")
def reference() -> MlxReference:
    return MlxReference()


@pytest.fixture(scope="module")
def proxy(models: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MitmllmProcess]:
    config = f"local: {{enabled: true, model_dirs: ['{models}'], max_loaded: 2}}\n"
    with MitmllmProcess(tmp_path_factory.mktemp("local"), config) as process:
        yield process
        assert process.stop() == 0, process.log()


@pytest.fixture
def client(proxy: MitmllmProcess) -> OpenAI:
    return OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0, timeout=120)


def test_local_models_are_listed_and_connected(client: OpenAI, proxy: MitmllmProcess) -> None:
    listed = {m.id: m.owned_by for m in client.models.list()}
    assert listed["tiny-llama"] == "local" and listed["slow-llama"] == "local"
    row = proxy.providers()["local"]
    assert row["state"] == "connected" and set(row["models"]) == {"tiny-llama", "slow-llama"}


def test_greedy_answer_equals_mlx_lm(client: OpenAI, models: Path,
                                     reference: MlxReference) -> None:
    expected = reference.generate(models / "tiny-llama", MESSAGES, max_tokens=24)
    answer = client.chat.completions.create(model="tiny-llama", messages=MESSAGES,  # type: ignore[arg-type]
                                            temperature=0, max_tokens=24)
    assert answer.choices[0].message.content == expected.text
    assert answer.choices[0].finish_reason == expected.finish_reason
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == expected.prompt_tokens
    assert answer.usage.completion_tokens == expected.completion_tokens


def test_stream_arrives_in_pieces_and_joins_to_the_same_text(
        client: OpenAI, models: Path, reference: MlxReference) -> None:
    expected = reference.generate(models / "tiny-llama", MESSAGES, max_tokens=24)
    pieces: list[str] = []
    usage = None
    with client.chat.completions.create(model="local/tiny-llama", messages=MESSAGES,  # type: ignore[arg-type]
                                        temperature=0, max_tokens=24, stream=True,
                                        stream_options={"include_usage": True}) as stream:
        for part in stream:
            if part.choices and part.choices[0].delta.content:
                pieces.append(part.choices[0].delta.content)
            if part.usage is not None:
                usage = part.usage
    assert len(pieces) > 1
    assert "".join(pieces) == expected.text
    assert usage is not None and usage.completion_tokens == expected.completion_tokens


def test_anthropic_client_reaches_a_local_model(proxy: MitmllmProcess, models: Path,
                                                reference: MlxReference) -> None:
    expected = reference.generate(models / "tiny-llama", MESSAGES, max_tokens=16)
    client = anthropic.Anthropic(base_url=proxy.url, api_key="x", max_retries=0)
    message = client.messages.create(model="tiny-llama", max_tokens=16,
                                     extra_body={"temperature": 0},
                                     messages=MESSAGES)  # type: ignore[arg-type]
    text = "".join(block.text for block in message.content if block.type == "text")
    assert text == expected.text
    assert message.usage.output_tokens == expected.completion_tokens


def test_abandoned_stream_stops_generating(client: OpenAI) -> None:
    """A client that goes away must not leave the model busy: the next request to the same
    model (one generation at a time) is answered at once, not after 3000 tokens."""
    # Warm up (load the model) so the timings below measure generation only.
    client.chat.completions.create(model="slow-llama", messages=MESSAGES,  # type: ignore[arg-type]
                                   max_tokens=2)
    started = time.monotonic()
    tokens = 0
    with client.chat.completions.create(model="slow-llama", messages=MESSAGES,  # type: ignore[arg-type]
                                        max_tokens=3000, temperature=0, stream=True) as stream:
        for part in stream:
            if part.choices and part.choices[0].delta.content:
                tokens += 1
                if tokens == 3:
                    break
    per_token = (time.monotonic() - started) / 3
    started = time.monotonic()
    answer = client.chat.completions.create(model="slow-llama", messages=MESSAGES,  # type: ignore[arg-type]
                                            max_tokens=4)
    waited = time.monotonic() - started
    assert answer.choices[0].finish_reason == "length"
    # 3000 abandoned tokens would take per_token * 3000; the new answer must not wait.
    assert waited < min(per_token * 300, 20), (waited, per_token)


def test_unknown_local_model_is_404(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="local/no-such-model", messages=MESSAGES)  # type: ignore[arg-type]
