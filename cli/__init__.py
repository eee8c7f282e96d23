"""The `mitmllm` command line.

    mitmllm run  [--host H] [--port P] [--workers N|auto] [--config FILE]
    mitmllm web  [--host H] [--port P] [--web-port W] [--save FILE] [--config FILE]
    mitmllm providers list|add|edit|remove|enable|disable|test|set-key|import-osaurus ...
    mitmllm models [--config FILE]

Every command exits non-zero with a one-line reason on bad input (2) or a failed operation
(1). Secrets are read from stdin or a prompt, never from argv, and never printed.

This module holds the parser and `main`; the commands are in `run` (run, web, models)
and `providers` (providers ...), what they share in `common`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from .. import __version__
from ..config.schema import ConfigError, ConfigFileError
from ..config.secrets import SecretError
from .common import EXIT_BAD_INPUT, EXIT_FAILED, CliError
from .providers import (
    add_field_options,
    cmd_import_osaurus,
    cmd_providers_add,
    cmd_providers_edit,
    cmd_providers_list,
    cmd_providers_remove,
    cmd_providers_set_key,
    cmd_providers_test,
    cmd_providers_toggle,
)
from .run import cmd_models, cmd_run

# --- parser --------------------------------------------------------------------------


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="config file (default: "
                        "$MITMLLM_CONFIG, else ~/.config/mitmllm/config.yaml)")


def port_number(text: str) -> int:
    """A TCP port to listen on, as argparse's `type` (its error names the option)."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}")
    return port


class OneLineParser(argparse.ArgumentParser):
    """Bad options get one line that says why, not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("mitmllm").strip()
        print(f"mitmllm: {where + ': ' if where else ''}{message} (see --help)",
              file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def worker_count(text: str) -> int:
    """`--workers N` or `auto` (one per CPU core)."""
    if text == "auto":
        return os.cpu_count() or 1
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"expected a number from 1 to 64 or auto, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="mitmllm", description="A local gateway for LLM APIs, built on mitmproxy.")
    parser.add_argument("--version", action="version", version=f"mitmllm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, text in (("run", "run the proxy (headless)"),
                       ("web", "run the proxy with mitmweb to watch every exchange")):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--host", help="listen host (default: listen.host, 127.0.0.1)")
        sub.add_argument("--port", type=port_number,
                         help="listen port (default: listen.port, 1337)")
        if name == "web":
            sub.add_argument("--web-port", type=port_number, default=8081,
                             help="mitmweb's port (default: 8081)")
            sub.add_argument("--web-host", default="127.0.0.1",
                             help="mitmweb's host (default: 127.0.0.1)")
            sub.add_argument("--save", metavar="FILE", type=Path,
                             help="also write every flow to FILE, secrets redacted "
                                  "(mitmproxy's save_stream_file; reopen it with "
                                  "`mitmweb -r FILE`, see docs/inspecting.md)")
        if name == "run":
            sub.add_argument("--workers", type=worker_count, default=1, metavar="N",
                             help="N processes sharing the listen port (SO_REUSEPORT), "
                                  "restarted if they crash; `auto`: one per CPU core "
                                  "(default: 1)")
            sub.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
        sub.add_argument("-v", "--verbose", action="store_true", help="debug logging")
        _config_option(sub)

    models = commands.add_parser("models", help="list the models of every provider")
    _config_option(models)

    providers = commands.add_parser("providers", help="manage providers")
    actions = providers.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list configured providers")
    _config_option(listing)
    add = actions.add_parser("add", help="add a provider")
    add.add_argument("name")
    add_field_options(add, editing=False)
    _config_option(add)
    edit = actions.add_parser("edit", help="change a provider's fields")
    edit.add_argument("name")
    add_field_options(edit, editing=True)
    _config_option(edit)
    for name, text in (("remove", "remove a provider and its keychain entries"),
                       ("enable", "enable a provider"), ("disable", "disable a provider"),
                       ("test", "connect now and print the state and models")):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("name")
        _config_option(sub)
    set_key = actions.add_parser("set-key", help="store the API key (or a secret header) in "
                                 "the keychain, read from stdin or a prompt")
    set_key.add_argument("name")
    set_key.add_argument("--header", metavar="HEADER", help="a secret header instead of the "
                         "API key")
    _config_option(set_key)
    osaurus = actions.add_parser("import-osaurus", help="import Osaurus' remote providers "
                                 "and their keychain secrets")
    osaurus.add_argument("path", nargs="?", help="default: ~/.osaurus/providers/remote.json")
    _config_option(osaurus)
    return parser


def dispatch(args: argparse.Namespace) -> int:
    if args.command in ("run", "web"):
        return cmd_run(args)
    if args.command == "models":
        return cmd_models(args)
    handlers = {
        "list": cmd_providers_list, "add": cmd_providers_add, "edit": cmd_providers_edit,
        "remove": cmd_providers_remove, "enable": cmd_providers_toggle,
        "disable": cmd_providers_toggle, "set-key": cmd_providers_set_key,
        "test": cmd_providers_test, "import-osaurus": cmd_import_osaurus,
    }
    return handlers[args.action](args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except CliError as exc:
        print(f"mitmllm: {exc}", file=sys.stderr)
        return exc.code
    except ConfigFileError as exc:
        print(f"mitmllm: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ConfigError as exc:
        print(f"mitmllm: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SecretError as exc:
        print(f"mitmllm: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


