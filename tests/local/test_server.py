"""The local backend end to end with the real `openai` SDK against tiny random-weight models.

Every expected text, token count and finish reason comes from `mlx_lm` itself (`MlxReference`)
or from a rule (OpenAI's wire format, the issue's resource rules); none from our own output.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from support.mlxref import MlxReference

from mitmllm.local.mlxapi import mlx_status
from mitmllm.local.server import LocalBackend

pytestmark = [
    pytest.mark.mlx,
    pytest.mark.skipif(not mlx_status()[0], reason=f"needs mlx: {mlx_status()[1]}"),
]

HELLO = [{"role": "user", "content": "Hello! How can I help you today?"}]
FOX = [
    {"role": "system", "content": "You are a tiny llama."},
    {"role": "user", "content": "The quick brown fox?"},
]
NEVER_ENDING = 100_000  # with EOS suppressed, far more tokens than any test waits for


def client(backend: LocalBackend) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=backend.base_url + "/v1", api_key="x", max_retries=0)


def path_of(model_dir: Path, model_id: str = "tiny-llama") -> Path:
    return model_dir / model_id


async def wait_for_record(backend: LocalBackend, count: int, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while len(backend.engine.history) < count:
        assert time.monotonic() < deadline, "the generation never ended"
        await asyncio.sleep(0.02)
    return backend.engine.history[count - 1]


async def test_greedy_answer_equals_mlx_lm_with_the_sync_sdk(
    backend: LocalBackend, model_dir: Path, reference: MlxReference
) -> None:
    import mlx_lm

    path = path_of(model_dir)
    expected = reference.generate(path, HELLO, max_tokens=24)
    model, tokenizer = reference.load(path)
    prompt = reference.prompt(path, HELLO)
    assert expected.text == mlx_lm.generate(model, tokenizer, prompt, max_tokens=24)

    sync = openai.OpenAI(base_url=backend.base_url + "/v1", api_key="x", max_retries=0)
    answer = await asyncio.to_thread(
        sync.chat.completions.create,
        model="tiny-llama",
        messages=HELLO,  # type: ignore[arg-type]
        temperature=0,
        max_tokens=24,
    )
    sync.close()
    assert answer.choices[0].message.content == expected.text
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].finish_reason == expected.finish_reason
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == len(prompt) == expected.prompt_tokens
    assert answer.usage.completion_tokens == expected.completion_tokens
    assert answer.usage.total_tokens == len(prompt) + expected.completion_tokens
    assert answer.id.startswith("chatcmpl-") and answer.object == "chat.completion"
    assert answer.model == "tiny-llama"


async def test_stream_arrives_in_pieces_and_joins_to_mlx_lm_text(
    backend: LocalBackend, model_dir: Path, reference: MlxReference
) -> None:
    expected = reference.generate(path_of(model_dir), FOX, max_tokens=30)
    async with client(backend) as sdk:
        stream = await sdk.chat.completions.create(
            model="TINY-LLAMA",  # resolved case-insensitively, echoed as sent
            messages=FOX,  # type: ignore[arg-type]
            temperature=0,
            max_tokens=30,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]

    first, *middle, finish, usage = chunks
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    pieces = [c.choices[0].delta.content for c in middle]
    assert len(pieces) > 1 and all(pieces)
    assert "".join(pieces) == expected.text  # type: ignore[arg-type]
    assert all(c.choices[0].finish_reason is None for c in [first, *middle])
    assert finish.choices[0].finish_reason == expected.finish_reason
    assert usage.choices == [] and usage.usage is not None
    assert usage.usage.prompt_tokens == expected.prompt_tokens
    assert usage.usage.completion_tokens == expected.completion_tokens
    assert {c.id for c in chunks} == {first.id} and first.id.startswith("chatcmpl-")
    assert {c.model for c in chunks} == {"TINY-LLAMA"}
    assert {c.object for c in chunks} == {"chat.completion.chunk"}


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("stream", [False, True])
async def test_max_tokens_ends_with_length_after_exactly_that_many_tokens(
    backend: LocalBackend, model_dir: Path, reference: MlxReference, field: str, stream: bool
) -> None:
    limit = 5
    expected = reference.generate(path_of(model_dir), HELLO, max_tokens=limit)
    assert (expected.finish_reason, expected.completion_tokens) == ("length", limit)
    body: dict[str, Any] = {field: limit, "temperature": 0}
    async with client(backend) as sdk:
        if stream:
            chunks = [
                c
                async for c in await sdk.chat.completions.create(
                    model="tiny-llama",
                    messages=HELLO,
                    stream=True,  # type: ignore[arg-type]
                    stream_options={"include_usage": True},
                    **body,
                )
            ]
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            reason = chunks[-2].choices[0].finish_reason
            usage = chunks[-1].usage
        else:
            answer = await sdk.chat.completions.create(
                model="tiny-llama",
                messages=HELLO,
                **body,  # type: ignore[arg-type]
            )
            text, reason = answer.choices[0].message.content, answer.choices[0].finish_reason
            usage = answer.usage
    assert (text, reason) == (expected.text, "length")
    assert usage is not None and usage.completion_tokens == limit


@pytest.mark.parametrize("stream", [False, True])
async def test_stop_string_cuts_the_text(
    backend: LocalBackend, model_dir: Path, reference: MlxReference, stream: bool
) -> None:
    full = reference.generate(path_of(model_dir), FOX, max_tokens=30)
    stop = full.text[12:15]  # three characters from the middle of mlx_lm's own answer
    cut = full.text[: full.text.find(stop)]
    # Tokens generated until the stop string first appears in the text.
    so_far = ""
    for piece, tokens in zip(full.pieces, full.tokens_after_piece, strict=True):
        so_far += piece
        if stop in so_far:
            expected_tokens = tokens
            break

    async with client(backend) as sdk:
        kwargs: dict[str, Any] = {
            "model": "tiny-llama",
            "messages": FOX,
            "temperature": 0,
            "max_tokens": 30,
            "stop": [stop, "never-generated"],
        }
        if stream:
            chunks = [
                c
                async for c in await sdk.chat.completions.create(
                    stream=True, stream_options={"include_usage": True}, **kwargs
                )
            ]
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            reason, usage = chunks[-2].choices[0].finish_reason, chunks[-1].usage
        else:
            answer = await sdk.chat.completions.create(**kwargs)
            text, reason = answer.choices[0].message.content, answer.choices[0].finish_reason
            usage = answer.usage
    assert (text, reason) == (cut, "stop")
    assert usage is not None and usage.completion_tokens == expected_tokens


async def test_seeded_sampling_matches_mlx_lm(
    backend: LocalBackend, model_dir: Path, reference: MlxReference
) -> None:
    expected = reference.generate(
        path_of(model_dir), HELLO, max_tokens=20, temperature=0.9, seed=1234
    )
    async with client(backend) as sdk:
        answers = [
            await sdk.chat.completions.create(
                model="tiny-llama",
                messages=HELLO,
                temperature=0.9,  # type: ignore[arg-type]
                seed=1234,
                max_tokens=20,
            )
            for _ in range(2)
        ]
    assert [a.choices[0].message.content for a in answers] == [expected.text] * 2


async def test_tools_are_rendered_by_the_chat_template(
    backend: LocalBackend, model_dir: Path, reference: MlxReference
) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {}}}]
    path = path_of(model_dir)
    expected = reference.generate(path, HELLO, max_tokens=10, tools=tools)
    assert expected.prompt_tokens > len(reference.prompt(path, HELLO))
    async with client(backend) as sdk:
        answer = await sdk.chat.completions.create(
            model="tiny-llama",
            messages=HELLO,
            tools=tools,  # type: ignore[arg-type]
            temperature=0,
            max_tokens=10,
        )
        assert answer.usage is not None
        assert answer.usage.prompt_tokens == expected.prompt_tokens
        assert answer.choices[0].message.content == expected.text

        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(
                model="no-tools",
                messages=HELLO,
                tools=tools,  # type: ignore[arg-type]
            )
    assert caught.value.body["param"] == "tools"  # type: ignore[index]


async def test_abandoned_stream_stops_generating(
    backend: LocalBackend, model_dir: Path, reference: MlxReference
) -> None:
    no_eos = {str(reference.eos_token_id(path_of(model_dir))): -100}
    async with client(backend) as sdk:
        stream = await sdk.chat.completions.create(
            model="tiny-llama",
            messages=HELLO,
            stream=True,  # type: ignore[arg-type]
            max_tokens=NEVER_ENDING,
            logit_bias=no_eos,
        )
        async for chunk in stream:
            if chunk.choices[0].delta.content:
                break
        await stream.close()

        record = await wait_for_record(backend, 1)
        assert record.finish_reason == "cancelled"
        assert record.completion_tokens < 2_000  # stopped after a few tokens, not 100 000

        started = time.monotonic()
        answer = await sdk.chat.completions.create(
            model="tiny-llama",
            messages=HELLO,
            max_tokens=5,  # type: ignore[arg-type]
        )
        assert time.monotonic() - started < 5
        assert answer.choices[0].finish_reason in ("length", "stop")


async def test_abandoned_non_stream_request_stops_generating(
    backend: LocalBackend, model_dir: Path, reference: MlxReference
) -> None:
    no_eos = {str(reference.eos_token_id(path_of(model_dir))): -100}
    async with client(backend) as sdk:
        with pytest.raises(openai.APITimeoutError):
            await sdk.with_options(timeout=1.0).chat.completions.create(
                model="tiny-llama",
                messages=HELLO,  # type: ignore[arg-type]
                max_tokens=NEVER_ENDING,
                logit_bias=no_eos,
            )
    record = await wait_for_record(backend, 1)
    assert record.finish_reason == "cancelled"
    assert record.completion_tokens < NEVER_ENDING // 10


async def test_concurrent_requests_queue_and_each_gets_its_own_answer(
    backend: LocalBackend, model_dir: Path, reference: MlxReference
) -> None:
    cases = [("tiny-llama", HELLO), ("tiny-llama-b", FOX), ("tiny-llama", FOX)]
    expected = [
        reference.generate(path_of(model_dir, m), msgs, max_tokens=12).text for m, msgs in cases
    ]
    backend.engine.set_max_loaded(2)
    async with client(backend) as sdk:
        answers = await asyncio.gather(
            *[
                sdk.chat.completions.create(
                    model=m,
                    messages=msgs,
                    temperature=0,  # type: ignore[arg-type]
                    max_tokens=12,
                )
                for m, msgs in cases
            ]
        )
    assert [a.choices[0].message.content for a in answers] == expected


async def test_lru_keeps_at_most_max_loaded_models(model_dir: Path) -> None:
    backend = LocalBackend(model_dirs=[model_dir], hf_cache=model_dir / "none", max_loaded=1)
    await backend.start()
    try:
        async with client(backend) as sdk:

            async def ask(model: str) -> None:
                await sdk.chat.completions.create(
                    model=model,
                    messages=HELLO,
                    max_tokens=2,  # type: ignore[arg-type]
                )

            await ask("tiny-llama")
            assert backend.engine.pool.loaded_ids() == ["tiny-llama"]
            await ask("tiny-llama-b")
            assert backend.engine.pool.loaded_ids() == ["tiny-llama-b"]
            await ask("tiny-llama")
            assert backend.engine.pool.loads == 3  # evicted, so loaded again

            backend.reconfigure(model_dirs=[model_dir], max_loaded=2)
            await ask("tiny-llama-b")
            await ask("tiny-llama")
            assert backend.engine.pool.loads == 4  # only b was missing
            assert backend.engine.pool.loaded_ids() == ["tiny-llama-b", "tiny-llama"]
    finally:
        await backend.stop()


async def test_loading_logs_progress(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("mitmllm.local.pool.PROGRESS_MIN_BYTES", 0)
    caplog.set_level("INFO", logger="mitmllm.local")
    async with client(backend) as sdk:
        await sdk.chat.completions.create(
            model="tiny-llama",
            messages=HELLO,
            max_tokens=1,  # type: ignore[arg-type]
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "mitmllm.local.pool"]
    assert lines[0].startswith("loading tiny-llama (")
    progress = [line for line in lines if line.startswith("loading tiny-llama: ")]
    assert len(progress) > 2 and progress[-1] == "loading tiny-llama: 100%"
    assert lines[-1].startswith("loaded tiny-llama in ")


async def test_error_answers_are_openai_shaped(backend: LocalBackend) -> None:
    url = backend.base_url + "/v1/chat/completions"
    async with aiohttp.ClientSession() as http:

        async def post(**kwargs: Any) -> tuple[int, dict[str, Any]]:
            async with http.post(url, **kwargs) as response:
                return response.status, (await response.json())["error"]

        status, error = await post(data=b'{"model": "tiny-llama", "messages": [')
        assert status == 400 and error["type"] == "invalid_request_error"
        assert set(error) == {"message", "type", "param", "code"}

        status, error = await post(json={"model": "nope", "messages": HELLO})
        assert (status, error["code"], error["param"]) == (404, "model_not_found", "model")
        assert "tiny-llama" in error["message"]

        status, error = await post(
            json={"model": "tiny-llama", "messages": HELLO, "temperature": 9}
        )
        assert (status, error["param"]) == (400, "temperature")

        status, error = await post(
            json={"model": "tiny-llama", "messages": HELLO, "logit_bias": {"999999": 5}}
        )
        assert (status, error["param"]) == (400, "logit_bias")

        async with http.get(backend.base_url + "/v1/nothing") as response:
            assert response.status == 404
            assert (await response.json())["error"]["type"] == "invalid_request_error"


async def test_models_and_health(backend: LocalBackend) -> None:
    async with client(backend) as sdk:
        listed = [m async for m in sdk.models.list()]
    assert sorted(m.id for m in listed) == ["no-tools", "tiny-llama", "tiny-llama-b"]
    assert {m.owned_by for m in listed} == {"local"}
    async with aiohttp.ClientSession() as http, http.get(backend.base_url + "/health") as r:
        health = await r.json()
    assert health["status"] == "ok" and health["available"] is True and health["reason"] is None


async def test_a_model_that_fails_to_load_answers_500(tmp_path: Path, model_dir: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in path_of(model_dir).iterdir():
        (broken / file.name).write_bytes(file.read_bytes())
    config = (broken / "config.json").read_text().replace('"hidden_size": 64', '"hidden_size": 32')
    (broken / "config.json").write_text(config)
    backend = LocalBackend(model_dirs=[tmp_path], hf_cache=tmp_path / "none")
    await backend.start()
    try:
        async with client(backend) as sdk:
            with pytest.raises(openai.InternalServerError) as caught:
                await sdk.chat.completions.create(
                    model="broken",
                    messages=HELLO,  # type: ignore[arg-type]
                )
    finally:
        await backend.stop()
    assert caught.value.body["code"] == "model_load_failed"  # type: ignore[index]


async def test_stop_ends_a_running_stream_promptly(
    model_dir: Path, reference: MlxReference
) -> None:
    backend = LocalBackend(model_dirs=[model_dir], hf_cache=model_dir / "none")
    await backend.start()
    no_eos = {str(reference.eos_token_id(path_of(model_dir))): -100}
    sdk = client(backend)
    stream = await sdk.chat.completions.create(
        model="tiny-llama",
        messages=HELLO,
        stream=True,  # type: ignore[arg-type]
        max_tokens=NEVER_ENDING,
        logit_bias=no_eos,
    )
    await anext(aiter(stream))
    started = time.monotonic()
    await backend.stop()
    assert time.monotonic() - started < 3
    assert backend.engine.history[-1].finish_reason == "cancelled"
    await sdk.close()


EXIT_SCRIPT = """
import asyncio, sys
from pathlib import Path
import aiohttp
from mitmllm.local import LocalBackend

async def main(folder: Path, stop: bool) -> None:
    backend = LocalBackend(model_dirs=[folder], hf_cache=folder / "none")
    await backend.start()
    body = {"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 100}
    async with aiohttp.ClientSession() as http:
        async with http.post(backend.base_url + "/v1/chat/completions", json=body) as r:
            assert r.status == 200, await r.text()
    if stop:
        await backend.stop()

asyncio.run(main(Path(sys.argv[1]), sys.argv[2] == "stop"))
"""


@pytest.mark.parametrize("ending", ["stop", "forgotten-stop"])
def test_the_process_exits_cleanly_after_generating(model_dir: Path, ending: str) -> None:
    # MLX aborts the process at exit (code 134) when a thread that used it ends without
    # clearing its streams; with a forgotten stop() the atexit safety net must do it.
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, str(model_dir), ending],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
