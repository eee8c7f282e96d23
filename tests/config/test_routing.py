"""The routing contract (docs/architecture.md#routing-a-model-name), through the pure
`resolve()` of addons/router.py:

1. `NAME/MODEL` where NAME is a configured provider, compared as a slug (case-insensitive,
   spaces and `/` read as `-`) goes to that provider as `MODEL`; `local/MODEL` to a local model.
2. Otherwise an exact id of a connected provider's list, or its static `models` (globs too),
   or a local model id: first match in config order.
3. Otherwise 404 `model_not_found`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mitmllm.addons.router import NoRoute, resolve
from mitmllm.addons.state import Route
from mitmllm.config.model import GatewayConfig, ProviderConfig, slug
from mitmllm.config.store import parse_text

CONFIG = parse_text("""\
providers:
  - {name: My Provider, host: one.test}
  - {name: acme/prod, host: two.test}
  - {name: openrouter}
  - {name: anthropic, models: ['claude-*']}
  - {name: second, host: three.test, models: [claude-3-opus, gpt-4o]}
  - {name: paused, host: four.test, enabled: false, models: [off-model]}
  - {name: openai}
""")
DISCOVERED: dict[str, list[str]] = {
    "My Provider": ["shared-model", "mlx-community/tiny"],
    "acme/prod": ["shared-model", "acme-only"],
    "openrouter": ["openai/gpt-4o", "meta-llama/llama-3-70b"],
    "anthropic": [],
    "second": [],
    "paused": ["off-discovered"],
    "openai": ["gpt-4o", "gpt-4o-mini", "tiny-folder"],
}
LOCAL_IDS = ["mlx-community/tiny", "tiny-folder", "qwen-local"]


def discovered(provider: ProviderConfig) -> Sequence[str]:
    return DISCOVERED[provider.name]


def route(model: str, config: GatewayConfig = CONFIG,
          local_ids: Sequence[str] = LOCAL_IDS) -> Route | NoRoute:
    return resolve(model, config, discovered, local_ids, client_format="openai")


@pytest.mark.parametrize(("name", "expected"), [
    ("My Provider", "my-provider"),
    ("acme/prod", "acme-prod"),
    ("OpenAI", "openai"),
    ("  Team  A / Prod ", "team-a-prod"),
    ("tab\tname", "tab-name"),
    ("already-slugged", "already-slugged"),
    ("under_score", "under_score"),
])
def test_slug(name: str, expected: str) -> None:
    assert slug(name) == expected


@pytest.mark.parametrize(("model", "provider", "upstream"), [
    # Rule 1: NAME/MODEL with the name as a slug.
    ("my-provider/x", "My Provider", "x"),
    ("My Provider/x", "My Provider", "x"),
    ("MY-PROVIDER/Some-Model", "My Provider", "Some-Model"),
    ("acme-prod/x", "acme/prod", "x"),
    ("ACME-Prod/x", "acme/prod", "x"),
    ("openrouter/openai/gpt-4o", "openrouter", "openai/gpt-4o"),
    ("OpenRouter/meta-llama/llama-3-70b", "openrouter", "meta-llama/llama-3-70b"),
    # A prefix beats another provider's discovered id with the same spelling.
    ("openai/gpt-4o", "openai", "gpt-4o"),
    # The prefix wins even for a model nobody listed: the provider decides.
    ("openai/gpt-5-preview", "openai", "gpt-5-preview"),
    ("anthropic/claude-opus-4-1", "anthropic", "claude-opus-4-1"),
    # Rule 2: exact discovered ids, in config order.
    ("meta-llama/llama-3-70b", "openrouter", "meta-llama/llama-3-70b"),
    ("shared-model", "My Provider", "shared-model"),
    ("acme-only", "acme/prod", "acme-only"),
    ("gpt-4o-mini", "openai", "gpt-4o-mini"),
    # Static ids and globs, in config order with the discovered lists.
    ("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
    ("claude-3-opus", "anthropic", "claude-3-opus"),  # the glob of an earlier provider wins
    ("gpt-4o", "second", "gpt-4o"),  # a static id of an earlier provider beats discovery
    # A provider's id beats a local model of the same id (local models come last).
    ("mlx-community/tiny", "My Provider", "mlx-community/tiny"),
    ("tiny-folder", "openai", "tiny-folder"),
])
def test_a_model_routes_to_a_provider(model: str, provider: str, upstream: str) -> None:
    result = route(model)
    assert isinstance(result, Route), result
    assert result.provider is not None and result.provider.name == provider
    assert result.upstream_model == upstream
    assert not result.is_local


@pytest.mark.parametrize(("model", "upstream"), [
    ("local/qwen-local", "qwen-local"),
    ("LOCAL/qwen-local", "qwen-local"),
    ("local/mlx-community/tiny", "mlx-community/tiny"),
    ("local/tiny-folder", "tiny-folder"),
    ("qwen-local", "qwen-local"),
])
def test_a_local_model_routes_to_the_local_backend(model: str, upstream: str) -> None:
    result = route(model)
    assert result == Route.to(None, upstream, "openai")
    assert result.is_local


@pytest.mark.parametrize(("model", "message"), [
    ("nope", "The model 'nope' does not exist."),
    ("unknown/gpt-4o", "The model 'unknown/gpt-4o' does not exist."),
    ("Claude-3", "The model 'Claude-3' does not exist."),  # globs are case-sensitive ids
    ("xclaude-1", "The model 'xclaude-1' does not exist."),
    ("gpt-4", "The model 'gpt-4' does not exist."),  # exact ids, not prefixes
    ("local/nope", "There is no local model 'nope'."),
    ("local/gpt-4o", "There is no local model 'gpt-4o'."),
    # A disabled provider: its prefix says so, its ids are not routed.
    ("paused/anything", "The provider 'paused' is disabled; enable it with `mitmllm "
                        "providers enable paused`."),
    ("PAUSED/off-model", "The provider 'paused' is disabled; enable it with `mitmllm "
                         "providers enable paused`."),
    ("off-model", "The model 'off-model' does not exist."),
    ("off-discovered", "The model 'off-discovered' does not exist."),
])
def test_an_unknown_model_is_a_404(model: str, message: str) -> None:
    assert route(model) == NoRoute(404, message)


def test_local_models_are_unroutable_when_local_is_disabled() -> None:
    config = parse_text("local:\n  enabled: false\n")
    assert route("local/qwen-local", config) == NoRoute(
        404, "There is no local model 'qwen-local'.")
    assert route("qwen-local", config) == NoRoute(404, "The model 'qwen-local' does not exist.")


def test_nothing_routes_without_providers_or_local_models() -> None:
    assert route("gpt-4o", GatewayConfig(), ()) == NoRoute(
        404, "The model 'gpt-4o' does not exist.")


def test_the_config_order_decides_between_equal_claims() -> None:
    first_a = parse_text("providers:\n  - {name: a, host: a.test, models: ['m-*']}\n"
                         "  - {name: b, host: b.test, models: [m-1]}\n")
    first_b = parse_text("providers:\n  - {name: b, host: b.test, models: [m-1]}\n"
                         "  - {name: a, host: a.test, models: ['m-*']}\n")
    none_found: dict[str, list[str]] = {}

    def nothing(provider: ProviderConfig) -> Sequence[str]:
        return none_found.get(provider.name, [])

    for config, winner in ((first_a, "a"), (first_b, "b")):
        result = resolve("m-1", config, nothing, (), client_format="openai")
        assert isinstance(result, Route) and result.provider is not None
        assert result.provider.name == winner


def test_a_disabled_provider_lets_the_next_one_answer() -> None:
    config = parse_text("providers:\n  - {name: a, host: a.test, enabled: false, models: [m]}\n"
                        "  - {name: b, host: b.test, models: [m]}\n")
    result = resolve("m", config, lambda p: (), (), client_format="openai")
    assert isinstance(result, Route) and result.provider is not None
    assert result.provider.name == "b"


def test_a_provider_is_found_by_any_spelling_of_its_name() -> None:
    for spelling in ("My Provider", "my provider", "MY-PROVIDER", "my-provider"):
        found = CONFIG.provider(spelling)
        assert found is not None and found.name == "My Provider"
    assert CONFIG.provider("acme-prod") is CONFIG.provider("acme/prod")
    assert CONFIG.provider("my_provider") is None
