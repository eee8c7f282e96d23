"""Settings as the Providers page sends them, to config fields as a person would write them
(only what differs from the preset or the default), and back."""

from __future__ import annotations

from typing import Any

import pytest

from mitmllm.config.provider_edits import SecretChanges, config_fields, settings_of
from mitmllm.config.schema import ConfigError, parse_provider
from mitmllm.config.store import parse_text


def test_a_preset_needs_only_its_name() -> None:
    assert config_fields({"name": "openai", "preset": "openai", "host": "api.openai.com",
                          "protocol": "https", "port": None, "base_path": "/v1",
                          "format": "openai", "auth": "api_key", "enabled": True,
                          "timeout": 60, "models": [], "headers": []}) == {
        "name": "openai", "preset": "openai"}


def test_the_local_shortcuts_are_custom_providers() -> None:
    assert config_fields({"name": "ollama", "preset": "ollama"}) == {
        "name": "ollama", "preset": "custom", "host": "localhost", "protocol": "http",
        "port": 11434}  # auth: none is Custom's own default


def test_form_text_becomes_typed_fields() -> None:
    written = config_fields({"name": "lab", "preset": "custom", "host": "10.0.0.5",
                             "port": "8000", "timeout": "7.5", "max_tokens_default": "2048",
                             "models": "m1, m2\nm3", "enabled": False})
    assert written == {"name": "lab", "preset": "custom", "host": "10.0.0.5", "port": 8000,
                       "enabled": False, "timeout": 7.5, "models": ["m1", "m2", "m3"],
                       "max_tokens_default": 2048}


SAMPLES = """\
providers:
  - name: corp
    preset: custom
    host: llm.corp.example
    port: 8443
    base_path: /api/v2
    format: anthropic
    timeout: 30
    headers: {X-Team: blue}
    secret_headers: [X-Org-Token]
    models: [claude-*]
    max_tokens_default: 1000
    hosted_tools: refuse
    auto_connect: false
  - {name: openrouter}
  - {name: lm, preset: custom, host: localhost, protocol: http, port: 1234, auth: none}
"""


@pytest.mark.parametrize("index", [0, 1, 2])
def test_settings_read_back_to_the_same_provider(index: int) -> None:
    provider = parse_text(SAMPLES).providers[index]
    settings = settings_of(provider)
    assert parse_provider(config_fields(settings)) == provider
    assert all(row["value"] is None for row in settings["headers"] if row["secret"])


@pytest.mark.parametrize(("body", "field"), [
    ({"api_key": 5}, "api_key"),
    ({"api_key": "two\nlines"}, "api_key"),
    ({"secret_headers": ["X"]}, "secret_headers"),
])
def test_secrets_are_single_strings(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as raised:
        SecretChanges.read(body)
    assert raised.value.field == field


def test_blank_secrets_change_nothing() -> None:
    assert SecretChanges.read({"api_key": "  ", "secret_headers": {"X": ""}}) == \
        SecretChanges()


def test_the_page_refuses_a_secret_in_a_plain_header() -> None:
    with pytest.raises(ConfigError) as raised:
        config_fields({"name": "corp", "preset": "custom", "host": "h", "headers": [
            {"name": "Authorization", "value": "Bearer sk-plain", "secret": False}]})
    assert raised.value.field == "headers" and "Secret" in raised.value.reason
    assert "sk-plain" not in str(raised.value)
