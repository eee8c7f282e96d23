"""`providers set-key` on a headless Linux box (README, section Secrets): it fails with one
line that gives the two ways that work, with their exact commands, and the first of them
(a shell with its own session bus and an unlocked gnome-keyring) does work: it is run here
as printed, where gnome-keyring and dbus are installed (CI installs them).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import SECRET, Cli
from support.keyrings import FAIL_BACKEND

from mitmllm.config.secrets import SECRET_SERVICE_PACKAGES, UNLOCKED_SHELL


def test_set_key_without_a_keychain_gives_both_ways_with_their_commands(tmp_path: Path) -> None:
    cli = Cli(tmp_path, backend=FAIL_BACKEND)
    cli("providers", "add", "openai").ok()
    result = cli("providers", "set-key", "openai", stdin=SECRET)
    line = result.one_line_error("no system keychain is available", code=1)
    for command in (f"`sudo apt install {SECRET_SERVICE_PACKAGES}`", f"`{UNLOCKED_SHELL}`",
                    "`read -rs MITMLLM_KEY_OPENAI && export MITMLLM_KEY_OPENAI`",
                    "mitmllm reads MITMLLM_KEY_OPENAI or OPENAI_API_KEY"):
        assert command in line, (command, line)
    assert SECRET not in result.stdout + result.stderr
    # The way (b) names: the key in the environment, no keychain at all.
    listing = cli("providers", "list", env={"MITMLLM_KEY_OPENAI": SECRET}).ok().stdout
    assert listing.splitlines()[1].split()[-1] == "MITMLLM_KEY_OPENAI"


@pytest.mark.skipif(not (shutil.which("dbus-run-session") and
                         shutil.which("gnome-keyring-daemon") and shutil.which("bash")),
                    reason="needs gnome-keyring and dbus (sudo apt install gnome-keyring "
                           "dbus-user-session)")
def test_the_printed_gnome_keyring_command_stores_and_keeps_the_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text("providers:\n  - name: openai\n", encoding="utf-8")
    # A login without a desktop: no session bus, no runtime dir, no keyring override.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LANG": "C.UTF-8", "SHELL": shutil.which("bash") or "/bin/bash",
           "MITMLLM_CONFIG": str(config)}
    mitmllm = f"{shlex.quote(sys.executable)} -m mitmllm.cli"

    def in_unlocked_shell(password: str, commands: str) -> str:
        done = subprocess.run(["bash", "-c", UNLOCKED_SHELL], input=f"{password}\n{commands}",
                              capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=60, check=False)
        assert done.returncode == 0, done
        return done.stdout

    stored = in_unlocked_shell("keyring-pass", f"printf %s {SECRET} | {mitmllm} providers "
                                               "set-key openai\n")
    assert "Stored the API key of 'openai' in the keychain" in stored
    assert list((home / ".local" / "share" / "keyrings").iterdir())
    # A new shell opened the same way, with the same password, finds it.
    listing = in_unlocked_shell("keyring-pass", f"{mitmllm} providers list\n")
    assert listing.splitlines()[1].split()[-1] == "keychain"
    assert SECRET not in stored + listing
