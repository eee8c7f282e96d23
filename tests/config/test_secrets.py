"""Provider secrets (docs/architecture.md#secrets): keychain service `mitmllm`, account `NAME`
and `NAME:HEADER`; environment fallbacks; auth headers by format; messages that say what to do
and never contain a secret.

"No keychain" is `keyring.backends.fail` pinned in-process; round-trips through a real backend
run only under `./dev test` (private gnome-keyring Secret Service, `keyring` marker).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from support.keyrings import forget, unique_name

from mitmllm.config.auth import (
    ANTHROPIC_VERSION,
    MissingKeyError,
    ProviderHeaders,
    SecretCache,
    resolve_headers,
)
from mitmllm.config.model import ProviderConfig, env_key_name
from mitmllm.config.secrets import (
    SERVICE,
    SecretError,
    Secrets,
    SecretSource,
    env_header_name,
)
from mitmllm.config.store import parse_text

SECRET = "sk-test-9f8e7d6c5b4a"
OTHER_SECRET = "sk-other-0123456789"


def provider(text: str) -> ProviderConfig:
    """One provider from a YAML flow mapping, through the real schema (presets included)."""
    (parsed,) = parse_text(f"providers:\n  - {text}\n").providers
    return parsed


def assert_clean(message: str, *secrets: str) -> None:
    assert "Traceback" not in message
    assert "\n" not in message
    for secret in secrets:
        assert secret not in message


@pytest.mark.parametrize(("name", "variable"), [
    ("openai", "MITMLLM_KEY_OPENAI"),
    ("My Provider", "MITMLLM_KEY_MY_PROVIDER"),
    ("my-provider", "MITMLLM_KEY_MY_PROVIDER"),
    ("acme/prod", "MITMLLM_KEY_ACME_PROD"),
    ("Open Router 2", "MITMLLM_KEY_OPEN_ROUTER_2"),
    ("lm.studio", "MITMLLM_KEY_LM_STUDIO"),
])
def test_the_environment_variable_of_a_provider(name: str, variable: str) -> None:
    assert env_key_name(name) == variable


def test_the_environment_variable_of_a_secret_header() -> None:
    assert env_header_name("my-prov", "X-Org-Token") == "MITMLLM_KEY_MY_PROV_X_ORG_TOKEN"
    assert env_header_name("Acme Prod", "x-team") == "MITMLLM_KEY_ACME_PROD_X_TEAM"


@pytest.mark.parametrize(("spec", "environ", "expected"), [
    ("{name: openai}", {"MITMLLM_KEY_OPENAI": SECRET, "OPENAI_API_KEY": OTHER_SECRET},
     SecretSource(SECRET, "MITMLLM_KEY_OPENAI")),
    ("{name: openai}", {"OPENAI_API_KEY": OTHER_SECRET},
     SecretSource(OTHER_SECRET, "OPENAI_API_KEY")),
    ("{name: Work Claude, preset: anthropic}", {"ANTHROPIC_API_KEY": SECRET},
     SecretSource(SECRET, "ANTHROPIC_API_KEY")),
    ("{name: grok, preset: xai}", {"XAI_API_KEY": SECRET}, SecretSource(SECRET, "XAI_API_KEY")),
    ("{name: or, preset: openrouter}", {"OPENROUTER_API_KEY": SECRET},
     SecretSource(SECRET, "OPENROUTER_API_KEY")),
    ("{name: My Provider, host: h, auth: api_key}", {"MITMLLM_KEY_MY_PROVIDER": SECRET},
     SecretSource(SECRET, "MITMLLM_KEY_MY_PROVIDER")),
    ("{name: acme/prod, host: h, auth: api_key}", {"MITMLLM_KEY_ACME_PROD": SECRET},
     SecretSource(SECRET, "MITMLLM_KEY_ACME_PROD")),
    # A custom provider has no conventional variable: OPENAI_API_KEY is not its key.
    ("{name: vllm, host: h, auth: api_key}", {"OPENAI_API_KEY": SECRET}, None),
    # An empty variable is no key.
    ("{name: openai}", {"MITMLLM_KEY_OPENAI": "", "OPENAI_API_KEY": SECRET},
     SecretSource(SECRET, "OPENAI_API_KEY")),
    ("{name: openai}", {"OPENAI_API_KEY": ""}, None),
    # Another provider's variable is not this one's.
    ("{name: openai}", {"MITMLLM_KEY_ANTHROPIC": SECRET, "ANTHROPIC_API_KEY": SECRET}, None),
])
def test_without_a_keychain_the_key_comes_from_the_environment(
        no_keychain: KeyringBackend, spec: str, environ: dict[str, str],
        expected: SecretSource | None) -> None:
    assert Secrets(environ=environ).api_key(provider(spec)) == expected


def test_without_a_keychain_a_secret_header_comes_from_the_environment(
        no_keychain: KeyringBackend) -> None:
    prov = provider("{name: my-prov, host: h, secret_headers: [X-Org-Token]}")
    secrets = Secrets(environ={"MITMLLM_KEY_MY_PROV_X_ORG_TOKEN": SECRET})
    assert secrets.header(prov, "X-Org-Token") == SecretSource(
        SECRET, "MITMLLM_KEY_MY_PROV_X_ORG_TOKEN")
    assert Secrets(environ={"MITMLLM_KEY_MY_PROV": SECRET}).header(prov, "X-Org-Token") is None


def test_the_process_environment_is_the_default(no_keychain: KeyringBackend,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MITMLLM_KEY_OPENAI", SECRET)
    assert Secrets().api_key(provider("{name: openai}")) == SecretSource(
        SECRET, "MITMLLM_KEY_OPENAI")


@pytest.mark.parametrize("write", [
    lambda s: s.set("openai", SECRET),
    lambda s: s.set("openai:X-Org-Token", SECRET),
    lambda s: s.delete("openai"),
    lambda s: s.get_raw("openai"),
    lambda s: s.delete_provider(provider("{name: openai, secret_headers: [X-Org]}")),
], ids=["set", "set-header", "delete", "get_raw", "delete_provider"])
def test_without_a_keychain_writes_say_how_to_fix_it(no_keychain: KeyringBackend,
                                                     write: Any) -> None:
    with pytest.raises(SecretError) as caught:
        write(Secrets(environ={}))
    message = str(caught.value)
    assert message.startswith("no system keychain is available")
    assert "gnome-keyring" in message and "Secret Service" in message
    assert "MITMLLM_KEY_" in message  # the way around it
    assert "No recommended backend" not in message  # keyring's own text, not ours
    assert_clean(message, SECRET)


@pytest.fixture
def locked_keychain(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A keychain that exists but refuses, as a locked gnome-keyring does
    (`InitError: Prompt dismissed`)."""
    def refuse(*args: object) -> None:
        raise keyring.errors.InitError("Prompt dismissed")
    for name in ("get_password", "set_password", "delete_password"):
        monkeypatch.setattr(keyring, name, refuse)
    yield


def test_a_locked_keychain_falls_back_to_the_environment(locked_keychain: None) -> None:
    prov = provider("{name: openai}")
    assert Secrets(environ={"OPENAI_API_KEY": SECRET}).api_key(prov) == SecretSource(
        SECRET, "OPENAI_API_KEY")
    with pytest.raises(SecretError) as caught:
        Secrets(environ={}).api_key(prov)
    assert str(caught.value) == "the keychain could not be read: Prompt dismissed"
    with pytest.raises(SecretError) as caught:
        Secrets(environ={}).set("openai", SECRET)
    assert str(caught.value) == "the keychain refused to store the secret: Prompt dismissed"
    assert_clean(str(caught.value), SECRET)
    with pytest.raises(SecretError) as caught:
        Secrets(environ={}).delete("openai")
    assert str(caught.value) == "the keychain refused to delete the secret: Prompt dismissed"


# --- auth headers --------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "plain", "secret"), [
    ("{name: openai}", {}, {"authorization": f"Bearer {SECRET}"}),
    ("{name: r, host: h, format: responses, auth: api_key}", {},
     {"authorization": f"Bearer {SECRET}"}),
    ("{name: anthropic}", {"anthropic-version": "2023-06-01"}, {"x-api-key": SECRET}),
    ("{name: a, host: h, format: anthropic, auth: api_key, headers: {anthropic-version: "
     "'2024-10-22'}}", {"anthropic-version": "2024-10-22"}, {"x-api-key": SECRET}),
    ("{name: ollama, host: localhost, auth: none}", {}, {}),
    ("{name: a2, host: h, format: anthropic, auth: none}",
     {"anthropic-version": "2023-06-01"}, {}),
    ("{name: openai, headers: {X-Team: blue, X-Version: 2}}",
     {"X-Team": "blue", "X-Version": "2"}, {"authorization": f"Bearer {SECRET}"}),
])
def test_the_auth_header_follows_the_format(no_keychain: KeyringBackend, spec: str,
                                            plain: dict[str, str],
                                            secret: dict[str, str]) -> None:
    prov = provider(spec)
    environ = {env_key_name(prov.name): SECRET}
    assert resolve_headers(prov, Secrets(environ=environ)) == ProviderHeaders(plain, secret)
    assert ANTHROPIC_VERSION == "2023-06-01"


def test_secret_headers_are_resolved_beside_the_key(no_keychain: KeyringBackend) -> None:
    prov = provider("{name: Team GW, host: h, auth: api_key, headers: {X-Team: blue}, "
                    "secret_headers: [X-Org-Token, X-Project]}")
    environ = {"MITMLLM_KEY_TEAM_GW": SECRET, "MITMLLM_KEY_TEAM_GW_X_ORG_TOKEN": "org-123",
               "MITMLLM_KEY_TEAM_GW_X_PROJECT": "proj-456"}
    headers = resolve_headers(prov, Secrets(environ=environ))
    assert headers.plain == {"X-Team": "blue"}
    assert headers.secret == {"authorization": f"Bearer {SECRET}", "X-Org-Token": "org-123",
                              "X-Project": "proj-456"}


@pytest.mark.parametrize(("spec", "variables"), [
    ("{name: openai}", "set MITMLLM_KEY_OPENAI or OPENAI_API_KEY"),
    ("{name: Work Claude, preset: anthropic}", "set MITMLLM_KEY_WORK_CLAUDE or ANTHROPIC_API_KEY"),
    ("{name: acme/prod, host: h, auth: api_key}", "set MITMLLM_KEY_ACME_PROD"),
])
def test_a_missing_key_says_how_to_set_it(no_keychain: KeyringBackend, spec: str,
                                          variables: str) -> None:
    prov = provider(spec)
    with pytest.raises(MissingKeyError) as caught:
        resolve_headers(prov, Secrets(environ={}))
    assert isinstance(caught.value, SecretError)
    assert str(caught.value) == (f"no API key for provider '{prov.name}': run `mitmllm "
                                 f"providers set-key {prov.name}` or {variables}")


def test_a_missing_secret_header_names_its_set_key_command(no_keychain: KeyringBackend) -> None:
    prov = provider("{name: openai, secret_headers: [X-Org-Token]}")
    with pytest.raises(MissingKeyError) as caught:
        resolve_headers(prov, Secrets(environ={"OPENAI_API_KEY": SECRET}))
    message = str(caught.value)
    assert message == ("no value for secret header X-Org-Token of provider 'openai': run "
                       "`mitmllm providers set-key openai --header X-Org-Token`")
    assert_clean(message, SECRET)


def test_secret_values_never_reach_an_exception_message(no_keychain: KeyringBackend) -> None:
    prov = provider("{name: openai, secret_headers: [X-A, X-B]}")
    environ = {"OPENAI_API_KEY": SECRET, "MITMLLM_KEY_OPENAI_X_A": OTHER_SECRET}
    with pytest.raises(MissingKeyError) as caught:
        resolve_headers(prov, Secrets(environ=environ))
    assert_clean(str(caught.value), SECRET, OTHER_SECRET)
    assert_clean(repr(caught.value), SECRET, OTHER_SECRET)
    with pytest.raises(SecretError) as failed:
        Secrets(environ=environ).set("openai", SECRET)
    assert_clean(str(failed.value), SECRET)


# --- the cache -----------------------------------------------------------------------------


def test_the_cache_keeps_values_until_the_ttl_or_a_clear(no_keychain: KeyringBackend) -> None:
    prov = provider("{name: openai}")
    environ = {"OPENAI_API_KEY": SECRET}
    cache = SecretCache(Secrets(environ=environ), ttl=3600)
    assert cache.cached(prov) is None  # nothing resolved yet: the caller must go off-loop
    first = cache.headers(prov)
    assert first.secret == {"authorization": f"Bearer {SECRET}"}
    assert cache.cached(prov) is first
    environ["OPENAI_API_KEY"] = OTHER_SECRET  # a rotated key
    assert cache.headers(prov).secret == {"authorization": f"Bearer {SECRET}"}
    cache.clear()
    assert cache.cached(prov) is None
    assert cache.headers(prov).secret == {"authorization": f"Bearer {OTHER_SECRET}"}


def test_an_expired_entry_is_read_again(no_keychain: KeyringBackend) -> None:
    prov = provider("{name: openai}")
    environ = {"OPENAI_API_KEY": SECRET}
    cache = SecretCache(Secrets(environ=environ), ttl=0)
    cache.headers(prov)
    environ["OPENAI_API_KEY"] = OTHER_SECRET
    assert cache.cached(prov) is None
    assert cache.headers(prov).secret == {"authorization": f"Bearer {OTHER_SECRET}"}


def test_a_changed_provider_is_resolved_anew(no_keychain: KeyringBackend) -> None:
    environ = {"MITMLLM_KEY_GW": SECRET}
    cache = SecretCache(Secrets(environ=environ), ttl=3600)
    as_openai = provider("{name: gw, host: h, auth: api_key}")
    as_anthropic = provider("{name: gw, host: h, auth: api_key, format: anthropic}")
    assert cache.headers(as_openai).secret == {"authorization": f"Bearer {SECRET}"}
    assert cache.headers(as_anthropic).secret == {"x-api-key": SECRET}


def test_the_cache_does_not_keep_a_failure(no_keychain: KeyringBackend) -> None:
    prov = provider("{name: openai}")
    environ: dict[str, str] = {}
    cache = SecretCache(Secrets(environ=environ), ttl=3600)
    with pytest.raises(MissingKeyError):
        cache.headers(prov)
    environ["OPENAI_API_KEY"] = SECRET
    assert cache.headers(prov).secret == {"authorization": f"Bearer {SECRET}"}


# --- a real Secret Service -----------------------------------------------------------------


@pytest.fixture
def name(secret_service: KeyringBackend) -> Iterator[str]:
    """A provider name of this test alone; its entries are deleted afterwards."""
    name = unique_name("secrets")
    yield name
    forget(SERVICE, name, f"{name}:X-Org-Token")


@pytest.mark.keyring
def test_a_key_round_trips_through_the_keychain(name: str) -> None:
    prov = provider(f"{{name: {name}, preset: openai, secret_headers: [X-Org-Token]}}")
    secrets = Secrets(environ={"OPENAI_API_KEY": OTHER_SECRET})
    assert secrets.api_key(prov) == SecretSource(OTHER_SECRET, "OPENAI_API_KEY")
    secrets.set(name, SECRET)
    secrets.set(f"{name}:X-Org-Token", "org-123")
    assert keyring.get_password("mitmllm", name) == SECRET  # the documented layout
    assert keyring.get_password("mitmllm", f"{name}:X-Org-Token") == "org-123"
    assert secrets.api_key(prov) == SecretSource(SECRET, "keychain")  # beats the environment
    assert secrets.header(prov, "X-Org-Token") == SecretSource("org-123", "keychain")
    assert secrets.get_raw(name) == SECRET
    assert resolve_headers(prov, secrets).secret == {"authorization": f"Bearer {SECRET}",
                                                     "X-Org-Token": "org-123"}
    assert sorted(secrets.delete_provider(prov)) == sorted([name, f"{name}:X-Org-Token"])
    assert keyring.get_password("mitmllm", name) is None
    assert keyring.get_password("mitmllm", f"{name}:X-Org-Token") is None
    assert secrets.api_key(prov) == SecretSource(OTHER_SECRET, "OPENAI_API_KEY")


@pytest.mark.keyring
def test_deleting_what_is_not_there_reports_false(name: str) -> None:
    secrets = Secrets(environ={})
    assert secrets.delete(name) is False
    assert secrets.delete_provider(provider(f"{{name: {name}, host: h}}")) == []
    assert secrets.get_raw(name) is None
