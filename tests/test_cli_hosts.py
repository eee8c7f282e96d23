"""`providers add/edit --host` given a URL (docs/architecture.md#command-line): it is split
into the fields protocol, host, port and base_path, unless another option says otherwise,
which is refused naming both. The reported case and the edits run as a user runs them, a
real `mitmllm` subprocess; the many variants call the same `main` in-process, to stay fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import BASE_CONFIG, Cli

from mitmllm.cli import main
from mitmllm.config.model import ProviderConfig


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = Cli(tmp_path)
    cli.write()
    return cli


def entry(cli: Cli, name: str) -> dict[str, object]:
    (found,) = [p for p in cli.data()["providers"] if p["name"] == name]
    assert isinstance(found, dict)
    return found


def test_the_reported_url_becomes_its_fields(cli: Cli) -> None:
    out = cli("providers", "add", "k", "--host", "http://127.0.0.1:24401/v1").ok().stdout
    assert out.splitlines()[0] == "Added provider 'k': openai at http://127.0.0.1:24401/v1"
    assert entry(cli, "k") == {"name": "k", "host": "127.0.0.1", "protocol": "http",
                               "port": 24401, "base_path": "/v1"}


@pytest.mark.parametrize(("args", "url"), [
    (["--host", "https://llm.corp.test/api/v1/"], "https://llm.corp.test/api/v1"),
    (["--host", "http://llm.corp.test"], "http://llm.corp.test/v1"),
    (["--host", "localhost:8000"], "https://localhost:8000/v1"),
    (["--host", "localhost:8000", "--protocol", "http"], "http://localhost:8000/v1"),
    (["--host", "http://[::1]:8000/v1"], "http://[::1]:8000/v1"),
    (["--host", "[::1]", "--protocol", "http", "--port", "8000"], "http://[::1]:8000/v1"),
    (["--host", "::1", "--protocol", "http"], "http://[::1]/v1"),
    # An option that agrees with the URL, or gives what it leaves out, is fine.
    (["--host", "http://h.test:8000/v1", "--port", "8000", "--base-path", "v1/"],
     "http://h.test:8000/v1"),
    (["--host", "https://h.test", "--port", "8443", "--base-path", "/api"],
     "https://h.test:8443/api"),
    # The URL beats the preset: ollama's example port 11434 is not https's.
    (["--preset", "ollama", "--host", "https://gpu.lan/v1"], "https://gpu.lan/v1"),
])
def test_a_url_or_host_port_fills_the_fields_it_names(cli: Cli, args: list[str],
                                                      url: str) -> None:
    assert main(["providers", "add", "p", *args, "--config", str(cli.config)]) == 0
    assert cli.provider("p").url("") == url


def test_an_ipv6_host_is_written_without_brackets(cli: Cli) -> None:
    cli("providers", "add", "v6", "--host", "[fd00::7]", "--protocol", "http").ok()
    assert entry(cli, "v6") == {"name": "v6", "host": "fd00::7", "protocol": "http"}


def test_edit_with_a_url_moves_the_provider(cli: Cli) -> None:
    cli("providers", "edit", "ollama", "--host", "https://gpu.lan:8443/api/v1").ok()
    assert cli.provider("ollama") == ProviderConfig(
        name="ollama", host="gpu.lan", preset="custom", protocol="https", port=8443,
        base_path="/api/v1", auth="none")
    cli("providers", "edit", "ollama", "--host", "http://box.lan").ok()
    assert cli.provider("ollama").url("") == "http://box.lan/api/v1"  # no path: kept


@pytest.mark.parametrize(("args", "reason"), [
    (["--host", "http://127.0.0.1:24401/v1", "--port", "9000"],
     "--host http://127.0.0.1:24401/v1 says port 24401, but --port says 9000: give only one "
     "of them"),
    (["--host", "http://h.test/v1", "--protocol", "https"],
     "--host http://h.test/v1 says protocol http, but --protocol says https"),
    (["--host", "h.test/v1", "--base-path", "/v2"],
     "--host h.test/v1 says base_path /v1, but --base-path says /v2"),
    (["--host", "ftp://h.test"], "--host ftp://h.test: the protocol is not http or https"),
    (["--host", "http://h.test:0"], "--host http://h.test:0: the port is not a number"),
    (["--host", "https://me:s3cr3t@h.test"], "--host https://***@h.test: a user name or "
                                             "password does not belong in the config"),
    (["--host", "a b"], "provider 'p': field 'host': expected a host name such as "
                        "api.example.com, got 'a b'; a host name has no spaces"),
])
def test_a_url_that_disagrees_or_cannot_be_split_is_one_line(
        cli: Cli, args: list[str], reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers", "add", "p", *args, "--config", str(cli.config)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err
    assert err.startswith("mitmllm: ") and reason in err and "s3cr3t" not in err
    assert cli.config.read_text(encoding="utf-8") == BASE_CONFIG


def test_a_url_written_into_the_file_is_named_by_every_command(cli: Cli) -> None:
    cli.write("providers:\n  - name: k\n    host: http://127.0.0.1:24401/v1\n")
    for args in (["providers", "list"], ["providers", "add", "x", "--host", "h"], ["models"]):
        cli(*args).one_line_error(
            f"{cli.config}: provider 'k': field 'host': expected a host name such as "
            "api.example.com, got 'http://127.0.0.1:24401/v1'; write protocol: http, host: "
            "127.0.0.1, port: 24401, base_path: /v1")
