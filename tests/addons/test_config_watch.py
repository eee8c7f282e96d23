"""ConfigWatcher: the `mitmllm_config` option loads and publishes the YAML file; `check()`
reloads it when it changes and keeps the last good config when an edit is invalid."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from mitmllm.addons.config_watch import ConfigWatcher
from mitmllm.addons.state import Gateway

GOOD = """\
listen: {host: 127.0.0.1, port: 1444}
providers:
  - name: ollama
    preset: custom
    host: localhost
    protocol: http
    port: 11434
"""

GOOD_TWO = GOOD + """\
  - name: lmstudio
    preset: custom
    host: localhost
    protocol: http
    port: 1234
"""

BAD_PORT = """\
providers:
  - name: ollama
    preset: custom
    host: localhost
    port: not-a-port
"""


def write(path: Path, text: str, mtime_ns: int) -> None:
    """Write and give the file a distinct mtime, so the change is seen on any filesystem."""
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))


def names(gateway: Gateway) -> list[str]:
    return [p.name for p in gateway.config.providers]


def test_option_loads_and_publishes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    write(path, GOOD, 1_000_000_000_000)
    gateway = Gateway()
    published: list[list[str]] = []
    gateway.on_config(lambda old, new: published.append([p.name for p in new.providers]))
    watcher = ConfigWatcher(gateway)
    with taddons.context(watcher) as tctx:
        tctx.configure(watcher, mitmllm_config=str(path))
    assert names(gateway) == ["ollama"]
    assert gateway.config.listen.port == 1444
    assert gateway.config.providers[0].url("/models") == "http://localhost:11434/v1/models"
    assert published == [["ollama"]]
    assert watcher.path == path


def test_invalid_file_at_configure_is_an_options_error_naming_file_and_field(
        tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    write(path, BAD_PORT, 1_000_000_000_000)
    gateway = Gateway()
    watcher = ConfigWatcher(gateway)
    with taddons.context(watcher) as tctx:
        with pytest.raises(exceptions.OptionsError) as raised:
            tctx.configure(watcher, mitmllm_config=str(path))
    message = str(raised.value)
    assert str(path) in message
    assert "ollama" in message
    assert "port" in message
    assert names(gateway) == []  # nothing was published


def test_invalid_yaml_at_configure_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    write(path, "providers: [\n  - name: x\n", 1_000_000_000_000)
    watcher = ConfigWatcher(Gateway())
    with taddons.context(watcher) as tctx:
        with pytest.raises(exceptions.OptionsError, match="line") as raised:
            tctx.configure(watcher, mitmllm_config=str(path))
    assert str(path) in str(raised.value)


def test_check_reloads_on_change_keeps_last_good_and_is_noop_when_unchanged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "config.yaml"
    write(path, GOOD, 1_000_000_000_000)
    gateway = Gateway()
    publications: list[list[str]] = []
    gateway.on_config(lambda old, new: publications.append([p.name for p in new.providers]))
    watcher = ConfigWatcher(gateway)
    with taddons.context(watcher) as tctx:
        tctx.configure(watcher, mitmllm_config=str(path))
        assert publications == [["ollama"]]

        assert watcher.check() is False  # unchanged: nothing published
        assert publications == [["ollama"]]

        write(path, GOOD_TWO, 2_000_000_000_000)
        assert watcher.check() is True
        assert names(gateway) == ["ollama", "lmstudio"]
        assert publications[-1] == ["ollama", "lmstudio"]

        caplog.set_level(logging.ERROR, logger="mitmllm.addons.config_watch")
        write(path, BAD_PORT, 3_000_000_000_000)
        assert watcher.check() is False
        assert names(gateway) == ["ollama", "lmstudio"]  # the last good config stays
        assert len(publications) == 2
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert "port" in errors[0].getMessage()
        assert str(path) in errors[0].getMessage()

        assert watcher.check() is False  # the invalid file, unchanged: not logged again
        assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1

        write(path, GOOD, 4_000_000_000_000)
        assert watcher.check() is True
        assert names(gateway) == ["ollama"]


def test_check_before_configure_does_nothing() -> None:
    gateway = Gateway()
    assert ConfigWatcher(gateway).check() is False
    assert names(gateway) == []


def test_environment_variable_is_the_default_path(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "from-env.yaml"
    write(path, GOOD, 1_000_000_000_000)
    monkeypatch.setenv("MITMLLM_CONFIG", str(path))
    gateway = Gateway()
    watcher = ConfigWatcher(gateway)
    with taddons.context(watcher) as tctx:
        tctx.configure(watcher)
    assert watcher.path == path
    assert names(gateway) == ["ollama"]


async def test_running_polls_the_file_and_done_stops(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    write(path, GOOD, 1_000_000_000_000)
    gateway = Gateway()
    watcher = ConfigWatcher(gateway, poll_seconds=0.01)
    with taddons.context(watcher) as tctx:
        tctx.configure(watcher, mitmllm_config=str(path))
        watcher.running()
        try:
            write(path, GOOD_TWO, 2_000_000_000_000)
            for _ in range(200):
                if names(gateway) == ["ollama", "lmstudio"]:
                    break
                await asyncio.sleep(0.01)
            assert names(gateway) == ["ollama", "lmstudio"]
        finally:
            watcher.done()
        write(path, GOOD, 3_000_000_000_000)
        await asyncio.sleep(0.05)
        assert names(gateway) == ["ollama", "lmstudio"]  # stopped: no more reloads


def test_other_options_do_not_reload_and_a_new_path_does(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    write(first, GOOD, 1_000_000_000_000)
    write(second, GOOD_TWO, 1_000_000_000_000)
    gateway = Gateway()
    publications: list[int] = []
    gateway.on_config(lambda old, new: publications.append(len(new.providers)))
    watcher = ConfigWatcher(gateway)
    with taddons.context(watcher) as tctx:
        tctx.configure(watcher, mitmllm_config=str(first))
        tctx.configure(watcher, showhost=True)
        assert publications == [1]
        tctx.configure(watcher, mitmllm_config=str(second))
        assert publications == [1, 2]
        assert watcher.path == second


@contextmanager
def started(tmp_path: Path, text: str) -> Iterator[tuple[ConfigWatcher, Gateway, Path]]:
    path = tmp_path / "config.yaml"
    write(path, text, 1_000_000_000_000)
    gateway = Gateway()
    watcher = ConfigWatcher(gateway)
    with taddons.context(watcher) as tctx:
        tctx.configure(watcher, mitmllm_config=str(path))
        yield watcher, gateway, path


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n",
                                  "listen: {host: 127.0.0.1, port: 1444}\n"])
def test_an_empty_or_truncated_file_keeps_the_providers(tmp_path: Path, text: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    with started(tmp_path, GOOD_TWO) as (watcher, gateway, path):
        write(path, text, 2_000_000_000_000)
        with caplog.at_level(logging.ERROR):
            assert watcher.check() is False
        assert names(gateway) == ["ollama", "lmstudio"]
        assert "providers: []" in caplog.text  # says how to remove them all on purpose

        write(path, "providers: []\n", 3_000_000_000_000)
        assert watcher.check() is True
        assert names(gateway) == []


def test_listen_changes_wait_for_a_restart(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    with_token = "listen: {host: 0.0.0.0, port: 1444, token: t0k3n, max_body_mb: 8}\n" + \
        GOOD.split("\n", 1)[1]
    with started(tmp_path, with_token) as (watcher, gateway, path):
        opened = "listen: {host: 127.0.0.1, port: 1555, token: null, max_body_mb: 4}\n" + \
            GOOD.split("\n", 1)[1]
        write(path, opened, 2_000_000_000_000)
        with caplog.at_level(logging.WARNING):
            assert watcher.check() is True
        listen = gateway.config.listen
        assert (listen.host, listen.port, listen.token) == ("0.0.0.0", 1444, "t0k3n")
        assert listen.max_body_mb == 4  # this one applies at once
        assert "restart" in caplog.text and "t0k3n" not in caplog.text


def test_a_secret_in_a_plain_header_of_the_file_is_warned_about(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = GOOD.replace("    port: 11434\n",
                        "    port: 11434\n    headers: {X-Api-Key: sk-in-file}\n")
    with caplog.at_level(logging.WARNING):
        with started(tmp_path, text) as (_, gateway, _):
            assert names(gateway) == ["ollama"]  # still loaded: a warning, not a refusal
    assert "X-Api-Key carries a secret" in caplog.text
    assert "--secret-header X-Api-Key" in caplog.text
    assert "sk-in-file" not in caplog.text
