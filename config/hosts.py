"""Host names in the config: what counts as one, and what to do with a URL given instead.

A host is a DNS name (`api.example.com`, `localhost`, `my_service`), an IPv4 address, or an
IPv6 address with or without brackets (`::1`, `[::1]`); the brackets are dropped when it is
read, and URLs put them back. A URL or `HOST:PORT` is not a host: the schema refuses it
with the fields to write instead (`suggestion`), and the CLI splits it into those fields
(`split_address`). Nothing here prints a password that a URL may carry.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_LABEL = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$")  # \w: letters of any script, digits, _
_DEFAULT_PORTS = {"http": 80, "https": 443}


class AddressError(ValueError):
    """A URL or HOST:PORT that cannot be split into the config's fields."""


@dataclass(frozen=True, slots=True)
class Address:
    """The parts of a URL or `HOST[:PORT][/PATH]`; None where the text gave none."""

    host: str
    protocol: str | None = None
    port: int | None = None
    base_path: str | None = None

    @property
    def default_port(self) -> int | None:
        """The port the URL means when it names none: its protocol's."""
        return _DEFAULT_PORTS.get(self.protocol or "")

    def fields(self) -> dict[str, str | int]:
        """The config fields it stands for, in the order a reader expects them."""
        found: dict[str, str | int] = {}
        if self.protocol is not None:
            found["protocol"] = self.protocol
        found["host"] = self.host
        if self.port is not None:
            found["port"] = self.port
        if self.base_path is not None:
            found["base_path"] = self.base_path
        return found


def normalise_host(text: str) -> str | None:
    """The host as it is stored (an IPv6 literal without brackets), or None if it is none."""
    if text.startswith("[") and text.endswith("]"):
        return text[1:-1] if _is_ipv6(text[1:-1]) else None
    if ":" in text:
        return text if _is_ipv6(text) else None
    if re.fullmatch(r"[0-9.]+", text):
        return text if _is_ipv4(text) else None
    name = text[:-1] if text.endswith(".") else text  # a fully qualified name may end in .
    if not name or len(name) > 253:
        return None
    return text if all(_LABEL.match(label) for label in name.split(".")) else None


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def looks_like_address(text: str) -> bool:
    """A URL or `HOST:PORT` / `HOST/PATH` rather than a host (an IPv6 literal is a host)."""
    return normalise_host(text) is None and ("://" in text or ":" in text or "/" in text)


def split_address(text: str) -> Address:
    """`http://127.0.0.1:24401/v1` → protocol http, host 127.0.0.1, port 24401, base path
    /v1. Also `HOST:PORT`, `HOST/PATH` and `[IPv6]:PORT`. A part the text does not give is
    None (a path of `/` gives none either). Raises AddressError."""
    rest = text.strip()
    protocol: str | None = None
    if "://" in rest:
        scheme, _, rest = rest.partition("://")
        protocol = scheme.lower()
        if protocol not in _DEFAULT_PORTS:
            raise AddressError("the protocol is not http or https")
    if "?" in rest or "#" in rest:
        raise AddressError("a base path cannot carry a query or fragment")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        raise AddressError("a user name or password does not belong in the config: leave it "
                           "out and store secrets with `mitmllm providers set-key`")
    host, port_text = _host_and_port(authority)
    stored = normalise_host(host)
    if stored is None:
        raise AddressError("it does not start with a host name or address")
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise AddressError("the port is not a number from 1 to 65535")
        port = int(port_text)
    base_path = "/" + path.strip("/") if slash and path.strip("/") else None
    if base_path is not None and any(c.isspace() for c in base_path):
        raise AddressError("the path contains white space")
    return Address(host=stored, protocol=protocol, port=port, base_path=base_path)


def _host_and_port(authority: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        host, bracket, after = authority.partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise AddressError("an [IPv6] address is not closed")
        return host + "]", after[1:] if after else None
    if authority.count(":") > 1:  # an IPv6 literal with a port needs brackets
        raise AddressError("write an IPv6 address with a port as [ADDRESS]:PORT")
    host, colon, port = authority.partition(":")
    return host, port if colon else None


ADDRESS_FIELDS = ("protocol", "host", "port", "base_path")  # a provider's
LISTEN_FIELDS = ("host", "port")


def suggestion(text: str, fields: tuple[str, ...] = ADDRESS_FIELDS) -> str:
    """What to write instead of a host that is not one (for the schema's error), in terms
    of `fields`, the ones the section has."""
    if looks_like_address(text):
        try:
            parts = split_address(text)
        except AddressError as exc:
            return str(exc)
        return "write " + ", ".join(f"{key}: {value}" for key, value in parts.fields().items()
                                    if key in fields)
    if any(c.isspace() for c in text):
        return "a host name has no spaces"
    if re.fullmatch(r"[0-9.]+", text):
        return "that is not an IPv4 address (four numbers from 0 to 255)"
    return "a host name is letters, digits, - and _ between dots"


def host_error(text: str, fields: tuple[str, ...] = ADDRESS_FIELDS) -> str:
    """The reason a text is not a host, with what to write instead."""
    example = "a host name such as api.example.com" if "protocol" in fields \
        else "an address such as 127.0.0.1"
    return (f"expected {example}, got {shown(text)!r}; "
            f"{suggestion(text, fields)}")


def shown(text: str) -> str:
    """The text with any password (`user:password@`) of a URL masked."""
    return re.sub(r"(://)?[^/@\s]*@", lambda m: (m.group(1) or "") + "***@", text, count=1)
