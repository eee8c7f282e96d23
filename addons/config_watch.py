"""Loads the YAML config, publishes it to the pipeline, and reloads it when the file changes.

Option `mitmllm_config` names the file (else `$MITMLLM_CONFIG`, else the user config dir).
An invalid file at start is an `OptionsError` (mitmproxy refuses to start and says why); an
invalid edit while running is logged and the last good config stays in force, so a typo
never takes the proxy down. So does a file that is empty, or that lost its `providers:` key
while providers were configured (an editor's half-written save): removing every provider
takes an explicit `providers: []`. Changes are noticed by polling the file's mtime and size
once a second: portable, and one `stat` a second costs nothing.

The listen address and token are the ones the proxy was started with: a reload that changes
`listen.host`, `listen.port` or `listen.token` keeps them in force and says a restart is
needed (a file edited to drop the token must not open a port bound to all interfaces). The
token rule looks at the address actually bound (mitmproxy's `listen_host`, where an empty
value means every interface): anything but loopback needs `listen.token`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace
from pathlib import Path

import yaml
from mitmproxy import ctx, exceptions

from ..config.model import GatewayConfig, ListenConfig
from ..config.schema import ConfigError, secret_header_advice, secret_looking
from ..config.store import config_path, load_config
from .admin_access import is_loopback
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
        self._listen: ListenConfig | None = None  # as the proxy was started

    def load(self, loader) -> None:  # type: ignore[no-untyped-def]
        loader.add_option(
            "mitmllm_config", str, "",
            "mitmllm's YAML config file. Default: $MITMLLM_CONFIG, else "
            "~/.config/mitmllm/config.yaml (the user config dir). Reloaded when it changes.",
        )

    def configure(self, updated: set[str]) -> None:
        if "mitmllm_config" in updated or self.path is None:
            path = config_path(ctx.options.mitmllm_config or None)
            try:
                config = load_config(path)
            except ConfigError as exc:
                raise exceptions.OptionsError(str(exc)) from exc
            self.path = path
            self._signature = _signature(path)
            self._listen = config.listen
            self.gateway.publish_config(config)
            self.gateway.config_loaded = True
            logger.info("config %s: %d provider(s)", path, len(config.providers))
            _warn_plain_secrets(config)
        if updated & {"mitmllm_config", "listen_host"}:
            self._check_bound_address()

    def _check_bound_address(self) -> None:
        if ctx.master.addons.get("proxyserver") is None:
            return  # no proxy listens here (a test, a tool reading saved flows)
        bound = ctx.options.listen_host
        if (not bound or not is_loopback(bound)) and bound != "localhost" \
                and not self.gateway.config.listen.token:
            where = bound or "every interface"
            raise exceptions.OptionsError(
                f"listening on {where} needs listen.token in {self.path} (or "
                "MITMLLM_LISTEN_TOKEN): anyone who can reach the port could otherwise spend "
                "your keys")

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
            self._refuse_lost_providers(config)
        except ConfigError as exc:
            logger.error("config not reloaded, keeping the previous one: %s", exc)
            return False
        self.gateway.publish_config(self._with_started_listen(config))
        logger.info("config reloaded: %d provider(s)", len(config.providers))
        _warn_plain_secrets(config)
        return True

    def _refuse_lost_providers(self, config: GatewayConfig) -> None:
        """An empty file, or one without its `providers:` key, while providers are
        configured is a half-written save, not a wish to remove them all."""
        if config.providers or not self.gateway.config.providers or self.path is None:
            return
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            data = None
        if not isinstance(data, dict) or "providers" not in data:
            raise ConfigError("it is empty or has no `providers:` key (a half-written save?); "
                              "to remove every provider write `providers: []`", path=self.path)

    def _with_started_listen(self, config: GatewayConfig) -> GatewayConfig:
        """The address and token stay those the proxy was started with; a change to them
        is said to need a restart (max_body_mb applies at once)."""
        started = self._listen
        if started is None:
            return config
        wanted = config.listen
        kept = replace(wanted, host=started.host, port=started.port, token=started.token)
        if kept != wanted:
            logger.warning("config %s: listen.host, listen.port and listen.token take effect "
                           "only when mitmllm restarts; the running proxy keeps its address "
                           "and token", self.path)
        return replace(config, listen=kept)


def _warn_plain_secrets(config: GatewayConfig) -> None:
    for provider in config.providers:
        for header, _ in provider.headers:
            if secret_looking(header):
                logger.warning("config %s: provider %s: %s", config.path, provider.name,
                               secret_header_advice(provider.name, header))


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)
