"""Host values in the config (docs/architecture.md#configuration): a host is a name or an
address, never a URL. `providers add k --host http://127.0.0.1:24401/v1` once became
`https://[http://127.0.0.1:24401/v1]/v1`; the schema (which the CLI and the admin page
share) refuses such a value on field `host` and says which fields to write instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mitmllm.config.hosts import AddressError, normalise_host, split_address
from mitmllm.config.schema import ConfigError
from mitmllm.config.store import parse_text

PATH = Path("/home/user/.config/mitmllm/config.yaml")


def provider_with(field: str, value: str) -> str:
    return f"providers:\n  - name: p\n    host: h.test\n    {field}: '{value}'\n"


def refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_text(text, PATH)
    return caught.value


@pytest.mark.parametrize(("host", "suggestion"), [
    ("http://127.0.0.1:24401/v1",
     "write protocol: http, host: 127.0.0.1, port: 24401, base_path: /v1"),
    ("https://api.example.com", "write protocol: https, host: api.example.com"),
    ("HTTPS://api.example.com/api/v1/", "write protocol: https, host: api.example.com, "
                                        "base_path: /api/v1"),
    ("localhost:11434", "write host: localhost, port: 11434"),
    ("api.example.com/v1", "write host: api.example.com, base_path: /v1"),
    ("http://[::1]:8080/v1", "write protocol: http, host: ::1, port: 8080, base_path: /v1"),
    ("[::1]:8080", "write host: ::1, port: 8080"),
    ("ftp://files.example.com", "the protocol is not http or https"),
    ("http://h.test:99999", "the port is not a number from 1 to 65535"),
    ("http://h.test/v1?x=1", "a base path cannot carry a query or fragment"),
    ("api example.com", "a host name has no spaces"),
    ("api.example.com ", "a host name has no spaces"),
    ("999.1.1.1", "that is not an IPv4 address (four numbers from 0 to 255)"),
    ("-bad-.example.com", "a host name is letters, digits, - and _ between dots"),
    ("a..b", "a host name is letters, digits, - and _ between dots"),
    ("[not-v6]", "a host name is letters, digits, - and _ between dots"),
])
def test_a_host_that_is_not_one_is_refused_with_what_to_write(host: str,
                                                              suggestion: str) -> None:
    error = refused(provider_with("host", host))
    assert str(error) == (f"{PATH}: provider 'p': field 'host': expected a host name such as "
                          f"api.example.com, got {host!r}; {suggestion}")
    assert (error.provider, error.field) == ("p", "host")


def test_the_message_of_the_reported_case_reads_as_documented() -> None:
    error = refused("providers:\n  - name: k\n    host: http://127.0.0.1:24401/v1\n")
    assert str(error) == (f"{PATH}: provider 'k': field 'host': expected a host name such as "
                          "api.example.com, got 'http://127.0.0.1:24401/v1'; write protocol: "
                          "http, host: 127.0.0.1, port: 24401, base_path: /v1")


def test_a_password_in_a_url_is_never_repeated() -> None:
    message = str(refused(provider_with("host", "https://me:hunter2@h.test/v1")))
    assert "hunter2" not in message
    assert "got 'https://***@h.test/v1'" in message and "set-key" in message


@pytest.mark.parametrize(("host", "stored", "origin"), [
    ("api.example.com", "api.example.com", "https://api.example.com"),
    ("localhost", "localhost", "https://localhost"),
    ("my_service", "my_service", "https://my_service"),  # compose service names
    ("api.example.com.", "api.example.com.", "https://api.example.com."),
    ("bücher.example", "bücher.example", "https://bücher.example"),
    ("10.0.0.7", "10.0.0.7", "https://10.0.0.7"),
    ("::1", "::1", "https://[::1]"),
    ("[::1]", "::1", "https://[::1]"),
    ("[2001:db8::7]", "2001:db8::7", "https://[2001:db8::7]"),
    ("fe80::1%eth0", "fe80::1%eth0", "https://[fe80::1%eth0]"),
])
def test_names_and_addresses_are_hosts_and_ipv6_loses_its_brackets(host: str, stored: str,
                                                                   origin: str) -> None:
    (provider,) = parse_text(provider_with("host", host), PATH).providers
    assert (provider.host, provider.origin) == (stored, origin)


@pytest.mark.parametrize(("host", "stored"), [
    ("0.0.0.0", "0.0.0.0"), ("'::'", "::"), ("'[::1]'", "::1"), ("localhost", "localhost")])
def test_listen_hosts_take_the_same_rule(host: str, stored: str) -> None:
    text = f"listen:\n  host: {host}\n  token: t0ken\n"
    assert parse_text(text, PATH).listen.host == stored


def test_a_url_as_listen_host_suggests_only_listen_fields() -> None:
    error = refused("listen:\n  host: http://0.0.0.0:8080/v1\n")
    assert str(error) == (f"{PATH}: field 'listen.host': expected an address such as "
                          "127.0.0.1, got 'http://0.0.0.0:8080/v1'; write host: 0.0.0.0, "
                          "port: 8080")


@pytest.mark.parametrize(("base_path", "reason"), [
    ("http://h.test/v1", "expected a path such as /v1, got 'http://h.test/v1'; the protocol "
                         "and host are fields of their own"),
    ("/v1 beta", "expected a path such as /v1 (no spaces, query or fragment), got '/v1 beta'"),
    ("/v1?key=x", "expected a path such as /v1 (no spaces, query or fragment), got "
                  "'/v1?key=x'"),
])
def test_a_base_path_is_a_path(base_path: str, reason: str) -> None:
    error = refused(provider_with("base_path", base_path))
    assert str(error) == f"{PATH}: provider 'p': field 'base_path': {reason}"


def test_a_base_path_without_its_slash_gets_one() -> None:
    (provider,) = parse_text(provider_with("base_path", "api/v1"), PATH).providers
    assert provider.base_path == "/api/v1"


@pytest.mark.parametrize(("text", "parts"), [
    ("http://127.0.0.1:24401/v1", ("127.0.0.1", "http", 24401, "/v1")),
    ("https://api.example.com", ("api.example.com", "https", None, None)),
    ("https://api.example.com/", ("api.example.com", "https", None, None)),
    ("localhost:1234", ("localhost", None, 1234, None)),
    ("[::1]", ("::1", None, None, None)),
    ("http://[fe80::1]/x/y/", ("fe80::1", "http", None, "/x/y")),
])
def test_split_address(text: str, parts: tuple[object, ...]) -> None:
    address = split_address(text)
    assert (address.host, address.protocol, address.port, address.base_path) == parts


@pytest.mark.parametrize("text", ["http://", "http://:80", "::1:8080", "http://[::1",
                                  "gopher://h", "h:port", "http://a b/"])
def test_split_address_refuses_what_it_cannot_split(text: str) -> None:
    with pytest.raises(AddressError):
        split_address(text)


def test_normalise_host_takes_names_and_addresses_only() -> None:
    assert [normalise_host(h) for h in ("a.b", "[::1]", "1.2.3.4", "a/b", "a:1", "", "x" * 64)] \
        == ["a.b", "::1", "1.2.3.4", None, None, None, None]
