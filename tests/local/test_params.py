"""Request validation for local chat (local/params.py): OpenAI's rules, 400s naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from mitmllm.local.errors import BadRequest
from mitmllm.local.params import DEFAULT_MAX_TOKENS, parse_chat

BASE: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"model": ""}, "model"),
        ({"model": 3}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"content": "no role"}]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            "messages[0].content[0]",
        ),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": []}, "stream_options"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_completion_tokens": -1}, "max_completion_tokens"),
        ({"seed": "s"}, "seed"),
        ({"stop": ""}, "stop"),
        ({"stop": ["ok", 3]}, "stop"),
        ({"logit_bias": {"x": 1}}, "logit_bias"),
        ({"logit_bias": {"5": 101}}, "logit_bias"),
        ({"presence_penalty": 3}, "presence_penalty"),
        ({"frequency_penalty": -3}, "frequency_penalty"),
        ({"tools": {"type": "function"}}, "tools"),
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
    ],
)
def test_bad_fields_are_400_naming_the_field(change: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_chat(BASE | change)
    assert caught.value.status == 400
    assert caught.value.param == param
    assert caught.value.to_openai()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("body", [None, [], "text"])
def test_body_must_be_an_object(body: Any) -> None:
    with pytest.raises(BadRequest):
        parse_chat(body)


def test_defaults() -> None:
    params = parse_chat(BASE)
    assert (params.stream, params.include_usage, params.max_tokens) == (
        False,
        False,
        DEFAULT_MAX_TOKENS,
    )
    assert (params.temperature, params.top_p, params.seed, params.stop) == (1.0, 1.0, None, ())


def test_accepted_fields() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    params = parse_chat(
        BASE
        | {
            "messages": [
                {"role": "developer", "content": "be brief"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
                {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 9,
            "max_completion_tokens": 7,
            "temperature": 0,
            "top_p": 0.5,
            "seed": 3,
            "stop": "END",
            "logit_bias": {"12": -100},
            "tools": tools,
            "user": "ignored",
        }
    )
    assert params.messages == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "ab"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "1"}]},
    ]
    assert params.include_usage and params.max_tokens == 7
    assert (params.temperature, params.top_p, params.seed) == (0.0, 0.5, 3)
    assert params.stop == ("END",) and params.logit_bias == {12: -100.0}
    assert params.tools == tools


def test_include_usage_only_when_streaming_and_tool_choice_none_drops_tools() -> None:
    params = parse_chat(
        BASE
        | {
            "stream_options": {"include_usage": True},
            "tools": [{"type": "function"}],
            "tool_choice": "none",
        }
    )
    assert not params.include_usage
    assert params.tools is None
