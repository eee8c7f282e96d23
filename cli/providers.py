"""`mitmllm providers ...`: list, add, edit, remove, enable, disable, set-key, test and
import-osaurus.

The field options of `add` and `edit` are declared (`add_field_options`) and read
(`provider_fields`) here, next to the commands that use them. Edits go through
`config.store.editing`, which keeps the file's comments and holds its lock from reading to
writing; secrets are read from stdin or a prompt,
never from argv, and never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config.hosts import (
    AddressError,
    looks_like_address,
    normalise_host,
    shown,
    split_address,
)
from ..config.model import ListenConfig, ProviderConfig, env_key_name
from ..config.presets import CUSTOM_EXAMPLES, PRESETS
from ..config.schema import AUTH_KINDS, PROTOCOLS, secret_header_advice, secret_looking
from ..config.secrets import (
    SecretError,
    Secrets,
    api_key_account,
    env_header_name,
    header_account,
)
from ..config.store import editing
from ..translators.formats import FORMATS, HOSTED_TOOLS
from .common import EXIT_FAILED, CliError, config_file, fail, load, provider_named
from .running_proxy import reconnect


def add_field_options(parser: argparse.ArgumentParser, *, editing: bool) -> None:
    presets = sorted([*PRESETS, *CUSTOM_EXAMPLES])
    parser.add_argument("--preset", choices=presets, help="fill the fields from a preset "
                        "(ollama and lmstudio are Custom with their local defaults)")
    parser.add_argument("--host", help="host name or address; a URL such as "
                        "http://127.0.0.1:8000/v1 fills --protocol, --port and --base-path too")
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
    parser.add_argument("--hosted-tools", choices=HOSTED_TOOLS,
                        help="what to do with hosted tools (web search, code interpreter, ...) "
                        "that only the client's own API can run: drop them and list them in "
                        "the flow (default), or refuse the request with a 400")
    parser.add_argument("--disabled", action="store_true", help="add it disabled")
    parser.add_argument("--no-auto-connect", action="store_true")
    if editing:
        parser.add_argument("--enabled", action="store_true", help="enable it")
        parser.add_argument("--auto-connect", action="store_true")
        parser.add_argument("--remove-header", action="append", default=[], metavar="NAME")
        parser.add_argument("--remove-secret-header", action="append", default=[],
                            metavar="NAME")
        parser.add_argument("--clear-models", action="store_true")


def _split_header(text: str, provider: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        # Not echoed: it may be a secret with its colon missing.
        fail("--header expects NAME:VALUE")
    if secret_looking(name):
        fail("--header " + secret_header_advice(provider, name.strip()))
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
                        ("timeout", "timeout"), ("max_tokens_default", "max_tokens_default"),
                        ("hosted_tools", "hosted_tools")):
        value = getattr(args, option)
        if value is not None:
            fields[key] = value
    if args.host is not None and looks_like_address(args.host):
        fields.update(_address_fields(args))
    elif args.host is not None:
        fields["host"] = normalise_host(args.host) or args.host  # [::1] is written ::1
    if args.disabled:
        fields["enabled"] = False
    if args.no_auto_connect:
        fields["auto_connect"] = False
    return fields


def _address_fields(args: argparse.Namespace) -> dict[str, Any]:
    """`--host http://127.0.0.1:8000/v1` as the fields host, protocol, port and base_path. An
    option that says otherwise (`--port 9000`) is refused, naming both; one that agrees,
    or gives a part the URL leaves out, is fine."""
    try:
        address = split_address(args.host)
    except AddressError as exc:
        fail(f"--host {shown(args.host)}: {exc}")
    fields: dict[str, Any] = {"host": address.host}
    if address.protocol is not None:
        fields["protocol"] = address.protocol
    port = address.port if address.port is not None else address.default_port
    if port is not None:
        fields["port"] = port
    if address.base_path is not None:
        fields["base_path"] = address.base_path
    stated = {"protocol": address.protocol, "port": address.port,
              "base_path": address.base_path}
    for key, option in (("protocol", "--protocol"), ("port", "--port"),
                        ("base_path", "--base-path")):
        given = getattr(args, key)
        if given is None:
            continue
        if stated[key] is not None and _normal(key, given) != _normal(key, stated[key]):
            fail(f"--host {shown(args.host)} says {key} {stated[key]}, but {option} says "
                 f"{given}: give only one of them")
        fields[key] = given
    return fields


def _normal(key: str, value: Any) -> Any:
    if key == "base_path":
        return "/" + str(value).strip("/")
    return value


def cmd_providers_list(args: argparse.Namespace) -> int:
    config = load(args)
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
        fields["headers"] = dict(_split_header(h, args.name) for h in args.header)
    if args.secret_header:
        fields["secret_headers"] = list(dict.fromkeys(args.secret_header))
    if args.models:
        fields["models"] = _models(args.models)
    with editing(config_file(args)) as document:
        existing = document.validated().provider(args.name)
        if existing is not None:
            fail(f"a provider named '{existing.name}' already exists (change it with "
                 f"`mitmllm providers edit {existing.name} ...`)")
        document.add_provider(fields)
    provider = provider_named(document.validated(), args.name)
    print(f"Added provider '{provider.name}': {provider.format} at {provider.url('')}")
    if provider.auth == "api_key":
        print(f"Store its key with: mitmllm providers set-key {provider.name}")
    print(f"Its models route as {provider.slug}/MODEL.")
    return 0


def cmd_providers_edit(args: argparse.Namespace) -> int:
    with editing(config_file(args)) as document:
        current = provider_named(document.validated(), args.name)
        document.update_provider(current.name, _changes(args, current))
    config = document.validated()
    provider = provider_named(config, current.name)
    for name in args.remove_secret_header:
        _delete_quietly(header_account(provider.name, name))
    print(f"Updated provider '{provider.name}': {provider.format} at {provider.url('')}"
          f"{'' if provider.enabled else ' (disabled)'}")
    if args.secret_header or args.remove_secret_header:
        _tell_running_proxy(config.listen, provider.name)
    return 0


def _changes(args: argparse.Namespace, current: ProviderConfig) -> dict[str, Any]:
    """What `providers edit` changes, from its options and the provider as it is."""
    changes = provider_fields(args)
    if args.enabled:
        changes["enabled"] = True
    if args.auto_connect:
        changes["auto_connect"] = True
    headers = dict(current.headers)
    for name in args.remove_header:
        headers.pop(name, None)
    headers.update(_split_header(h, current.name) for h in args.header)
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
    return changes


def _delete_quietly(account: str) -> None:
    try:
        Secrets().delete(account)
    except SecretError:
        pass  # no keychain: nothing could have been stored there


def cmd_providers_remove(args: argparse.Namespace) -> int:
    with editing(config_file(args)) as document:
        provider = provider_named(document.validated(), args.name)
        try:
            removed = Secrets().delete_provider(provider)
        except SecretError as exc:
            if "no system keychain" not in str(exc):
                raise CliError(f"cannot delete the keychain entries of '{provider.name}', so "
                               f"the provider was kept: {exc}") from exc
            removed = []
        document.remove_provider(provider.name)
    extra = f" and {len(removed)} keychain entr{'y' if len(removed) == 1 else 'ies'}" \
        if removed else ""
    print(f"Removed provider '{provider.name}'{extra}.")
    _tell_running_proxy(document.validated().listen, provider.name, removed=True)
    return 0


def _tell_running_proxy(listen: ListenConfig, name: str, *, removed: bool = False) -> None:
    """Best effort: a proxy running on this config's listen address picks up the changed
    secrets now, not when its cache runs out (cli/running_proxy.py)."""
    url = reconnect(listen, name)
    if url is None:
        return
    if removed:  # it drops the provider when it reads the new file, within a second
        print(f"The running mitmllm on {url} dropped its cached keys of '{name}'.")
    else:
        print(f"The running mitmllm on {url} reconnected '{name}'.")


def cmd_providers_toggle(args: argparse.Namespace) -> int:
    enabled = args.action == "enable"
    with editing(config_file(args)) as document:
        provider = provider_named(document.validated(), args.name)
        document.update_provider(provider.name, {"enabled": None if enabled else False})
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


def _env_alternative(provider: ProviderConfig, header: str | None) -> str:
    """The environment variable(s) that can hold this secret instead of the keychain."""
    if header:
        return env_header_name(provider.name, header)
    preset = PRESETS.get(provider.preset)
    names = [env_key_name(provider.name)] + ([preset.env_var] if preset and preset.env_var
                                             else [])
    return " or ".join(names)


def cmd_providers_set_key(args: argparse.Namespace) -> int:
    config = load(args)
    provider = provider_named(config, args.name)
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
    Secrets().set(account, value, env=_env_alternative(provider, args.header))
    print(f"Stored the {what} of '{provider.name}' in the keychain (service mitmllm, "
          f"account {account}).")
    if not args.header and provider.auth == "none":
        print(f"Note: '{provider.name}' has auth: none, so the key is not sent. Send it with "
              f"`mitmllm providers edit {provider.name} --auth api_key`.")
    _tell_running_proxy(config.listen, provider.name)
    return 0


def cmd_providers_test(args: argparse.Namespace) -> int:
    import aiohttp

    from ..addons.connections import probe
    from ..config.auth import SecretCache

    provider = provider_named(load(args), args.name)

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


def cmd_import_osaurus(args: argparse.Namespace) -> int:
    from ..config.osaurus import import_osaurus

    report = import_osaurus(Path(args.path).expanduser() if args.path else None, config_file(args))
    for line in report:
        print(line)
    return 0
