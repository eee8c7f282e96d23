"""The same refusal reads the same whatever the provider's format: one error type and code,
the same field named, and a message that names the provider's real format."""

from __future__ import annotations

from typing import Any

import pytest

from mitmllm.translators import hub
from mitmllm.translators.chat.types import RequestOptions
from mitmllm.translators.errors import InvalidRequestError, UnsupportedFieldError
from mitmllm.translators.formats import FORMAT_NAMES, Format

REFUSED: list[tuple[Format, dict[str, Any], str]] = [
    ("responses", {"model": "m", "input": "x", "previous_response_id": "resp_1"},
     "previous_response_id"),
    ("responses", {"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]},
     "input[0]"),
    ("responses", {"model": "m", "input": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}]},
     "input[0].content[0]"),
    ("responses", {"model": "m", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0]"),
    ("anthropic", {"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": [{"type": "audio", "data": "x"}]}]},
     "messages[0].content[0]"),
    ("anthropic", {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
                   "tools": [{"type": "code_execution_20250522", "name": "code_execution"}]},
     "tools[0]"),
]


@pytest.mark.parametrize(("client", "body", "param"), REFUSED,
                         ids=[r[2] for r in REFUSED])
def test_a_refusal_is_the_same_toward_every_provider(client: Format, body: dict[str, Any],
                                                     param: str) -> None:
    seen = []
    for provider in ("openai", "anthropic", "responses"):
        if provider == client:
            continue
        with pytest.raises(UnsupportedFieldError) as caught:
            hub.translate_request(client, provider, body, RequestOptions(hosted_tools="refuse"))
        info = caught.value.info()
        assert (info.status, info.type, info.code, info.param) == (
            400, "invalid_request_error", "unsupported_parameter", param)
        assert "{target}" not in info.message
        seen.append(info.message.replace(FORMAT_NAMES[provider], "<target>"))
    assert len(set(seen)) == 1, seen  # only the target's name differs


@pytest.mark.parametrize(("client", "body", "param"), [
    ("anthropic", {"model": "m", "max_tokens": "64", "messages": []}, "max_tokens"),
    ("responses", {"model": "m", "input": "x", "max_output_tokens": "64"}, "max_output_tokens"),
    ("responses", {"model": "m", "input": "x", "max_output_tokens": 0}, "max_output_tokens"),
], ids=["anthropic-string", "responses-string", "responses-zero"])
def test_a_malformed_output_limit_is_named_as_the_client_sent_it(
        client: Format, body: dict[str, Any], param: str) -> None:
    """Not as the hub's `max_completion_tokens`, which the client never sent."""
    for provider in ("openai", "anthropic", "responses"):
        if provider == client:
            continue
        with pytest.raises(InvalidRequestError) as caught:
            hub.translate_request(client, provider, body)
        assert caught.value.param == param
        assert caught.value.message == f"'{param}' must be a positive integer"
