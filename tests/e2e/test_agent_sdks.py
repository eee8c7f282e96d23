"""Agent SDKs as clients, through the real proxy, to a provider of each format: the OpenAI
Agents SDK (openai-agents) with a function tool on both of its model classes (Chat
Completions and Responses), streamed and not, and LiteLLM's SDK used as a client.

The provider is `tests/support/agent_recorder.py`, scripted to call the agent's tool once and
then answer; the tool's result must reach the provider, whatever its format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import litellm
import pytest
from agents import (
    Agent,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import AsyncOpenAI
from support.agent_recorder import FINAL_TEXT, PLAIN_TEXT, AgentRecorder
from support.proxy import MitmllmProcess

pytestmark = [
    pytest.mark.e2e,
    # LiteLLM's own pydantic models warn about themselves on import of a provider module.
    pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning"),
]

FORMATS = ["openai", "anthropic", "responses"]
PLAN = [{"name": "get_weather", "args": {"city": "Paris"}}]

set_tracing_disabled(True)  # the SDK would otherwise send traces to OpenAI


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.fixture
async def provider_and_proxy(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    fmt, mode = request.param
    recorder = AgentRecorder(mode=mode, plan=PLAN if mode == "tool" else None)
    url = await recorder.start()
    port = url.rsplit(":", 1)[1]
    proxy = MitmllmProcess(tmp_path / "proxy", (
        "providers:\n"
        f"  - {{name: fp, preset: custom, host: 127.0.0.1, protocol: http, port: {port}, "
        f"format: {fmt}, auth: none, models: ['*']}}\nlocal:\n  enabled: false\n"))
    proxy.start()
    try:
        yield recorder, proxy
    finally:
        proxy.stop()
        await recorder.stop()


def results_sent(recorder: AgentRecorder) -> str:
    return json.dumps(recorder.records[-1]["body"])


@pytest.mark.parametrize("provider_and_proxy", [(f, "tool") for f in FORMATS], indirect=True,
                         ids=FORMATS)
@pytest.mark.parametrize("model_class", [OpenAIChatCompletionsModel, OpenAIResponsesModel])
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
async def test_openai_agents_tool_loop(provider_and_proxy: Any, model_class: Any,
                                       streamed: bool) -> None:
    recorder, proxy = provider_and_proxy
    client = AsyncOpenAI(base_url=proxy.url + "/v1", api_key="anything")
    agent = Agent(name="weather", instructions="Answer with the tool.", tools=[get_weather],
                  model=model_class(model="fp/gpt-4o", openai_client=client))
    if streamed:
        run = Runner.run_streamed(agent, "What is the weather in Paris?")
        async for _ in run.stream_events():
            pass
        output = run.final_output
    else:
        output = (await Runner.run(agent, "What is the weather in Paris?")).final_output
    assert output == FINAL_TEXT
    assert "sunny in Paris" in results_sent(recorder)  # the tool ran, its result went back


@pytest.mark.parametrize("provider_and_proxy", [(f, "text") for f in FORMATS], indirect=True,
                         ids=FORMATS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_litellm_as_a_client(provider_and_proxy: Any, stream: bool) -> None:
    _, proxy = provider_and_proxy
    answer = await litellm.acompletion(
        model="openai/fp/gpt-4o", api_base=proxy.url + "/v1", api_key="anything",
        messages=[{"role": "user", "content": "Say hello"}], stream=stream)
    if stream:
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in answer
                        if chunk.choices])
    else:
        text = answer.choices[0].message.content
    assert text == PLAIN_TEXT
