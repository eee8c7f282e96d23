"""What every `mitmllm` command shares: the exit codes, the one-line error, the config file.

A command raises `CliError` (or calls `fail`) with a reason; `cli.main` prints it on one
line and exits with its code: 2 for bad input, 1 for a failed operation.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from ..config.model import GatewayConfig, ProviderConfig
from ..config.store import config_path, load_config

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    raise CliError(message, code)


def config_file(args: argparse.Namespace) -> Path:
    return config_path(getattr(args, "config", None))


def load(args: argparse.Namespace) -> GatewayConfig:
    return load_config(config_file(args))


def provider_named(config: GatewayConfig, name: str) -> ProviderConfig:
    provider = config.provider(name)
    if provider is None:
        known = ", ".join(p.name for p in config.providers) or "none configured"
        fail(f"no provider named '{name}' (known: {known})")
    return provider
