"""Concurrent edits of the config file all land (config/store.py: `editing`, `config_lock`).

An edit is read, change, write: two at once, say `mitmllm providers add` run twice or the
CLI while the running proxy's admin page saves, would each write its own change over the
other's. The file's lock (`config.yaml.lock` beside it) is held from the read to the
rename; a document saved without it refuses to overwrite a file that changed meanwhile.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.cli import Cli

from mitmllm.config.schema import ConfigFileError
from mitmllm.config.store import (
    ConfigDocument,
    config_lock,
    editing,
    load_config,
    lock_path,
)

START = "providers: []   # the list\nlocal:\n  enabled: false\n"


def add_slowly(path: Path, name: str) -> None:
    with editing(path) as document:
        document.add_provider({"name": name, "host": f"{name}.test"})
        time.sleep(0.02)  # the window between reading and writing, made wide


def test_threads_adding_at_once_all_land(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(START, encoding="utf-8")
    names = [f"p{i}" for i in range(8)]
    threads = [threading.Thread(target=add_slowly, args=(path, name)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(p.name for p in load_config(path).providers) == names
    assert "# the list" in path.read_text(encoding="utf-8")


def test_a_document_saved_without_the_lock_never_overwrites_a_newer_file(
        tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(START, encoding="utf-8")
    late = ConfigDocument(path)
    add_slowly(path, "first")  # another edit lands between late's reading and saving
    late.add_provider({"name": "second", "host": "second.test"})
    with pytest.raises(ConfigFileError) as caught:
        late.save()
    assert str(caught.value) == (f"{path}: changed by another program since it was read; "
                                 "nothing was written: run the command again")
    assert [p.name for p in load_config(path).providers] == ["first"]


def test_a_document_can_be_saved_twice(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    document = ConfigDocument(path)
    document.add_provider({"name": "a", "host": "a.test"})
    document.save()
    document.add_provider({"name": "b", "host": "b.test"})
    document.save()
    assert [p.name for p in load_config(path).providers] == ["a", "b"]


def test_the_lock_is_a_private_file_beside_the_config_and_re_entrant(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "config.yaml"
    with config_lock(path), editing(path) as document:  # the same thread enters twice
        document.add_provider({"name": "a", "host": "a.test"})
    assert lock_path(path) == tmp_path / "deep" / "config.yaml.lock"
    assert stat.S_IMODE(lock_path(path).stat().st_mode) == 0o600
    assert [p.name for p in load_config(path).providers] == ["a"]


def test_a_lock_held_too_long_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with config_lock(path):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(ConfigFileError) as caught, config_lock(path, timeout=0.2):
            pass
    finally:
        release.set()
        thread.join()
    assert str(caught.value) == (f"{path}: another mitmllm has been editing this file for "
                                 "0.2 s (it holds config.yaml.lock); try again")


def test_cli_processes_adding_at_once_all_land(tmp_path: Path) -> None:
    cli = Cli(tmp_path)
    cli.write(START)
    names = [f"p{i}" for i in range(8)]
    processes = [subprocess.Popen(
        [sys.executable, "-m", "mitmllm.cli", "providers", "add", name, "--host",
         f"{name}.test"], env=cli.environment(None), cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for name in names]
    for process in processes:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    assert sorted(p.name for p in load_config(cli.config).providers) == names


def test_the_cli_waits_for_an_edit_in_progress_and_both_land(tmp_path: Path) -> None:
    """What the admin page of a running proxy does: edit under the same lock."""
    cli = Cli(tmp_path)
    cli.write(START)
    holding = threading.Event()

    def page_edit() -> None:
        with editing(cli.config) as document:
            document.add_provider({"name": "from-page", "host": "page.test"})
            holding.set()
            time.sleep(1.0)

    thread = threading.Thread(target=page_edit)
    thread.start()
    holding.wait(5)
    started = time.monotonic()
    cli("providers", "add", "from-cli", "--host", "cli.test").ok()
    waited = time.monotonic() - started
    thread.join()
    assert waited > 0.5
    assert [p.name for p in load_config(cli.config).providers] == ["from-page", "from-cli"]
