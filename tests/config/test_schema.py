"""Validation of the YAML config into `GatewayConfig` (docs/architecture.md#configuration).

Every refusal must name the file, the provider and the field, so a user can find the line;
the expectations here are written out from the contract, not taken from the code's output.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mitmllm.config.model import GatewayConfig, ListenConfig, LocalConfig, ProviderConfig
from mitmllm.config.schema import ConfigError, parse_config
from mitmllm.config.store import load_config, parse_text

PATH = Path("/home/user/.config/mitmllm/config.yaml")

# The annotated example of the configuration contract (docs/architecture.md#configuration),
# as the README shows it but for two shorter comments.
CONTRACT_EXAMPLE = """\
listen:
  host: 127.0.0.1
  port: 1337
  token: null                # required when host is not loopback: clients send it as Bearer / x-api-key
  max_body_mb: 32
providers:
  - name: anthropic          # unique; also the model prefix
    preset: anthropic        # anthropic | openai | xai | openrouter | custom: fills the fields below
    host: api.anthropic.com
    protocol: https          # http | https
    port: 443                # optional: protocol default
    base_path: /v1
    format: anthropic        # openai | anthropic | responses
    auth: api_key            # none | api_key
    enabled: true
    auto_connect: true
    timeout: 60              # seconds
    headers: {X-Team: blue}  # plain custom headers
    secret_headers: [X-Org-Token]   # names only; values live in the keychain
    models: []               # optional static ids or globs; else discovered
    max_tokens_default: 4096 # used when an Anthropic-format provider needs max_tokens and the client gave none
local:
  enabled: true
  model_dirs: []             # scanned with the Hugging Face cache for MLX models
  max_loaded: 1              # models kept in memory at once (LRU)
"""  # noqa: E501


def parse(text: str) -> GatewayConfig:
    return parse_text(text, PATH)


def refused(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value


def provider_yaml(**fields: Any) -> str:
    """One provider `p` on a custom host, with `fields` written as YAML flow values."""
    body = {"name": "p", "host": "example.test", **fields}
    lines = [f"    {key}: {value}" for key, value in body.items()]
    return "providers:\n  - " + "\n".join(lines).lstrip() + "\n"


def only_provider(text: str) -> ProviderConfig:
    (provider,) = parse(text).providers
    return provider


def test_the_contract_example_parses_to_its_values() -> None:
    config = parse(CONTRACT_EXAMPLE)
    assert config.listen == ListenConfig("127.0.0.1", 1337, None, 32)
    assert config.local == LocalConfig(enabled=True, model_dirs=(), max_loaded=1)
    assert config.path == PATH
    assert config.providers == (ProviderConfig(
        name="anthropic", host="api.anthropic.com", preset="anthropic", protocol="https",
        port=443, base_path="/v1", format="anthropic", auth="api_key", enabled=True,
        auto_connect=True, timeout=60.0, headers=(("X-Team", "blue"),),
        secret_headers=("X-Org-Token",), models=(), max_tokens_default=4096),)
    assert config.providers[0].url("/messages") == "https://api.anthropic.com/v1/messages"


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n", "providers:\n",
                                  "listen:\nproviders:\nlocal:\n"])
def test_an_empty_file_is_the_default_config(text: str) -> None:
    config = parse(text)
    assert config == GatewayConfig(path=PATH)
    assert (config.listen.host, config.listen.port, config.listen.token) == ("127.0.0.1", 1337,
                                                                             None)
    assert config.listen.max_body_mb == 32
    assert config.providers == ()
    assert (config.local.enabled, config.local.model_dirs, config.local.max_loaded) == (
        True, (), 1)


def test_a_missing_file_is_the_default_config(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "config.yaml"
    assert load_config(path) == GatewayConfig(path=path)


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("preset", "ollama", "expected one of anthropic, openai, xai, openrouter, custom, got "
                         "'ollama'"),
    ("preset", "1", "expected a string, got 1"),
    ("host", "[a, b]", "expected a string, got ['a', 'b']"),
    ("protocol", "ftp", "expected one of http, https, got 'ftp'"),
    ("port", "abc", "expected an integer from 1 to 65535, got 'abc'"),
    ("port", "0", "expected an integer from 1 to 65535, got 0"),
    ("port", "65536", "expected an integer from 1 to 65535, got 65536"),
    ("port", "-1", "expected an integer from 1 to 65535, got -1"),
    ("port", "443.5", "expected an integer from 1 to 65535, got 443.5"),
    ("port", "true", "expected an integer from 1 to 65535, got True"),
    ("port", '"8080"', "expected an integer from 1 to 65535, got '8080'"),
    ("base_path", "5", "expected a string, got 5"),
    ("format", "gemini", "expected one of openai, anthropic, responses, got 'gemini'"),
    ("format", "OpenAI", "expected one of openai, anthropic, responses, got 'OpenAI'"),
    ("auth", "bearer", "expected one of none, api_key, got 'bearer'"),
    ("enabled", '"yes"', "expected true or false, got 'yes'"),
    ("enabled", "1", "expected true or false, got 1"),
    ("auto_connect", "null", "expected true or false, got None"),
    ("timeout", "0", "expected a number greater than 0, got 0"),
    ("timeout", "-5", "expected a number greater than 0, got -5"),
    ("timeout", '"60"', "expected a number greater than 0, got '60'"),
    ("timeout", "true", "expected a number greater than 0, got True"),
    ("headers", "[X-Team]", "expected a mapping of header names to values, got ['X-Team']"),
    ("headers", '{"bad name": x}', "'bad name' is not a valid header name"),
    ("headers", "{X-Team: [a]}", "the value of X-Team must be a string (quote it)"),
    ("headers", "{X-Team: true}", "the value of X-Team must be a string (quote it)"),
    ("secret_headers", "X-Org", "expected a list of non-empty strings, got 'X-Org'"),
    ("secret_headers", '[""]', "expected a list of non-empty strings, got ['']"),
    ("secret_headers", '["X Org"]', "'X Org' is not a valid header name"),
    ("models", "gpt-4o", "expected a list of non-empty strings, got 'gpt-4o'"),
    ("models", "[1]", "expected a list of non-empty strings, got [1]"),
    ("max_tokens_default", "0", "expected an integer from 1 to 10000000, got 0"),
    ("max_tokens_default", "many", "expected an integer from 1 to 10000000, got 'many'"),
])
def test_a_bad_provider_field_is_named_with_file_provider_and_field(
        field: str, value: str, expected: str) -> None:
    error = refused(provider_yaml(**{field: value}))
    assert str(error) == f"{PATH}: provider 'p': field '{field}': {expected}"
    assert (error.path, error.provider, error.field) == (PATH, "p", field)


def test_the_message_of_the_design_example_reads_as_documented() -> None:
    error = refused("providers:\n  - name: ollama\n    host: localhost\n    port: abc\n")
    assert str(error) == (f"{PATH}: provider 'ollama': field 'port': expected an integer "
                          "from 1 to 65535, got 'abc'")


@pytest.mark.parametrize(("text", "field", "expected"), [
    ("listen:\n  host: 1\n", "listen.host", "expected a string, got 1"),
    ("listen:\n  port: 0\n", "listen.port", "expected an integer from 1 to 65535, got 0"),
    ("listen:\n  port: 70000\n", "listen.port", "expected an integer from 1 to 65535, got 70000"),
    ("listen:\n  port: http\n", "listen.port", "expected an integer from 1 to 65535, got 'http'"),
    ("listen:\n  token: 12345\n", "listen.token", "expected a string, got 12345"),
    ("listen:\n  max_body_mb: 0\n", "listen.max_body_mb",
     "expected a number greater than 0, got 0"),
    ("listen:\n  max_body_mb: big\n", "listen.max_body_mb",
     "expected a number greater than 0, got 'big'"),
    ("local:\n  enabled: sometimes\n", "local.enabled", "expected true or false, got 'sometimes'"),
    ("local:\n  model_dirs: /models\n", "local.model_dirs",
     "expected a list of non-empty strings, got '/models'"),
    ("local:\n  max_loaded: 0\n", "local.max_loaded", "expected an integer from 1 to 64, got 0"),
    ("local:\n  max_loaded: 65\n", "local.max_loaded",
     "expected an integer from 1 to 64, got 65"),
    ("listen: 1337\n", "listen", "expected a mapping"),
    ("local: [a]\n", "local", "expected a mapping"),
    ("providers:\n  name: openai\n", "providers", "expected a list of providers"),
])
def test_a_bad_listen_or_local_field_is_named(text: str, field: str, expected: str) -> None:
    error = refused(text)
    assert str(error) == f"{PATH}: field '{field}': {expected}"
    assert error.provider is None


@pytest.mark.parametrize(("text", "where", "suggestion"), [
    (provider_yaml(bas_path="/v2"), "provider 'p': field 'bas_path'", "base_path"),
    (provider_yaml(secret_header="[X]"), "provider 'p': field 'secret_header'",
     "secret_headers"),
    (provider_yaml(auto_conect="false"), "provider 'p': field 'auto_conect'", "auto_connect"),
    (provider_yaml(protcol="http"), "provider 'p': field 'protcol'", "protocol"),
    ("listen:\n  prot: 1\n", "field 'listen.prot'", "port"),
    ("local:\n  model_dir: []\n", "field 'local.model_dir'", "model_dirs"),
    ("provider: []\n", "field 'provider'", "providers"),
])
def test_an_unknown_field_is_refused_with_a_suggestion(text: str, where: str,
                                                       suggestion: str) -> None:
    message = str(refused(text))
    assert message.startswith(f"{PATH}: {where}: unknown field (did you mean '{suggestion}'?)")
    assert "known fields: " in message


def test_an_unknown_field_without_a_close_match_lists_the_known_ones() -> None:
    message = str(refused(provider_yaml(colour="blue")))
    assert message.startswith(f"{PATH}: provider 'p': field 'colour': unknown field; known "
                              "fields: name, host, preset, protocol, port, base_path")
    assert "did you mean" not in message


@pytest.mark.parametrize(("provider", "expected"), [
    ("[openai]", "providers[0]: expected a mapping with at least a name"),
    ("{host: h}", "providers[0]: field 'name': expected a non-empty string"),
    ('{name: "  ", host: h}', "providers[0]: field 'name': expected a non-empty string"),
    ("{name: 1, host: h}", "providers[0]: field 'name': 1 is not a string; put the name in "
                           "quotes"),
    ("{name: off, host: h}", "providers[0]: field 'name': False is not a string; put the name "
                             "in quotes"),
])
def test_a_provider_without_a_usable_name_is_located_by_index(provider: str,
                                                              expected: str) -> None:
    assert str(refused(f"providers:\n  - {provider}\n")) == f"{PATH}: {expected}"


def test_the_index_of_a_nameless_provider_counts_from_zero() -> None:
    text = "providers:\n  - {name: a, host: h}\n  - {host: h}\n"
    assert str(refused(text)) == (f"{PATH}: providers[1]: field 'name': expected a "
                                  "non-empty string")


@pytest.mark.parametrize(("first", "second"), [
    ("openai", "OpenAI"),
    ("My Provider", "my-provider"),
    ("acme/prod", "acme-prod"),
    ("Team  A", "team-a"),
    ("a b/c", "A-B-C"),
])
def test_duplicate_names_are_compared_as_model_prefixes(first: str, second: str) -> None:
    text = (f"providers:\n  - {{name: '{first}', host: h1}}\n"
            f"  - {{name: '{second}', host: h2}}\n")
    error = refused(text)
    assert (error.provider, error.field) == (second, "name")
    assert str(error).startswith(f"{PATH}: provider '{second}': field 'name': the name is "
                                 f"already used by provider '{first}'")


def test_names_that_only_look_alike_are_distinct() -> None:
    text = ("providers:\n  - {name: acme, host: h}\n  - {name: acme-prod, host: h}\n"
            "  - {name: acme_prod, host: h}\n")
    assert [p.name for p in parse(text).providers] == ["acme", "acme-prod", "acme_prod"]


@pytest.mark.parametrize("name", ["local", "Local", "LOCAL", " local "])
def test_local_is_reserved_for_local_models(name: str) -> None:
    error = refused(f"providers:\n  - {{name: '{name}', host: localhost}}\n")
    assert (error.provider, error.field) == (name, "name")
    assert "'local' is reserved for local MLX models" in str(error)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "'::'", "gateway.lan"])
def test_a_non_loopback_listen_host_needs_a_token(host: str) -> None:
    error = refused(f"listen:\n  host: {host}\n")
    assert error.field == "listen.token"
    assert str(error).startswith(f"{PATH}: field 'listen.token': required when listening on "
                                 f"{host.strip(chr(39))}, which is not loopback")
    with_token = parse(f"listen:\n  host: {host}\n  token: s3cret-token\n")
    assert with_token.listen.token == "s3cret-token"


def test_the_listen_token_may_come_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A container keeps the file in a ConfigMap and the token in a Secret
    (deploy/k8s/): MITMLLM_LISTEN_TOKEN counts where the file has no token."""
    monkeypatch.setenv("MITMLLM_LISTEN_TOKEN", "from-the-env")
    assert parse("listen:\n  host: 0.0.0.0\n").listen.token == "from-the-env"
    assert parse("listen:\n  host: 0.0.0.0\n  token: in-the-file\n").listen.token \
        == "in-the-file"
    monkeypatch.setenv("MITMLLM_LISTEN_TOKEN", "")
    assert "or set MITMLLM_LISTEN_TOKEN" in str(refused("listen:\n  host: 0.0.0.0\n"))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "'::1'"])
def test_a_loopback_listen_host_needs_no_token(host: str) -> None:
    assert parse(f"listen:\n  host: {host}\n").listen.token is None


def test_an_empty_token_counts_as_none_on_a_public_host() -> None:
    assert refused("listen:\n  host: 0.0.0.0\n  token: ''\n").field == "listen.token"


# (preset, host, protocol, port, base_path, format, auth, url of /models), as the README's
# preset table and docs/architecture.md#configuration give them.
PRESET_TABLE = [
    ("anthropic", "api.anthropic.com", "https", 443, "/v1", "anthropic", "api_key",
     "https://api.anthropic.com/v1/models"),
    ("openai", "api.openai.com", "https", 443, "/v1", "openai", "api_key",
     "https://api.openai.com/v1/models"),
    ("xai", "api.x.ai", "https", 443, "/v1", "openai", "api_key", "https://api.x.ai/v1/models"),
    ("openrouter", "openrouter.ai", "https", 443, "/api/v1", "openai", "api_key",
     "https://openrouter.ai/api/v1/models"),
]


@pytest.mark.parametrize(("preset", "host", "protocol", "port", "base_path", "fmt", "auth",
                          "url"), PRESET_TABLE)
def test_a_preset_fills_the_connection_fields(preset: str, host: str, protocol: str,
                                              port: int, base_path: str, fmt: str, auth: str,
                                              url: str) -> None:
    provider = only_provider(f"providers:\n  - {{name: mine, preset: {preset}}}\n")
    assert (provider.preset, provider.host, provider.protocol, provider.effective_port,
            provider.base_path, provider.format, provider.auth) == (
        preset, host, protocol, port, base_path, fmt, auth)
    assert provider.url("/models") == url


@pytest.mark.parametrize(("name", "preset", "url"), [
    ("anthropic", "anthropic", "https://api.anthropic.com/v1/models"),
    ("OpenAI", "openai", "https://api.openai.com/v1/models"),
    ("xAI", "xai", "https://api.x.ai/v1/models"),
    ("OpenRouter", "openrouter", "https://openrouter.ai/api/v1/models"),
])
def test_a_provider_named_after_a_preset_takes_it(name: str, preset: str, url: str) -> None:
    provider = only_provider(f"providers:\n  - name: {name}\n")
    assert (provider.preset, provider.url("/models")) == (preset, url)


def test_an_explicit_preset_beats_the_name() -> None:
    provider = only_provider("providers:\n  - {name: openai, preset: custom, host: localhost,"
                             " protocol: http, port: 8000}\n")
    assert (provider.preset, provider.auth) == ("custom", "none")
    assert provider.url("/models") == "http://localhost:8000/v1/models"


def test_the_custom_preset_needs_a_host_and_defaults_the_rest() -> None:
    error = refused("providers:\n  - {name: my-server, preset: custom}\n")
    assert str(error) == (f"{PATH}: provider 'my-server': field 'host': required for a custom "
                          "provider (e.g. localhost)")
    assert refused("providers:\n  - {name: my-server}\n").field == "host"
    provider = only_provider("providers:\n  - {name: my-server, host: llm.internal}\n")
    assert (provider.preset, provider.protocol, provider.port, provider.base_path,
            provider.format, provider.auth) == ("custom", "https", None, "/v1", "openai", "none")
    assert provider.url("/chat/completions") == "https://llm.internal/v1/chat/completions"


def test_explicit_fields_override_the_preset() -> None:
    provider = only_provider(
        "providers:\n  - {name: proxy, preset: anthropic, host: 127.0.0.1, protocol: http,"
        " port: 8080, base_path: /anthropic, auth: none, format: anthropic}\n")
    assert provider.url("/messages") == "http://127.0.0.1:8080/anthropic/messages"
    assert provider.auth == "none"


@pytest.mark.parametrize(("example", "url"), [
    ("{host: localhost, protocol: http, port: 11434, auth: none}",
     "http://localhost:11434/v1/models"),
    ("{host: localhost, protocol: http, port: 1234, auth: none}",
     "http://localhost:1234/v1/models"),
])
def test_the_documented_custom_examples_parse(example: str, url: str) -> None:
    provider = only_provider(f"providers:\n  - {{name: local-llm, preset: custom, "
                             f"{example[1:]}\n")
    assert provider.url("/models") == url


@pytest.mark.parametrize(("base_path", "stored", "url"), [
    ("/v1", "/v1", "https://h.test/v1/models"),
    ("v1", "/v1", "https://h.test/v1/models"),
    ("/api/v1/", "/api/v1", "https://h.test/api/v1/models"),
    ("api/v1/", "/api/v1", "https://h.test/api/v1/models"),
    ("/", "", "https://h.test/models"),
    ("''", "", "https://h.test/models"),
])
def test_base_path_is_normalised(base_path: str, stored: str, url: str) -> None:
    provider = only_provider(f"providers:\n  - {{name: p, host: h.test, base_path: {base_path}}}"
                             "\n")
    assert provider.base_path == stored
    assert provider.url("/models") == url


@pytest.mark.parametrize(("fields", "origin"), [
    ("protocol: http", "http://h.test"),
    ("{protocol: http, port: 80}", "http://h.test"),
    ("{protocol: https, port: 8443}", "https://h.test:8443"),
    ("{protocol: http, port: 443}", "http://h.test:443"),
])
def test_the_origin_omits_only_the_protocol_default_port(fields: str, origin: str) -> None:
    inner = fields.strip("{}")
    provider = only_provider("providers:\n  - {name: p, host: h.test, " + inner + "}\n")
    assert provider.origin == origin


def test_an_ipv6_host_is_bracketed_in_urls() -> None:
    provider = only_provider("providers:\n  - {name: p, host: '::1', protocol: http, "
                             "port: 8000}\n")
    assert provider.url("/models") == "http://[::1]:8000/v1/models"


def test_headers_numbers_are_kept_as_strings_and_lists_as_tuples() -> None:
    provider = only_provider(provider_yaml(headers="{X-Team: blue, X-Version: 2}",
                                           secret_headers="[X-Org-Token, X-Other]",
                                           models="[gpt-4o, 'claude-*']"))
    assert provider.headers == (("X-Team", "blue"), ("X-Version", "2"))
    assert provider.secret_headers == ("X-Org-Token", "X-Other")
    assert provider.models == ("gpt-4o", "claude-*")


def test_local_model_dirs_expand_the_home_folder(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = parse("local:\n  model_dirs: [~/models, /srv/mlx]\n  max_loaded: 3\n")
    assert config.local.model_dirs == (tmp_path / "models", Path("/srv/mlx"))
    assert config.local.max_loaded == 3


@pytest.mark.parametrize("data", [[], "text", 42])
def test_a_document_that_is_not_a_mapping_is_refused(data: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, PATH)
    assert str(caught.value) == (f"{PATH}: the file must hold a mapping with listen, "
                                 "providers, local")


@pytest.mark.parametrize(("text", "where"), [
    ("providers:\n  - name: a\n    host: h: x\n", "line 3, column 12"),
    ("listen:\n  host: 127.0.0.1\n   port: 1\n", "line 3, column 8"),
    ("providers:\n  - name: a\n\thost: b\n", "line 3, column 1"),
])
def test_invalid_yaml_is_reported_with_line_and_column(text: str, where: str) -> None:
    message = str(refused(text))
    assert message.startswith(f"{PATH}: {where}: invalid YAML: ")
    assert "\n" not in message


def test_a_file_on_disk_is_named_in_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("providers:\n  - name: ollama\n    host: localhost\n    port: 0\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: provider 'ollama': field 'port': ")


@pytest.mark.parametrize("text", [provider_yaml(timeout=".nan"),
                                  "listen:\n  max_body_mb: .nan\n"],
                         ids=["timeout", "max_body_mb"])
def test_not_a_number_is_not_a_number_greater_than_zero(text: str) -> None:
    assert "expected a number greater than 0, got nan" in str(refused(text))


@pytest.mark.parametrize(("value", "expected"), [(None, "drop"), ("drop", "drop"),
                                                 ("refuse", "refuse")])
def test_hosted_tools_defaults_to_drop(value: str | None, expected: str) -> None:
    fields = {} if value is None else {"hosted_tools": value}
    assert only_provider(provider_yaml(**fields)).hosted_tools == expected


def test_an_unknown_hosted_tools_value_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(provider_yaml(hosted_tools="ignore"))
    assert "field 'hosted_tools': expected one of drop, refuse, got 'ignore'" in str(caught.value)
