"""Importing Osaurus' remote providers (docs/architecture.md#configuration): the fields of
`~/.osaurus/providers/remote.json`, and the secrets of the keychain service
`ai.osaurus.remote` (accounts `<id>.apiKey`, `<id>.header.<Name>`) copied into mitmllm's own.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from support.keyrings import forget, unique_name

from mitmllm.config.osaurus import OSAURUS_SERVICE, import_osaurus, provider_fields
from mitmllm.config.schema import ConfigError
from mitmllm.config.secrets import SERVICE
from mitmllm.config.store import load_config

CONFIG_TEXT = """\
# My providers; keep this line.
providers:
  - name: OpenAI   # the existing one
    preset: openai
"""


def osaurus_entry(**fields: Any) -> dict[str, Any]:
    """An entry as Osaurus writes it, with its defaults."""
    entry: dict[str, Any] = {
        "id": str(uuid.uuid4()).upper(), "name": "Provider", "host": "api.openai.com",
        "providerProtocol": "https", "port": None, "basePath": "/v1", "customHeaders": {},
        "authType": "apiKey", "providerType": "openai", "enabled": True, "autoConnect": True,
        "timeout": 60, "secretHeaderKeys": [],
    }
    entry.update(fields)
    return entry


def write_remote(folder: Path, entries: list[dict[str, Any]]) -> Path:
    path = folder / "remote.json"
    path.write_text(json.dumps({"providers": entries}), encoding="utf-8")
    return path


@pytest.mark.parametrize(("fields", "expected"), [
    ({"providerType": "openai"}, {"format": "openai"}),
    ({"providerType": "anthropic", "host": "api.anthropic.com"},
     {"format": "anthropic", "preset": "anthropic"}),
    ({"providerType": "openResponses", "host": "api.openai.com"},
     {"format": "responses", "preset": "custom"}),
    ({"authType": "apiKey"}, {"auth": "api_key"}),
    ({"authType": "none"}, {"auth": "none"}),
    ({"host": "api.openai.com"}, {"preset": "openai", "host": "api.openai.com"}),
    ({"host": "api.x.ai"}, {"preset": "xai"}),
    ({"host": "openrouter.ai", "basePath": "/api/v1"},
     {"preset": "openrouter", "base_path": "/api/v1"}),
    ({"host": "localhost:11434", "providerProtocol": "http", "authType": "none"},
     {"host": "localhost", "port": 11434, "protocol": "http", "preset": "custom"}),
    ({"host": "openrouter.ai/api", "basePath": "/v1"},
     {"host": "openrouter.ai", "base_path": "/api/v1", "preset": "openrouter"}),
    ({"host": "gw.internal:8443/llm/", "basePath": "v1"},
     {"host": "gw.internal", "port": 8443, "base_path": "/llm/v1"}),
    ({"host": "gw.internal", "port": 8080}, {"port": 8080}),
    ({"enabled": False, "autoConnect": False, "timeout": 15},
     {"enabled": False, "auto_connect": False, "timeout": 15.0}),
    ({"customHeaders": {"X-Team": "blue"}, "secretHeaderKeys": ["X-Org-Token"]},
     {"headers": {"X-Team": "blue"}, "secret_headers": ["X-Org-Token"]}),
])
def test_provider_fields_map_osaurus_settings(fields: dict[str, Any],
                                              expected: dict[str, Any]) -> None:
    mapped = provider_fields(osaurus_entry(**fields))
    assert {key: mapped.get(key) for key in expected} == expected
    assert mapped["name"] == "Provider"


def test_the_osaurus_defaults_give_a_working_openai_provider() -> None:
    assert provider_fields(osaurus_entry(name="Work")) == {
        "name": "Work", "preset": "openai", "host": "api.openai.com", "protocol": "https",
        "base_path": "/v1", "format": "openai", "auth": "api_key", "enabled": True,
        "auto_connect": True, "timeout": 60.0}


def test_an_entry_without_port_headers_or_secret_headers_omits_those_fields() -> None:
    mapped = provider_fields(osaurus_entry(port=None, customHeaders={}, secretHeaderKeys=[]))
    assert not {"port", "headers", "secret_headers"} & set(mapped)


@pytest.mark.parametrize("name", [None, "", "   ", 7])
def test_an_entry_without_a_name_is_refused(name: Any) -> None:
    with pytest.raises(ValueError, match="a provider without a name"):
        provider_fields(osaurus_entry(name=name))


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG_TEXT, encoding="utf-8")
    return path


def test_import_adds_new_providers_and_skips_existing_names(
        no_keychain: KeyringBackend, tmp_path: Path, config_file: Path) -> None:
    source = write_remote(tmp_path, [
        osaurus_entry(name="Ollama", host="localhost:11434", providerProtocol="http",
                      authType="none"),
        osaurus_entry(name="openai", host="api.openai.com"),  # exists, as OpenAI
        osaurus_entry(name="My Claude", host="api.anthropic.com", providerType="anthropic",
                      secretHeaderKeys=["X-Org-Token"]),
        osaurus_entry(name=""),
        osaurus_entry(name="Local", host="localhost"),
        "not an entry",  # type: ignore[list-item]
    ])
    report = import_osaurus(source, config_file)
    assert report == [
        "imported 'Ollama' as ollama/MODEL (openai, 0 secret(s) copied)",
        "skipped 'openai': a provider of that name exists",
        "imported 'My Claude' as my-claude/MODEL (anthropic, 0 secret(s) copied)",
        "skipped providers[3]: a provider without a name",
        "skipped 'Local': 'local' is reserved for local MLX models",
        "skipped providers[5]: a provider without a name",
    ]
    config = load_config(config_file)
    assert [p.name for p in config.providers] == ["OpenAI", "Ollama", "My Claude"]
    ollama, claude = config.providers[1:]
    assert ollama.url("/models") == "http://localhost:11434/v1/models"
    assert ollama.auth == "none"
    assert (claude.preset, claude.format, claude.auth, claude.secret_headers) == (
        "anthropic", "anthropic", "api_key", ("X-Org-Token",))
    text = config_file.read_text(encoding="utf-8")
    assert "# My providers; keep this line." in text and "# the existing one" in text


def test_importing_twice_changes_nothing(no_keychain: KeyringBackend, tmp_path: Path,
                                         config_file: Path) -> None:
    source = write_remote(tmp_path, [osaurus_entry(name="xAI", host="api.x.ai")])
    assert import_osaurus(source, config_file) == [
        "imported 'xAI' as xai/MODEL (openai, 0 secret(s) copied)"]
    first = config_file.read_text(encoding="utf-8")
    assert import_osaurus(source, config_file) == [
        "skipped 'xAI': a provider of that name exists"]
    assert config_file.read_text(encoding="utf-8") == first


def test_a_top_level_list_is_accepted(no_keychain: KeyringBackend, tmp_path: Path,
                                      config_file: Path) -> None:
    source = tmp_path / "list.json"
    source.write_text(json.dumps([osaurus_entry(name="LM Studio", host="localhost:1234",
                                                providerProtocol="http", authType="none")]),
                      encoding="utf-8")
    assert import_osaurus(source, config_file) == [
        "imported 'LM Studio' as lm-studio/MODEL (openai, 0 secret(s) copied)"]


@pytest.mark.parametrize(("content", "message"), [
    (None, "no Osaurus provider file here (Osaurus keeps it in "
           "~/.osaurus/providers/remote.json)"),
    ("{not json", "not valid JSON: "),
    ('{"providers": {"a": 1}}', 'expected {"providers": [...]}'),
])
def test_a_bad_source_is_a_config_error_naming_it(tmp_path: Path, config_file: Path,
                                                  content: str | None, message: str) -> None:
    source = tmp_path / "remote.json"
    if content is not None:
        source.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        import_osaurus(source, config_file)
    assert str(caught.value).startswith(f"{source}: {message}")
    assert config_file.read_text(encoding="utf-8") == CONFIG_TEXT


# --- secrets through a real Secret Service -------------------------------------------------


@pytest.fixture
def names(secret_service: KeyringBackend) -> Iterator[tuple[str, str]]:
    """(Osaurus id, provider name) of this test alone; every entry deleted afterwards."""
    osaurus_id, name = str(uuid.uuid4()).upper(), unique_name("osaurus")
    yield osaurus_id, name
    forget(OSAURUS_SERVICE, f"{osaurus_id}.apiKey", f"{osaurus_id}.header.X-Org-Token",
           f"{osaurus_id}.header.X-Missing")
    forget(SERVICE, name, f"{name}:X-Org-Token", f"{name}:X-Missing")


@pytest.mark.keyring
def test_import_copies_the_osaurus_secrets(names: tuple[str, str], tmp_path: Path,
                                           config_file: Path) -> None:
    osaurus_id, name = names
    keyring.set_password(OSAURUS_SERVICE, f"{osaurus_id}.apiKey", "sk-osaurus-key")
    keyring.set_password(OSAURUS_SERVICE, f"{osaurus_id}.header.X-Org-Token", "org-osaurus")
    source = write_remote(tmp_path, [osaurus_entry(
        id=osaurus_id, name=name, host="api.anthropic.com", providerType="anthropic",
        secretHeaderKeys=["X-Org-Token", "X-Missing"])])
    assert import_osaurus(source, config_file) == [
        f"imported '{name}' as {name}/MODEL (anthropic, 2 secret(s) copied)"]
    assert keyring.get_password("mitmllm", name) == "sk-osaurus-key"
    assert keyring.get_password("mitmllm", f"{name}:X-Org-Token") == "org-osaurus"
    assert keyring.get_password("mitmllm", f"{name}:X-Missing") is None
    # Osaurus keeps its own copy.
    assert keyring.get_password(OSAURUS_SERVICE, f"{osaurus_id}.apiKey") == "sk-osaurus-key"
    text = config_file.read_text(encoding="utf-8")
    assert "sk-osaurus-key" not in text and "org-osaurus" not in text


@pytest.mark.keyring
def test_an_entry_without_secrets_copies_none(names: tuple[str, str], tmp_path: Path,
                                              config_file: Path) -> None:
    osaurus_id, name = names
    source = write_remote(tmp_path, [osaurus_entry(id=osaurus_id, name=name)])
    assert import_osaurus(source, config_file) == [
        f"imported '{name}' as {name}/MODEL (openai, 0 secret(s) copied)"]
    assert keyring.get_password("mitmllm", name) is None
