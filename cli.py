"""The `mitmllm` command line.

    mitmllm run  [--host H] [--port P] [--config FILE]
    mitmllm web  [--host H] [--port P] [--web-port W] [--config FILE]
    mitmllm providers list|add|edit|remove|enable|disable|test|set-key|import-osaurus ...
    mitmllm models [--config FILE]

Every command exits non-zero with a one-line reason on bad input (2) or a failed operation
(1). Secrets are read from stdin or a prompt, never from argv, and never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from . import __version__
from .config.model import GatewayConfig, ProviderConfig
from .config.presets import CUSTOM_EXAMPLES, PRESETS
from .config.schema import AUTH_KINDS, FORMATS, PROTOCOLS, ConfigError, ConfigFileError
from .config.secrets import SecretError, Secrets, api_key_account, header_account
from .config.store import ConfigDocument, config_path, ensure_config_file, load_config

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    raise CliError(message, code)


# --- parser --------------------------------------------------------------------------


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="config file (default: "
                        "$MITMLLM_CONFIG, else ~/.config/mitmllm/config.yaml)")


def _provider_field_options(parser: argparse.ArgumentParser, *, editing: bool) -> None:
    presets = sorted([*PRESETS, *CUSTOM_EXAMPLES])
    parser.add_argument("--preset", choices=presets, help="fill the fields from a preset "
                        "(ollama and lmstudio are Custom with their local defaults)")
    parser.add_argument("--host")
    parser.add_argument("--protocol", choices=PROTOCOLS)
    parser.add_argument("--port", type=int)
    parser.add_argument("--base-path", metavar="PATH")
    parser.add_argument("--format", choices=FORMATS)
    parser.add_argument("--auth", choices=AUTH_KINDS)
    parser.add_argument("--timeout", type=float, metavar="SECONDS")
    parser.add_argument("--header", action="append", default=[], metavar="NAME:VALUE",
                        help="a plain custom header (repeatable)")
    parser.add_argument("--secret-header", action="append", default=[], metavar="NAME",
                        help="a header whose value lives in the keychain (repeatable); set "
                        "it with `providers set-key NAME --header HEADER`")
    parser.add_argument("--models", action="append", default=[], metavar="ID[,ID...]",
                        help="static model ids or globs such as claude-* (repeatable)")
    parser.add_argument("--max-tokens-default", type=int, metavar="N")
    parser.add_argument("--disabled", action="store_true", help="add it disabled")
    parser.add_argument("--no-auto-connect", action="store_true")
    if editing:
        parser.add_argument("--enabled", action="store_true", help="enable it")
        parser.add_argument("--auto-connect", action="store_true")
        parser.add_argument("--remove-header", action="append", default=[], metavar="NAME")
        parser.add_argument("--remove-secret-header", action="append", default=[],
                            metavar="NAME")
        parser.add_argument("--clear-models", action="store_true")


class OneLineParser(argparse.ArgumentParser):
    """Bad options get one line that says why, not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        where = self.prog.removeprefix("mitmllm").strip()
        print(f"mitmllm: {where + ': ' if where else ''}{message} (see --help)",
              file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="mitmllm", description="A local gateway for LLM APIs, built on mitmproxy.")
    parser.add_argument("--version", action="version", version=f"mitmllm {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, text in (("run", "run the proxy (headless)"),
                       ("web", "run the proxy with mitmweb to watch every exchange")):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--host", help="listen host (default: listen.host, 127.0.0.1)")
        sub.add_argument("--port", type=int, help="listen port (default: listen.port, 1337)")
        if name == "web":
            sub.add_argument("--web-port", type=int, default=8081)
            sub.add_argument("--web-host", default="127.0.0.1")
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
    _provider_field_options(add, editing=False)
    _config_option(add)
    edit = actions.add_parser("edit", help="change a provider's fields")
    edit.add_argument("name")
    _provider_field_options(edit, editing=True)
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


# --- provider fields -----------------------------------------------------------------


def _split_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        fail(f"--header expects NAME:VALUE, got {text!r}")
    return name.strip(), value.strip()


def _models(values: Sequence[str]) -> list[str]:
    return [m.strip() for value in values for m in value.split(",") if m.strip()]


def provider_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields given on the command line (only those given)."""
    fields: dict[str, Any] = {}
    if args.preset in CUSTOM_EXAMPLES:
        fields.update(CUSTOM_EXAMPLES[args.preset], preset="custom")
    elif args.preset:
        fields["preset"] = args.preset
    for option, key in (("host", "host"), ("protocol", "protocol"), ("port", "port"),
                        ("base_path", "base_path"), ("format", "format"), ("auth", "auth"),
                        ("timeout", "timeout"), ("max_tokens_default", "max_tokens_default")):
        value = getattr(args, option)
        if value is not None:
            fields[key] = value
    if args.disabled:
        fields["enabled"] = False
    if args.no_auto_connect:
        fields["auto_connect"] = False
    return fields


# --- commands ------------------------------------------------------------------------


def _path(args: argparse.Namespace) -> Path:
    return config_path(getattr(args, "config", None))


def _load(args: argparse.Namespace) -> GatewayConfig:
    return load_config(_path(args))


def _provider(config: GatewayConfig, name: str) -> ProviderConfig:
    provider = config.provider(name)
    if provider is None:
        known = ", ".join(p.name for p in config.providers) or "none configured"
        fail(f"no provider named '{name}' (known: {known})")
    return provider


def cmd_run(args: argparse.Namespace) -> int:
    from .proxy import ListenSpec, run_headless, run_web

    path = _path(args)
    if ensure_config_file(path):
        print(f"mitmllm: created {path} (providers are added with `mitmllm providers add`)",
              file=sys.stderr)
    config = load_config(path)
    host = args.host or config.listen.host
    port = args.port or config.listen.port
    listen = config.listen.__class__(host=host, port=port, token=config.listen.token)
    if not listen.is_loopback and not listen.token:
        fail(f"listening on {host} needs listen.token in {path}: anyone who can reach the "
             "port could otherwise spend your keys")
    spec = ListenSpec(host=host, port=port, config=path, verbose=args.verbose,
                      web_port=getattr(args, "web_port", None),
                      web_host=getattr(args, "web_host", "127.0.0.1"))
    print(f"mitmllm {__version__}: OpenAI, Anthropic and Responses clients -> "
          f"http://{host}:{port}/v1  (config {path})", file=sys.stderr)
    runner = run_web if args.command == "web" else run_headless
    return asyncio.run(runner(spec))


def cmd_providers_list(args: argparse.Namespace) -> int:
    config = _load(args)
    if not config.providers:
        print(f"No providers in {config.path}. Add one, e.g.:\n"
              "  mitmllm providers add openai --preset openai && "
              "mitmllm providers set-key openai")
        return 0
    secrets = Secrets()
    rows = [("NAME", "STATE", "FORMAT", "URL", "KEY")]
    for p in config.providers:
        state = "enabled" if p.enabled else "disabled"
        rows.append((p.name, state, p.format, p.url(""), _key_origin(secrets, p)))
    _table(rows)
    return 0


def _key_origin(secrets: Secrets, provider: ProviderConfig) -> str:
    if provider.auth == "none":
        return "none needed"
    try:
        found = secrets.api_key(provider)
    except SecretError:
        return "keychain unavailable"
    return found.origin if found else "MISSING"


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def cmd_providers_add(args: argparse.Namespace) -> int:
    fields = {"name": args.name, **provider_fields(args)}
    if args.header:
        fields["headers"] = dict(_split_header(h) for h in args.header)
    if args.secret_header:
        fields["secret_headers"] = list(dict.fromkeys(args.secret_header))
    if args.models:
        fields["models"] = _models(args.models)
    document = ConfigDocument(_path(args))
    existing = document.validated().provider(args.name)
    if existing is not None:
        fail(f"a provider named '{existing.name}' already exists (change it with "
             f"`mitmllm providers edit {existing.name} ...`)")
    document.add_provider(fields)
    config = document.save()
    provider = _provider(config, args.name)
    print(f"Added provider '{provider.name}': {provider.format} at {provider.url('')}")
    if provider.auth == "api_key":
        print(f"Store its key with: mitmllm providers set-key {provider.name}")
    print(f"Its models route as {provider.slug}/MODEL.")
    return 0


def cmd_providers_edit(args: argparse.Namespace) -> int:
    document = ConfigDocument(_path(args))
    current = _provider(document.validated(), args.name)
    changes = provider_fields(args)
    if args.enabled:
        changes["enabled"] = True
    if args.auto_connect:
        changes["auto_connect"] = True
    headers = dict(current.headers)
    for name in args.remove_header:
        headers.pop(name, None)
    headers.update(_split_header(h) for h in args.header)
    if args.header or args.remove_header:
        changes["headers"] = headers or None
    secret_headers = [h for h in current.secret_headers if h not in args.remove_secret_header]
    secret_headers += [h for h in args.secret_header if h not in secret_headers]
    if args.secret_header or args.remove_secret_header:
        changes["secret_headers"] = secret_headers or None
    if args.clear_models or args.models:
        changes["models"] = _models(args.models) or None
    if not changes:
        fail("nothing to change: give at least one field option (see --help)")
    document.update_provider(current.name, changes)
    config = document.save()
    provider = _provider(config, current.name)
    for name in args.remove_secret_header:
        _delete_quietly(header_account(provider.name, name))
    print(f"Updated provider '{provider.name}': {provider.format} at {provider.url('')}"
          f"{'' if provider.enabled else ' (disabled)'}")
    return 0


def _delete_quietly(account: str) -> None:
    try:
        Secrets().delete(account)
    except SecretError:
        pass  # no keychain: nothing could have been stored there


def cmd_providers_remove(args: argparse.Namespace) -> int:
    document = ConfigDocument(_path(args))
    provider = _provider(document.validated(), args.name)
    try:
        removed = Secrets().delete_provider(provider)
    except SecretError as exc:
        if "no system keychain" not in str(exc):
            raise CliError(f"cannot delete the keychain entries of '{provider.name}', so the "
                           f"provider was kept: {exc}") from exc
        removed = []
    document.remove_provider(provider.name)
    document.save()
    extra = f" and {len(removed)} keychain entr{'y' if len(removed) == 1 else 'ies'}" \
        if removed else ""
    print(f"Removed provider '{provider.name}'{extra}.")
    return 0


def cmd_providers_toggle(args: argparse.Namespace) -> int:
    enabled = args.action == "enable"
    document = ConfigDocument(_path(args))
    provider = _provider(document.validated(), args.name)
    document.update_provider(provider.name, {"enabled": None if enabled else False})
    document.save()
    print(f"Provider '{provider.name}' {'enabled' if enabled else 'disabled'}.")
    return 0


def read_secret(prompt: str) -> str:
    if sys.stdin.isatty():
        value = getpass.getpass(prompt)
    else:
        value = sys.stdin.read()
    value = value.strip("\r\n")
    if not value.strip():
        fail("no secret given (pipe it on stdin or type it at the prompt)")
    if "\n" in value or "\r" in value:
        fail("the secret has several lines; give exactly one")
    return value


def cmd_providers_set_key(args: argparse.Namespace) -> int:
    config = _load(args)
    provider = _provider(config, args.name)
    if args.header:
        if args.header not in provider.secret_headers:
            fail(f"'{args.header}' is not a secret header of '{provider.name}'; add it first "
                 f"with `mitmllm providers edit {provider.name} --secret-header "
                 f"{args.header}`")
        account = header_account(provider.name, args.header)
        what = f"secret header {args.header}"
    else:
        account = api_key_account(provider.name)
        what = "API key"
    value = read_secret(f"{what} for {provider.name}: ")
    Secrets().set(account, value)
    print(f"Stored the {what} of '{provider.name}' in the keychain (service mitmllm, "
          f"account {account}).")
    if not args.header and provider.auth == "none":
        print(f"Note: '{provider.name}' has auth: none, so the key is not sent. Send it with "
              f"`mitmllm providers edit {provider.name} --auth api_key`.")
    return 0


def cmd_providers_test(args: argparse.Namespace) -> int:
    import aiohttp

    from .addons.catalog import probe
    from .config.auth import SecretCache

    provider = _provider(_load(args), args.name)

    async def run() -> Any:
        async with aiohttp.ClientSession() as session:
            return await probe(session, provider, SecretCache(Secrets()))

    status = asyncio.run(run())
    print(f"{provider.name}: {status.state} ({provider.url('')})")
    if status.error:
        print(f"  error: {status.error}")
    for model in status.models:
        print(f"  {provider.slug}/{model.id}")
    return 0 if status.state == "connected" else EXIT_FAILED


def cmd_models(args: argparse.Namespace) -> int:
    import aiohttp

    from .addons.catalog import probe
    from .config.auth import SecretCache

    config = _load(args)
    cache = SecretCache(Secrets())

    async def run() -> list[Any]:
        async with aiohttp.ClientSession() as session:
            wanted = [p for p in config.providers if p.enabled]
            return list(await asyncio.gather(*(probe(session, p, cache) for p in wanted)))

    for status in asyncio.run(run()):
        provider = _provider(config, status.name)
        if status.state != "connected":
            print(f"# {provider.name}: {status.state}: {status.error}", file=sys.stderr)
        for model in status.models:
            print(f"{provider.slug}/{model.id}\t{provider.name}")
    if config.local.enabled:
        from .local.discovery import discover_models

        for local_model in discover_models(config.local.model_dirs):
            print(f"{local_model.id}\tlocal")
    return 0


def cmd_import_osaurus(args: argparse.Namespace) -> int:
    from .config.osaurus import import_osaurus

    report = import_osaurus(Path(args.path).expanduser() if args.path else None, _path(args))
    for line in report:
        print(line)
    return 0


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


if __name__ == "__main__":
    sys.exit(main())

