"""Import Osaurus' remote providers (`~/.osaurus/providers/remote.json`) with their secrets.

Osaurus stores `{"providers": [{id, name, host, providerProtocol, port, basePath,
customHeaders, authType, providerType, enabled, autoConnect, timeout, secretHeaderKeys}]}`
and keeps the secrets in the keychain service `ai.osaurus.remote`, accounts `<id>.apiKey`
and `<id>.header.<Name>`. Each provider becomes a mitmllm provider with the same settings;
its secrets are copied into mitmllm's own keychain entries. A provider whose name is already
configured is skipped, never overwritten.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .model import slug
from .presets import PRESETS
from .schema import ConfigError
from .secrets import SecretError, Secrets, api_key_account, header_account
from .store import editing

OSAURUS_SERVICE = "ai.osaurus.remote"
DEFAULT_PATH = Path("~/.osaurus/providers/remote.json")
_FORMATS = {"openai": "openai", "anthropic": "anthropic", "openResponses": "responses"}
_AUTH = {"none": "none", "apiKey": "api_key"}


def _preset_for(host: str, fmt: str) -> str:
    for preset in PRESETS.values():
        if preset.host == host and preset.format == fmt:
            return preset.id
    return "custom"


def provider_fields(entry: dict[str, Any]) -> dict[str, Any]:
    """mitmllm config fields for one Osaurus provider entry."""
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a provider without a name")
    host = str(entry.get("host", "")).strip()
    base_path = str(entry.get("basePath", "/v1") or "")
    port = entry.get("port")
    # Osaurus accepts "host:port" and "host/path" in the host field; split them out.
    if "/" in host:
        host, _, extra = host.partition("/")
        base_path = "/" + "/".join(p for p in (extra.strip("/"), base_path.strip("/")) if p)
    if ":" in host and host.rsplit(":", 1)[1].isdigit():
        host, _, port_text = host.rpartition(":")
        port = port if isinstance(port, int) else int(port_text)
    fmt = _FORMATS.get(str(entry.get("providerType", "openai")), "openai")
    fields: dict[str, Any] = {
        "name": name,
        "preset": _preset_for(host, fmt),
        "host": host,
        "protocol": entry.get("providerProtocol", "https"),
        "base_path": base_path or "/v1",
        "format": fmt,
        "auth": _AUTH.get(str(entry.get("authType", "none")), "none"),
        "enabled": bool(entry.get("enabled", True)),
        "auto_connect": bool(entry.get("autoConnect", True)),
        "timeout": float(entry.get("timeout", 60) or 60),
    }
    if isinstance(port, int):
        fields["port"] = port
    headers = entry.get("customHeaders") or {}
    if isinstance(headers, dict) and headers:
        fields["headers"] = {str(k): str(v) for k, v in headers.items()}
    secret_keys = entry.get("secretHeaderKeys") or []
    if isinstance(secret_keys, list) and secret_keys:
        fields["secret_headers"] = [str(k) for k in secret_keys]
    return fields


def import_osaurus(source: Path | None, config_file: Path, *,
                   secrets: Secrets | None = None,
                   osaurus_secrets: Secrets | None = None) -> list[str]:
    """Import into `config_file`; returns one report line per provider."""
    path = (source or DEFAULT_PATH).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("no Osaurus provider file here (Osaurus keeps it in "
                          "~/.osaurus/providers/remote.json)", path=path) from exc
    except ValueError as exc:
        raise ConfigError(f"not valid JSON: {exc}", path=path) from exc
    entries = data.get("providers") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ConfigError("expected {\"providers\": [...]}", path=path)
    ours = secrets or Secrets()
    theirs = osaurus_secrets or Secrets(OSAURUS_SERVICE)
    report: list[str] = []
    with editing(config_file) as document:
        for index, entry in enumerate(entries):
            try:
                fields = provider_fields(entry if isinstance(entry, dict) else {})
            except (ValueError, TypeError) as exc:
                report.append(f"skipped providers[{index}]: {exc}")
                continue
            if document.validated().provider(fields["name"]) is not None:
                report.append(f"skipped '{fields['name']}': a provider of that name exists")
                continue
            try:
                document.add_provider(fields)
            except ConfigError as exc:
                report.append(f"skipped '{fields['name']}': {exc.reason}")
                continue
            copied = _copy_secrets(str(entry.get("id", "")), fields, ours, theirs)
            report.append(f"imported '{fields['name']}' as {slug(fields['name'])}/MODEL "
                          f"({fields['format']}, {copied} secret(s) copied)")
    return report


def _copy_secrets(osaurus_id: str, fields: dict[str, Any], ours: Secrets,
                  theirs: Secrets) -> int:
    if not osaurus_id:
        return 0
    pairs = [(f"{osaurus_id}.apiKey", api_key_account(fields["name"]))]
    pairs += [(f"{osaurus_id}.header.{h}", header_account(fields["name"], h))
              for h in fields.get("secret_headers", [])]
    copied = 0
    for source_account, target_account in pairs:
        try:
            value = theirs.get_raw(source_account)
        except SecretError:
            return copied  # no keychain: there is nothing to copy
        if value:
            ours.set(target_account, value)
            copied += 1
    return copied
