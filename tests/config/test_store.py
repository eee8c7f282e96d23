"""Where the config file lives, and rewriting it safely (docs/architecture.md#configuration:
the CLI rewrites the file atomically and keeps its comments)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

from mitmllm.config.model import GatewayConfig
from mitmllm.config.schema import ConfigError
from mitmllm.config.store import (
    DEFAULT_CONFIG_TEXT,
    ConfigDocument,
    config_path,
    editing,
    ensure_config_file,
    load_config,
    user_config_dir,
    write_atomic,
)

USER_FILE = """\
# My gateway. Keep this comment.
listen:
  port: 1400   # not the default port
  host: 127.0.0.1
providers:
  # The work account.
  - name: Work OpenAI
    preset: openai   # billed to the team
    timeout: 30
  # Models on my laptop.
  - name: ollama
    host: localhost
    protocol: http
    port: 11434
    auth: none
local:
  enabled: false   # no MLX here
"""
USER_COMMENTS = ["# My gateway. Keep this comment.", "# not the default port",
                 "# The work account.", "# billed to the team", "# Models on my laptop.",
                 "# no MLX here"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def folder_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(USER_FILE, encoding="utf-8")
    return path


def test_config_path_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("MITMLLM_CONFIG", str(tmp_path / "from-env.yaml"))
    explicit = tmp_path / "explicit.yaml"
    assert config_path(explicit) == explicit
    assert config_path(str(explicit)) == explicit
    assert config_path(None) == tmp_path / "from-env.yaml"
    monkeypatch.delenv("MITMLLM_CONFIG")
    if sys.platform.startswith("linux"):
        assert config_path(None) == tmp_path / "xdg" / "mitmllm" / "config.yaml"


def test_config_paths_expand_the_home_folder(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MITMLLM_CONFIG", "~/env.yaml")
    assert config_path("~/cli.yaml") == tmp_path / "cli.yaml"
    assert config_path() == tmp_path / "env.yaml"


def test_an_empty_mitmllm_config_variable_is_ignored(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("MITMLLM_CONFIG", "")
    assert config_path() == user_config_dir() / "config.yaml"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG layout is Linux's")
def test_without_xdg_config_home_the_file_is_under_dot_config(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.delenv("MITMLLM_CONFIG", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path() == tmp_path / ".config" / "mitmllm" / "config.yaml"


def test_write_atomic_creates_a_private_file_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "config.yaml"
    old_umask = os.umask(0)
    try:
        write_atomic(path, "providers: []\n")
    finally:
        os.umask(old_umask)
    assert path.read_text(encoding="utf-8") == "providers: []\n"
    assert mode(path) == 0o600
    assert folder_names(path.parent) == ["config.yaml"]


def test_write_atomic_replaces_a_readable_file_with_a_private_one(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("old\n", encoding="utf-8")
    path.chmod(0o644)
    write_atomic(path, "new\n")
    assert (path.read_text(encoding="utf-8"), mode(path)) == ("new\n", 0o600)
    assert folder_names(tmp_path) == ["config.yaml"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("old: content\n", encoding="utf-8")
    with pytest.raises(TypeError):
        write_atomic(path, None)  # type: ignore[arg-type]  # fails halfway, after mkstemp
    assert path.read_text(encoding="utf-8") == "old: content\n"
    assert folder_names(tmp_path) == ["config.yaml"]


def test_ensure_config_file_creates_the_commented_default_once(tmp_path: Path) -> None:
    path = tmp_path / "mitmllm" / "config.yaml"
    assert ensure_config_file(path) is True
    text = path.read_text(encoding="utf-8")
    assert text == DEFAULT_CONFIG_TEXT
    assert text.startswith("# mitmllm configuration.")
    assert "Secrets never go here" in text
    assert mode(path) == 0o600
    assert load_config(path) == GatewayConfig(path=path)
    path.write_text("listen:\n  port: 1400\n", encoding="utf-8")
    assert ensure_config_file(path) is False
    assert load_config(path).listen.port == 1400


def test_an_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)  # a directory
    assert str(caught.value) == f"{tmp_path}: cannot read: Is a directory"


def test_adding_keeps_comments_and_order(user_file: Path) -> None:
    document = ConfigDocument(user_file)
    document.add_provider({"name": "xai", "preset": "xai", "models": ["grok-*"],
                           "headers": {"X-Team": "blue"}, "secret_headers": ["X-Org"]})
    config = document.save()
    text = user_file.read_text(encoding="utf-8")
    assert text.startswith(USER_FILE.split("local:")[0])  # everything before: untouched
    for comment in USER_COMMENTS:
        assert comment in text
    data = yaml.safe_load(text)
    assert list(data) == ["listen", "providers", "local"]
    assert list(data["listen"]) == ["port", "host"]
    assert data["providers"][2] == {"name": "xai", "preset": "xai",
                                    "headers": {"X-Team": "blue"}, "secret_headers": ["X-Org"],
                                    "models": ["grok-*"]}
    assert list(data["providers"][2]) == ["name", "preset", "headers", "secret_headers",
                                          "models"]
    assert [p.name for p in config.providers] == ["Work OpenAI", "ollama", "xai"]
    assert mode(user_file) == 0o600


def test_updating_changes_values_in_place_and_keeps_comments(user_file: Path) -> None:
    document = ConfigDocument(user_file)
    assert document.update_provider("work-openai", {"timeout": 90}) == "Work OpenAI"
    assert document.update_provider("OLLAMA", {"auth": None, "port": 11435}) == "ollama"
    document.save()
    text = user_file.read_text(encoding="utf-8")
    assert "    preset: openai   # billed to the team\n    timeout: 90\n" in text
    assert "    port: 11435\n" in text
    assert "auth:" not in text
    for comment in USER_COMMENTS:
        assert comment in text
    config = load_config(user_file)
    assert [(p.name, p.timeout, p.port) for p in config.providers] == [
        ("Work OpenAI", 90.0, 443), ("ollama", 60.0, 11435)]
    assert config.providers[1].auth == "none"  # the custom preset's default


def test_removing_keeps_the_other_providers_and_comments(user_file: Path) -> None:
    document = ConfigDocument(user_file)
    assert document.remove_provider("Ollama") == "ollama"
    document.save()
    text = user_file.read_text(encoding="utf-8")
    assert [p.name for p in load_config(user_file).providers] == ["Work OpenAI"]
    for comment in ["# My gateway. Keep this comment.", "# not the default port",
                    "# The work account.", "# billed to the team", "# no MLX here"]:
        assert comment in text
    assert load_config(user_file).listen.port == 1400


def test_the_default_file_is_written_when_the_first_provider_is_added(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.yaml"
    document = ConfigDocument(path)
    document.add_provider({"name": "ollama", "preset": "custom", "host": "localhost",
                           "protocol": "http", "port": 11434, "auth": "none"})
    document.save()
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# mitmllm configuration.")
    assert "# Secrets never go here" in text
    assert "# folders holding MLX models" in text
    assert [p.url("/models") for p in load_config(path).providers] == [
        "http://localhost:11434/v1/models"]
    assert mode(path) == 0o600


def test_unknown_names_are_refused_with_the_known_ones(user_file: Path) -> None:
    document = ConfigDocument(user_file)
    for edit in (lambda: document.update_provider("nope", {"timeout": 1}),
                 lambda: document.remove_provider("nope")):
        with pytest.raises(ConfigError) as caught:
            edit()
        assert str(caught.value) == (f"{user_file}: no provider named 'nope' (known: "
                                     "Work OpenAI, ollama)")


def test_save_refuses_an_invalid_document_and_keeps_the_file(user_file: Path) -> None:
    document = ConfigDocument(user_file)
    document.data["listen"]["port"] = 0
    with pytest.raises(ConfigError) as caught:
        document.save()
    assert "field 'listen.port'" in str(caught.value)
    assert user_file.read_text(encoding="utf-8") == USER_FILE
    assert folder_names(user_file.parent) == ["config.yaml"]


def test_an_invalid_provider_is_refused_before_anything_is_written(user_file: Path) -> None:
    document = ConfigDocument(user_file)
    with pytest.raises(ConfigError) as caught:
        document.add_provider({"name": "bad", "host": "h", "port": 70000})
    assert str(caught.value).startswith(f"{user_file}: provider 'bad': field 'port': ")
    with pytest.raises(ConfigError):
        document.update_provider("ollama", {"protocol": "ftp"})
    assert user_file.read_text(encoding="utf-8") == USER_FILE


def test_a_file_that_is_already_invalid_is_not_edited(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    broken = "providers:\n  - name: a\n    host: h\n    colour: blue\n"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        ConfigDocument(path)
    assert "field 'colour': unknown field" in str(caught.value)
    path.write_text("providers: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        ConfigDocument(path)
    assert "invalid YAML" in str(caught.value)


def test_editing_saves_only_when_the_block_succeeds(user_file: Path) -> None:
    with editing(user_file) as document:
        document.update_provider("ollama", {"enabled": False})
    assert load_config(user_file).provider("ollama").enabled is False  # type: ignore[union-attr]
    before = user_file.read_text(encoding="utf-8")
    with pytest.raises(RuntimeError), editing(user_file) as document:
        document.remove_provider("ollama")
        raise RuntimeError("interrupted")
    assert user_file.read_text(encoding="utf-8") == before


def test_the_last_provider_can_be_removed_below_a_comment(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("providers:\n  # my providers\n  - name: a\n    host: h\n"
                    "local:\n  enabled: true\n", encoding="utf-8")
    document = ConfigDocument(path)
    document.remove_provider("a")
    config = document.save()
    assert config.providers == ()
    assert "# my providers" in path.read_text(encoding="utf-8")


def test_a_new_field_goes_above_the_next_providers_comment(user_file: Path) -> None:
    document = ConfigDocument(user_file)
    document.update_provider("Work OpenAI", {"port": 8443})
    document.save()
    text = user_file.read_text(encoding="utf-8")
    assert "  # Models on my laptop.\n  - name: ollama\n" in text


def test_removing_a_provider_keeps_the_next_providers_comment(user_file: Path) -> None:
    document = ConfigDocument(user_file)
    document.remove_provider("Work OpenAI")
    document.save()
    assert "# Models on my laptop." in user_file.read_text(encoding="utf-8")


def test_every_provider_field_has_a_place_in_the_write_order() -> None:
    from mitmllm.config.schema import PROVIDER_FIELDS
    from mitmllm.config.store import WRITE_ORDER

    assert sorted(WRITE_ORDER) == sorted(PROVIDER_FIELDS)


def test_edits_keep_null_and_write_fields_in_reading_order(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    document = ConfigDocument(path)  # no file yet: the commented default
    document.add_provider({"name": "lab", "host": "localhost", "preset": "custom",
                           "port": 8000, "protocol": "http"})
    document.save()
    text = path.read_text(encoding="utf-8")
    assert "token: null" in text
    entry = text[text.index("- name: lab"):]
    assert entry.index("preset: custom") < entry.index("host: localhost") \
        < entry.index("protocol: http") < entry.index("port: 8000")
