"""Where the config file lives, reading it, and rewriting it atomically with its comments.

Reads use PyYAML (plain data, line-numbered syntax errors). Edits use ruamel.yaml's
round-trip mode so a user's comments and ordering survive `mitmllm providers add`; the
comments around the providers list are kept in place by `config/comments.py`. Every
write goes to a temporary file in the same folder, is flushed to disk, given mode 0600 and
renamed over the old file: a crash leaves either the old or the new file, never half of one.

Edits are read-modify-write, so two at once (two `mitmllm providers add`, or the CLI and the
running proxy's admin page) would lose one. `editing()` holds the file's lock
(`config_lock`) from the read to the rename; `ConfigDocument.save()` takes it too, and
refuses to write over a file that changed since the document read it.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock, Timeout
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from . import comments
from .model import GatewayConfig
from .schema import ConfigError, ConfigFileError, parse_config, parse_provider

DEFAULT_CONFIG_TEXT = """\
# mitmllm configuration. Reference: the README, section "Configuration".
# Secrets never go here: `mitmllm providers set-key NAME` stores them in the OS keychain.
listen:
  host: 127.0.0.1
  port: 1337
  token: null        # required when host is not loopback
  max_body_mb: 32
providers: []
# Example (or: mitmllm providers add ollama --preset custom --protocol http \\
#                --host localhost --port 11434 --auth none):
#  - name: ollama
#    preset: custom
#    host: localhost
#    protocol: http
#    port: 11434
#    base_path: /v1
#    format: openai
#    auth: none
local:
  enabled: true
  model_dirs: []     # folders holding MLX models, scanned with the Hugging Face cache
  max_loaded: 1
"""


def user_config_dir() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "mitmllm"
    if os.name == "nt":
        return Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming")) / "mitmllm"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mitmllm"


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--config`, else `$MITMLLM_CONFIG`, else the user config dir."""
    if explicit:
        return Path(explicit).expanduser()
    if env := os.environ.get("MITMLLM_CONFIG"):
        return Path(env).expanduser()
    return user_config_dir() / "config.yaml"


def load_config(path: Path) -> GatewayConfig:
    """The validated config; a missing file is the default config."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return GatewayConfig(path=path)
    except OSError as exc:
        raise ConfigFileError(f"cannot read: {exc.strerror}", path=path) from exc
    return parse_text(text, path)


def parse_text(text: str, path: Path | None = None) -> GatewayConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}invalid YAML: {problem}", path=path) from exc
    return parse_config(data, path)


LOCK_TIMEOUT_SECONDS = 10.0


def lock_path(path: Path) -> Path:
    """`config.yaml.lock`, beside the file. Not the file itself: every write renames a new
    file over it, so a lock held on the old one would not stop the next writer, while the
    lock file is never replaced. In the same folder, so that every process editing this
    file finds the same lock wherever it runs from."""
    return path.with_name(path.name + ".lock")


@contextmanager
def config_lock(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the lock of the config file at `path` (blocking: off the event loop). Re-entrant
    within a thread; other threads and processes wait, up to `timeout` seconds."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One instance per lock file in a process (is_singleton), so that nested holders in
        # one thread re-enter it instead of waiting for themselves.
        lock = FileLock(lock_path(path), mode=0o600, is_singleton=True)
        lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise ConfigFileError(f"another mitmllm has been editing this file for {timeout:g} s "
                              f"(it holds {lock_path(path).name}); try again", path=path) from exc
    except OSError as exc:
        raise ConfigFileError(f"cannot lock: {exc.strerror or exc}", path=path) from exc
    try:
        yield
    finally:
        lock.release()


def _read_or_none(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigFileError(f"cannot read: {exc.strerror or exc}", path=path) from exc


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if hasattr(os, "fchmod"):  # not on Windows, where the ACL of the folder applies
                os.fchmod(handle.fileno(), 0o600)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_config_file(path: Path) -> bool:
    """Create the commented default file if there is none; True if it was created."""
    if path.exists():
        return False
    with config_lock(path):
        if path.exists():  # created meanwhile, e.g. by `providers add`
            return False
        try:
            write_atomic(path, DEFAULT_CONFIG_TEXT)
        except OSError as exc:
            raise ConfigFileError(f"cannot create: {exc.strerror or exc}", path=path) from exc
    return True


class ConfigDocument:
    """An editable, comment-preserving view of the config file. Edit it inside `editing()`
    (or `config_lock()`), so that no other edit comes between its reading and its saving."""

    def __init__(self, path: Path):
        self.path = path
        self._yaml = YAML(typ="rt")
        self._yaml.indent(mapping=2, sequence=4, offset=2)
        self._yaml.preserve_quotes = True
        # `token: null` stays `null`, not an empty value (same meaning, less readable).
        self._yaml.representer.add_representer(type(None), _represent_null)
        self._read = _read_or_none(path)  # what save() expects to replace
        text = DEFAULT_CONFIG_TEXT if self._read is None else self._read
        parse_text(text, path)  # refuse to edit a file that is already invalid
        text, lifted = comments.lift(self._yaml, text)
        data = self._yaml.load(text)
        self.data: CommentedMap = data if isinstance(data, CommentedMap) else CommentedMap()
        if not isinstance(self.data.get("providers"), CommentedSeq):
            self.data["providers"] = CommentedSeq()
        # The comment block above each provider, which goes where the provider goes, and
        # the one after the list, which stays before the next key (config/comments.py).
        self._above: list[tuple[CommentedMap, list[str]]] = [
            (self.providers[index], block) for index, block in lifted.above.items()
            if index < len(self.providers)]
        self._after = lifted.after

    @property
    def providers(self) -> CommentedSeq:
        providers = self.data["providers"]
        assert isinstance(providers, CommentedSeq)
        return providers

    def find(self, name: str) -> tuple[int, CommentedMap]:
        config = self.validated()
        provider = config.provider(name)
        if provider is None:
            known = ", ".join(p.name for p in config.providers) or "none configured"
            raise ConfigError(f"no provider named '{name}' (known: {known})", path=self.path)
        for index, entry in enumerate(self.providers):
            if entry.get("name") == provider.name:
                return index, entry
        raise AssertionError("validated provider missing from the document")

    def add_provider(self, fields: Mapping[str, Any]) -> None:
        parse_provider(dict(fields), path=self.path, index=len(self.providers))
        entry = CommentedMap()
        for key in WRITE_ORDER:
            if key in fields:
                entry[key] = _plain(fields[key])
        providers = self.providers
        providers.fa.set_block_style()
        providers.append(entry)
        self._validated_or_undo(providers.pop)

    def update_provider(self, name: str, changes: Mapping[str, Any]) -> str:
        """Apply changes (a value of None removes the field); returns the provider's name."""
        _, entry = self.find(name)
        before = CommentedMap(entry)
        for key, value in changes.items():
            if value is None:
                entry.pop(key, None)
            else:
                entry[key] = _plain(value)

        def undo() -> None:
            entry.clear()
            entry.update(before)

        self._validated_or_undo(undo)
        return str(entry["name"])

    def remove_provider(self, name: str) -> str:
        index, entry = self.find(name)
        providers = self.providers
        self._block_above(entry)  # the comment above the removed entry described it
        del providers[index]
        if not providers:
            # An empty list must be written `[]`; the comment above its first item (a
            # heading such as "# my providers") goes after the key instead.
            lead = providers.ca.comment[1] if providers.ca.comment else None
            self.data["providers"] = CommentedSeq()
            self.data["providers"].fa.set_flow_style()
            if lead:
                body = "".join("\n" + t.value.strip("\n") for t in lead) + "\n"
                self.data.ca.items["providers"] = [None, None, CommentToken(
                    body, CommentMark(0), None), None]
        elif index == 0 and (block := self._block_above(providers[0])):
            # The new first entry's comment moves to the slot above the list's first item.
            lines = comments.tokens([line for line in block if line.strip()])
            providers.ca.comment = [None, lines]
            slots = self.data.ca.items.setdefault("providers", [None, None, None, None])
            slots[3] = lines
        return str(entry["name"])

    def _block_above(self, entry: CommentedMap) -> list[str]:
        """Take the comment block lifted from above an entry (config/comments.py)."""
        for position, (owner, block) in enumerate(self._above):
            if owner is entry:
                del self._above[position]
                return block
        return []

    def _validated_or_undo(self, undo: Callable[[], object]) -> None:
        try:
            self.validated()
        except ConfigError:
            undo()
            raise

    def validated(self) -> GatewayConfig:
        return parse_text(self.dump(), self.path)

    def dump(self) -> str:
        above = [next((block for owner, block in self._above if owner is entry), None)
                 for entry in self.providers]
        trailer = comments.attach(self.data, above, self._after)
        buffer = io.StringIO()
        self._yaml.dump(self.data, buffer)
        return buffer.getvalue() + trailer

    def save(self) -> GatewayConfig:
        """Write the document, unless the file changed since it was read (then nothing is
        written: the edit would undo the other one)."""
        config = self.validated()
        text = self.dump()
        with config_lock(self.path):
            if _read_or_none(self.path) != self._read:
                raise ConfigFileError("changed by another program since it was read; nothing "
                                      "was written: run the command again", path=self.path)
            try:
                write_atomic(self.path, text)
            except OSError as exc:
                raise ConfigFileError(f"cannot write: {exc.strerror or exc}",
                                      path=self.path) from exc
        self._read = text
        return config


# The order fields are written in: what a reader looks for first.
WRITE_ORDER = ("name", "preset", "host", "protocol", "port", "base_path", "format", "auth",
               "enabled", "auto_connect", "timeout", "headers", "secret_headers", "models",
               "max_tokens_default", "hosted_tools")


def _represent_null(representer: Any, _: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _plain(value: Any) -> Any:
    """ruamel needs its own containers to lay out nested values in block style."""
    if isinstance(value, Mapping):
        mapped = CommentedMap()
        for key, item in value.items():
            mapped[key] = _plain(item)
        return mapped
    if isinstance(value, list | tuple):
        seq = CommentedSeq()
        seq.extend(_plain(item) for item in value)
        return seq
    if isinstance(value, Path):
        return str(value)
    return value


@contextmanager
def editing(path: Path) -> Iterator[ConfigDocument]:
    """Edit the file and save it atomically when the block ends without an error, holding
    its lock throughout: concurrent edits (other processes, other threads) wait their turn
    and each sees the one before. Blocking: call it off the event loop."""
    with config_lock(path):
        document = ConfigDocument(path)
        yield document
        document.save()
