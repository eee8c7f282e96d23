"""Loads the YAML config, publishes it to the pipeline, and reloads it when the file changes.

Option `mitmllm_config` names the file (else `$MITMLLM_CONFIG`, else the user config dir).
An invalid file at start is an `OptionsError` (mitmproxy refuses to start and says why); an
invalid edit while running is logged and the last good config stays in force, so a typo
never takes the proxy down. Changes are noticed by polling the file's mtime and size once a
second: portable, and one `stat` a second costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from mitmproxy import ctx, exceptions

from ..config.schema import ConfigError
from ..config.store import config_path, load_config
from .state import Gateway

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0


class ConfigWatcher:
    def __init__(self, gateway: Gateway, poll_seconds: float = POLL_SECONDS):
        self.gateway = gateway
        self.poll_seconds = poll_seconds
        self.path: Path | None = None
        self._signature: tuple[int, int] | None = None
        self._task: asyncio.Task[None] | None = None

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option(
            "mitmllm_config", str, "",
            "mitmllm's YAML config file. Default: $MITMLLM_CONFIG, else "
            "~/.config/mitmllm/config.yaml (the user config dir). Reloaded when it changes.",
        )

    def configure(self, updated: set[str]) -> None:
        if "mitmllm_config" not in updated and self.path is not None:
            return
        path = config_path(ctx.options.mitmllm_config or None)
        try:
            config = load_config(path)
        except ConfigError as exc:
            raise exceptions.OptionsError(str(exc)) from exc
        self.path = path
        self._signature = _signature(path)
        self.gateway.publish_config(config)
        logger.info("config %s: %d provider(s)", path, len(config.providers))

    def running(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="mitmllm config watcher")

    def done(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            self.check()

    def check(self) -> bool:
        """Reload if the file changed; True if a new config was published."""
        if self.path is None:
            return False
        signature = _signature(self.path)
        if signature == self._signature:
            return False
        self._signature = signature
        if signature is None:
            # Editors often delete and rewrite: wait for the new file, keep the config.
            logger.warning("config %s is gone; keeping the current config", self.path)
            return False
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            logger.error("config not reloaded, keeping the previous one: %s", exc)
            return False
        self.gateway.publish_config(config)
        logger.info("config reloaded: %d provider(s)", len(config.providers))
        return True


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)
