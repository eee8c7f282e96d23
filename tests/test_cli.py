"""The `mitmllm` command line as a user runs it (docs/architecture.md#command-line): a real
subprocess with its own HOME and config dir, the keyring backend pinned to `null` (or `fail`,
a machine without a keychain) unless the test needs the private Secret Service of `./dev test`.

Every bad input exits non-zero with one line on stderr that says why; the config file is
rewritten atomically (mode 0600) and keeps its comments; secrets come from stdin, never argv,
and are never printed.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
import yaml
from support.cli import BASE_CONFIG, SECRET, Cli
from support.fake_provider import ProviderThread
from support.keyrings import (
    FAIL_BACKEND,
    NULL_BACKEND,
    forget,
    require_secret_service,
    unique_name,
)
from support.proxy import free_port

from mitmllm.config.model import ProviderConfig
from mitmllm.config.store import load_config


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def no_temp_files(path: Path) -> bool:
    """Nothing beside the file but its lock file (config/store.py: `lock_path`), which
    stays, empty, so that every edit locks the same file."""
    names = {p.name for p in path.parent.iterdir()}
    return names - {path.name + ".lock"} == {path.name}


def test_help(cli: Cli) -> None:
    top = cli("--help").ok().stdout
    for command in ("run", "web", "models", "providers"):
        assert command in top
    actions = cli("providers", "--help").ok().stdout
    for action in ("list", "add", "edit", "remove", "enable", "disable", "test", "set-key",
                   "import-osaurus"):
        assert action in actions
    add = cli("providers", "add", "--help").ok().stdout
    for option in ("--preset", "--host", "--protocol", "--port", "--base-path", "--format",
                   "--auth", "--timeout", "--header", "--secret-header", "--models",
                   "--disabled", "--no-auto-connect", "--config"):
        assert option in add
    assert "ollama" in add and "openrouter" in add  # the preset choices


def test_add_writes_each_provider_to_the_default_file(cli: Cli) -> None:
    added = cli("providers", "add", "openai", "--preset", "openai").ok().stdout
    assert added.splitlines() == [
        "Added provider 'openai': openai at https://api.openai.com/v1",
        "Store its key with: mitmllm providers set-key openai",
        "Its models route as openai/MODEL.",
    ]
    text = cli.config.read_text(encoding="utf-8")
    assert text.startswith("# mitmllm configuration.")  # the commented default
    assert private(cli.config) and no_temp_files(cli.config)
    assert cli.data()["providers"] == [{"name": "openai", "preset": "openai"}]

    added = cli("providers", "add", "ollama", "--preset", "ollama").ok().stdout
    assert added.splitlines() == ["Added provider 'ollama': openai at http://localhost:11434/v1",
                                  "Its models route as ollama/MODEL."]
    assert cli.data()["providers"][1] == {
        "name": "ollama", "host": "localhost", "preset": "custom", "protocol": "http",
        "port": 11434, "base_path": "/v1", "format": "openai", "auth": "none"}

    cli("providers", "add", "Team GW", "--host", "gw.internal", "--protocol", "http",
        "--port", "8080", "--base-path", "api/v2", "--format", "responses", "--auth",
        "api_key", "--timeout", "30", "--header", "X-Team:blue", "--header", "X-Env: prod",
        "--secret-header", "X-Org-Token", "--secret-header", "X-Org-Token", "--models", "a,b",
        "--models", "c-*", "--max-tokens-default", "1024", "--disabled",
        "--no-auto-connect").ok()
    team = cli.provider("team-gw")
    assert team == ProviderConfig(
        name="Team GW", host="gw.internal", preset="custom", protocol="http", port=8080,
        base_path="/api/v2", format="responses", auth="api_key", enabled=False,
        auto_connect=False, timeout=30.0, headers=(("X-Team", "blue"), ("X-Env", "prod")),
        secret_headers=("X-Org-Token",), models=("a", "b", "c-*"), max_tokens_default=1024)
    raw = cli.data()["providers"][2]
    assert (raw["enabled"], raw["auto_connect"]) == (False, False)

    # A provider named after a preset takes it: nothing else needs saying.
    routed = cli("providers", "add", "anthropic").ok().stdout
    assert "anthropic at https://api.anthropic.com/v1" in routed
    assert cli.data()["providers"][3] == {"name": "anthropic"}
    assert cli.provider("anthropic").format == "anthropic"

    text = cli.config.read_text(encoding="utf-8")
    for comment in ("# mitmllm configuration.", "# Secrets never go here",
                    "# folders holding MLX models"):
        assert comment in text
    assert private(cli.config) and no_temp_files(cli.config)


def test_config_option_beats_the_variable_which_beats_the_user_dir(cli: Cli,
                                                                    tmp_path: Path) -> None:
    from_env, from_option = tmp_path / "env.yaml", tmp_path / "option.yaml"
    env = {"MITMLLM_CONFIG": str(from_env)}
    cli("providers", "add", "a", "--host", "a.test", env=env).ok()
    cli("providers", "add", "b", "--host", "b.test", "--config", str(from_option), env=env).ok()
    assert [p.name for p in load_config(from_env).providers] == ["a"]
    assert [p.name for p in load_config(from_option).providers] == ["b"]
    assert not cli.config.exists()
    assert private(from_env) and private(from_option)


def test_list_shows_state_url_and_where_the_key_comes_from(cli: Cli) -> None:
    empty = cli("providers", "list").ok().stdout
    assert empty.startswith(f"No providers in {cli.config}.")
    cli.write(BASE_CONFIG.replace("  - name: ollama\n",
                                  "  - name: anthropic\n    enabled: false\n  - name: ollama\n"))
    listing = cli("providers", "list", env={"MITMLLM_KEY_OPENAI": SECRET}).ok().stdout
    rows = [line.split() for line in listing.splitlines()]
    assert rows == [
        ["NAME", "STATE", "FORMAT", "URL", "KEY"],
        ["openai", "enabled", "openai", "https://api.openai.com/v1", "MITMLLM_KEY_OPENAI"],
        ["anthropic", "disabled", "anthropic", "https://api.anthropic.com/v1", "MISSING"],
        ["ollama", "enabled", "openai", "http://localhost:11434/v1", "none", "needed"],
    ]
    assert SECRET not in listing
    preset_variable = cli("providers", "list", env={"OPENAI_API_KEY": SECRET}).ok().stdout
    assert preset_variable.splitlines()[1].split()[-1] == "OPENAI_API_KEY"


def test_edit_enable_and_disable_rewrite_the_file_keeping_comments(cli: Cli,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(BASE_CONFIG, encoding="utf-8")
    path.chmod(0o644)
    config = ("--config", str(path))

    out = cli("providers", "edit", "OLLAMA", "--port", "11435", "--header", "X-A:1",
              "--models", "m1,m2", "--secret-header", "X-S", *config).ok().stdout
    assert out.strip() == "Updated provider 'ollama': openai at http://localhost:11435/v1"
    ollama = load_config(path).provider("ollama")
    assert ollama is not None
    assert (ollama.port, ollama.headers, ollama.models, ollama.secret_headers) == (
        11435, (("X-A", "1"),), ("m1", "m2"), ("X-S",))
    assert private(path) and no_temp_files(path)

    cli("providers", "edit", "ollama", "--remove-header", "X-A", "--clear-models",
        "--remove-secret-header", "X-S", "--auth", "api_key", *config).ok()
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["providers"][1]
    assert not {"headers", "models", "secret_headers"} & set(raw)
    assert raw["auth"] == "api_key"

    assert cli("providers", "disable", "openai", *config).ok().stdout.strip() == (
        "Provider 'openai' disabled.")
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["providers"][0]["enabled"] is False
    edited = cli("providers", "edit", "openai", "--timeout", "5", *config).ok().stdout
    assert edited.strip().endswith("(disabled)")
    assert cli("providers", "enable", "OpenAI", *config).ok().stdout.strip() == (
        "Provider 'openai' enabled.")
    openai = load_config(path).provider("openai")
    assert openai is not None and openai.enabled and openai.timeout == 5.0

    text = path.read_text(encoding="utf-8")
    for comment in ("# Written by hand; keep this comment.", "# the usual port",
                    "# billed to me"):
        assert comment in text
    assert private(path) and no_temp_files(path)


def test_remove_deletes_the_provider_and_keeps_the_rest(cli: Cli) -> None:
    cli.write()
    out = cli("providers", "remove", "Ollama", backend=FAIL_BACKEND).ok().stdout
    assert out.strip() == "Removed provider 'ollama'."
    assert [p["name"] for p in cli.data()["providers"]] == ["openai"]
    text = cli.config.read_text(encoding="utf-8")
    assert "# Written by hand; keep this comment." in text and "# billed to me" in text
    assert private(cli.config)


BAD_INPUTS: list[tuple[list[str], str, str]] = [
    (["providers", "edit", "nope", "--port", "1"], "",
     "no provider named 'nope' (known: openai, ollama)"),
    (["providers", "remove", "nope"], "", "no provider named 'nope' (known: openai, ollama)"),
    (["providers", "disable", "nope"], "", "no provider named 'nope'"),
    (["providers", "set-key", "nope"], SECRET, "no provider named 'nope'"),
    (["providers", "add", "OpenAI", "--preset", "openai"], "",
     "a provider named 'openai' already exists"),
    (["providers", "add", "x", "--host", "h", "--port", "70000"], "",
     "provider 'x': field 'port': expected an integer from 1 to 65535, got 70000"),
    (["providers", "add", "x", "--host", "h", "--header", "nocolon"], "",
     "--header expects NAME:VALUE"),  # not echoed: it may be a secret
    (["providers", "add", "x", "--host", "h", "--header", ":value"], "",
     "--header expects NAME:VALUE"),
    (["providers", "add", "x", "--host", "h", "--header", "Bad Name:v"], "",
     "field 'headers': 'Bad Name' is not a valid header name"),
    (["providers", "add", "x", "--host", "h", "--secret-header", "a b"], "",
     "field 'secret_headers'"),
    (["providers", "add", "x", "--host", "h", "--timeout", "-1"], "", "field 'timeout'"),
    (["providers", "add", "x"], "", "field 'host': required for a custom provider"),
    (["providers", "add", "Local", "--host", "h"], "", "'local' is reserved"),
    (["providers", "edit", "ollama"], "", "nothing to change"),
    (["providers", "edit", "ollama", "--port", "99999"], "", "field 'port'"),
    (["providers", "edit", "ollama", "--header", "oops"], "", "--header expects NAME:VALUE"),
    (["providers", "set-key", "ollama", "--header", "X-Nope"], SECRET,
     "'X-Nope' is not a secret header of 'ollama'"),
    (["providers", "set-key", "openai"], "", "no secret given"),
    (["providers", "set-key", "openai"], f"{SECRET}\nsecond line\n", "several lines"),
    (["providers", "import-osaurus", "/nonexistent/remote.json"], "",
     "no Osaurus provider file here"),
]


@pytest.mark.parametrize(("args", "stdin", "reason"), BAD_INPUTS,
                         ids=[" ".join(case[0][1:]) + f"<{len(case[1])}" for case in BAD_INPUTS])
def test_bad_input_is_one_line_and_changes_nothing(cli: Cli, args: list[str], stdin: str,
                                                   reason: str) -> None:
    cli.write()
    result = cli(*args, stdin=stdin)
    assert SECRET not in result.one_line_error(reason)
    assert result.stdout == ""
    assert cli.config.read_text(encoding="utf-8") == BASE_CONFIG
    assert no_temp_files(cli.config)


INVALID_FILES = [
    ("providers:\n  - name: openai\n    timeout: -1\n", "provider 'openai': field 'timeout'"),
    ("listen:\n  host: 0.0.0.0\n", "field 'listen.token': required"),
    ("providers:\n  - name: openai\n   host: x\n", "line 3, column 4: invalid YAML"),
]
EVERY_COMMAND = [
    ["providers", "list"],
    ["providers", "add", "x", "--host", "h"],
    ["providers", "edit", "openai", "--timeout", "5"],
    ["providers", "remove", "openai"],
    ["providers", "disable", "openai"],
    ["providers", "enable", "openai"],
    ["providers", "set-key", "openai"],
    ["providers", "test", "openai"],
    ["models"],
]


def assert_refused_on_disk(cli: Cli, args: list[str], text: str, reason: str) -> None:
    line = cli(*args, stdin=SECRET).one_line_error(reason)
    assert line.startswith(f"mitmllm: {cli.config}: "), line
    assert cli.config.read_text(encoding="utf-8") == text


def test_an_invalid_file_on_disk_is_reported_by_every_command(cli: Cli) -> None:
    text = "providers:\n  - name: openai\n    colour: blue\n"
    cli.write(text)
    for args in EVERY_COMMAND:
        assert_refused_on_disk(cli, args, text, "provider 'openai': field 'colour': unknown "
                               "field")


@pytest.mark.parametrize(("text", "reason"), INVALID_FILES,
                         ids=["bad-value", "no-token", "bad-yaml"])
def test_an_invalid_file_on_disk_is_never_edited(cli: Cli, text: str, reason: str) -> None:
    cli.write(text)
    for args in EVERY_COMMAND[:2]:
        assert_refused_on_disk(cli, args, text, reason)


@pytest.mark.parametrize("args", [
    ["providers", "add", "x", "--host", "h", "--port", "abc"],
    ["providers", "add", "x", "--host", "h", "--format", "gemini"],
    ["providers", "add", "x", "--preset", "ollama2"],
], ids=["port-abc", "format", "preset"])
def test_a_malformed_option_is_one_line_too(cli: Cli, args: list[str]) -> None:
    cli.write()
    cli(*args).one_line_error("argument --")


@pytest.mark.parametrize("where", ["directory", "under-a-file"])
def test_an_unusable_config_path_is_one_line(cli: Cli, tmp_path: Path, where: str) -> None:
    blocker = tmp_path / "blocker"
    if where == "directory":
        blocker.mkdir()
        path = blocker
    else:
        blocker.write_text("not a folder\n", encoding="utf-8")
        path = blocker / "config.yaml"
    cli("providers", "add", "x", "--host", "h", "--config", str(path)).one_line_error(
        str(path), code=1)


def test_set_key_without_a_keychain_fails_cleanly(cli: Cli) -> None:
    cli.write()
    result = cli("providers", "set-key", "openai", stdin=SECRET + "\n", backend=FAIL_BACKEND)
    line = result.one_line_error("no system keychain is available", "MITMLLM_KEY_", code=1)
    assert SECRET not in line and SECRET not in result.stdout


def test_set_key_never_takes_the_secret_from_argv(cli: Cli) -> None:
    cli.write()
    result = cli("providers", "set-key", "openai", SECRET)
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr
    assert "Stored" not in result.stdout


def test_set_key_with_the_null_backend_fails_cleanly(cli: Cli) -> None:
    cli.write()
    result = cli("providers", "set-key", "openai", stdin=SECRET + "\n", backend=NULL_BACKEND)
    assert SECRET not in result.one_line_error("keychain", code=1)


def test_remove_with_the_null_backend_claims_no_keychain_entry(cli: Cli) -> None:
    cli.write()
    out = cli("providers", "remove", "openai", backend=NULL_BACKEND).ok().stdout
    assert out.strip() == "Removed provider 'openai'."


@pytest.fixture
def keychain_name() -> Iterator[str]:
    require_secret_service()
    name = unique_name("cli")
    yield name
    forget("mitmllm", name, f"{name}:X-Org-Token")


@pytest.mark.keyring
def test_set_key_and_remove_through_the_keychain(cli: Cli, keychain_name: str) -> None:
    name = keychain_name
    real = Cli(cli.root, backend=None)
    real("providers", "add", name, "--preset", "openai", "--secret-header", "X-Org-Token").ok()

    stored = real("providers", "set-key", name, stdin=SECRET + "\n").ok()
    assert stored.stdout.splitlines()[0] == (f"Stored the API key of '{name}' in the keychain "
                                             f"(service mitmllm, account {name}).")
    real("providers", "set-key", name, "--header", "X-Org-Token", stdin="org-123").ok()
    assert keyring.get_password("mitmllm", name) == SECRET
    assert keyring.get_password("mitmllm", f"{name}:X-Org-Token") == "org-123"
    listing = real("providers", "list", env={"OPENAI_API_KEY": "sk-env"}).ok().stdout
    assert listing.splitlines()[1].split()[-1] == "keychain"
    for result in (stored, real("providers", "list")):
        assert SECRET not in result.stdout + result.stderr
    assert SECRET not in cli.config.read_text(encoding="utf-8")

    real("providers", "edit", name, "--remove-secret-header", "X-Org-Token").ok()
    assert keyring.get_password("mitmllm", f"{name}:X-Org-Token") is None
    removed = real("providers", "remove", name).ok().stdout
    assert removed.strip() == f"Removed provider '{name}' and 1 keychain entry."
    assert keyring.get_password("mitmllm", name) is None
    assert cli.data()["providers"] == []


PROBE_CONFIG = """\
providers:
  - {{name: Fake Local, host: 127.0.0.1, protocol: http, port: {port}, auth: api_key}}
  - {{name: closed, host: 127.0.0.1, protocol: http, port: {closed}, auth: none, timeout: 5}}
  - {{name: needs-key, host: 127.0.0.1, protocol: http, port: {port}, auth: api_key}}
local:
  enabled: false
"""


def test_providers_test_connects_and_lists_models(cli: Cli) -> None:
    closed = free_port()
    with ProviderThread() as provider:
        provider.models = ["m1", "m2"]
        cli.write(PROBE_CONFIG.format(port=provider.port, closed=closed))
        env = {"MITMLLM_KEY_FAKE_LOCAL": SECRET}
        result = cli("providers", "test", "fake local", env=env).ok()
        assert result.stdout.splitlines() == [
            f"Fake Local: connected (http://127.0.0.1:{provider.port}/v1)",
            "  fake-local/m1",
            "  fake-local/m2",
        ]
        (request,) = provider.requests_to("/models")
        assert request.headers["authorization"] == f"Bearer {SECRET}"
        assert SECRET not in result.stdout + result.stderr

        models = cli("models", env=env)
        assert models.returncode == 0, models
        assert "fake-local/m1\tFake Local" in models.stdout.splitlines()
        # `models` probes every enabled provider and says why the others gave nothing.
        assert "# closed: error: cannot connect to" in models.stderr
        assert "# needs-key: error: no API key for provider 'needs-key'" in models.stderr
        assert SECRET not in models.stdout + models.stderr

    down = cli("providers", "test", "closed")
    assert down.returncode == 1
    lines = down.stdout.splitlines()
    assert lines[0] == f"closed: error (http://127.0.0.1:{closed}/v1)"
    assert lines[1].startswith(f"  error: cannot connect to http://127.0.0.1:{closed}: ")
    assert "Connect call failed" in lines[1] or "refused" in lines[1].lower()
    assert "Traceback" not in down.stderr


def test_import_osaurus_reports_each_provider(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "remote.json"
    source.write_text(json.dumps({"providers": [
        {"id": "A1", "name": "Osaurus Ollama", "host": "localhost:11434",
         "providerProtocol": "http", "basePath": "/v1", "authType": "none",
         "providerType": "openai"},
        {"id": "B2", "name": "openai", "host": "api.openai.com", "authType": "apiKey"},
    ]}), encoding="utf-8")
    cli.write()
    out = cli("providers", "import-osaurus", str(source), backend=FAIL_BACKEND).ok().stdout
    assert out.splitlines() == [
        "imported 'Osaurus Ollama' as osaurus-ollama/MODEL (openai, 0 secret(s) copied)",
        "skipped 'openai': a provider of that name exists",
    ]
    assert cli.provider("osaurus-ollama").url("/models") == "http://localhost:11434/v1/models"
    assert "# Written by hand; keep this comment." in cli.config.read_text(encoding="utf-8")


def test_hosted_tools_is_set_by_add_and_edit(cli: Cli) -> None:
    cli("providers", "add", "corp", "--preset", "custom", "--host", "llm.corp.test",
        "--hosted-tools", "refuse").ok()
    assert cli.data()["providers"][0]["hosted_tools"] == "refuse"
    assert cli.provider("corp").hosted_tools == "refuse"
    cli("providers", "edit", "corp", "--hosted-tools", "drop").ok()
    assert cli.provider("corp").hosted_tools == "drop"
    assert "--hosted-tools" in cli("providers", "add", "--help").ok().stdout


def test_the_default_files_example_comment_stays_after_the_list(cli: Cli) -> None:
    from mitmllm.config.store import DEFAULT_CONFIG_TEXT

    example = DEFAULT_CONFIG_TEXT[DEFAULT_CONFIG_TEXT.index("# Example"):
                                  DEFAULT_CONFIG_TEXT.index("local:")]

    def example_before_local() -> str:
        text = cli.config.read_text(encoding="utf-8")
        assert example + "local:\n" in text, text
        return text

    cli("providers", "add", "team", "--host", "team.test", "--header", "X-Team:blue").ok()
    assert "      X-Team: blue\n" + example in example_before_local()
    cli("providers", "add", "lab", "--host", "lab.test", "--models", "a,b").ok()
    assert "      - b\n" + example in example_before_local()
    cli("providers", "edit", "lab", "--header", "X-Lab:1", "--secret-header", "X-Org").ok()
    cli("providers", "edit", "team", "--models", "c").ok()
    example_before_local()
    cli("providers", "remove", "lab", backend=FAIL_BACKEND).ok()
    cli("providers", "remove", "team", backend=FAIL_BACKEND).ok()
    assert cli.config.read_text(encoding="utf-8") == DEFAULT_CONFIG_TEXT


@pytest.mark.parametrize("header", ["Authorization:Bearer sk-plain-0001", "x-api-key:sk-plain-0001",
                                    "X-Org-Token:sk-plain-0001"])
def test_a_secret_in_a_plain_header_is_refused_with_the_right_commands(cli: Cli,
                                                                       header: str) -> None:
    cli.write()
    before = cli.config.read_text()
    result = cli("providers", "add", "corp", "--preset", "custom", "--host", "llm.corp.example",
                 "--header", header)
    line = result.one_line_error("carries a secret", "--secret-header",
                                 "providers set-key corp --header")
    assert "sk-plain-0001" not in line
    assert cli.config.read_text() == before


def test_a_plain_header_is_still_a_plain_header(cli: Cli) -> None:
    cli.write()
    cli("providers", "add", "corp", "--preset", "custom", "--host", "llm.corp.example",
        "--header", "X-Team:blue").ok()
    assert cli.provider("corp").headers == (("X-Team", "blue"),)
