"""Router: the model routing contract (prefix, static ids and globs, discovered ids, local
models, 404 listing what is available) and the metadata later addons rely on."""

from __future__ import annotations

import json

import pytest
from support.addon_helpers import (
    PROVIDERS_YAML,
    assert_anthropic_error,
    assert_openai_error,
    chat_body,
    make_flow,
    make_gateway,
    messages_body,
    publish,
    run_request_hooks,
)

from mitmllm.addons.connections import Connections, ProviderStatus
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.router import Router
from mitmllm.addons.state import Gateway, info
from mitmllm.translators.chat.models import ModelEntry


def routed(model: str, *, yaml_text: str = PROVIDERS_YAML, local_ids: tuple[str, ...] = (),
           connected: dict[str, list[str]] | None = None, path: str = "/v1/chat/completions"):
    """Ingress then Router for one request; returns (flow, gateway)."""
    gateway = Gateway()
    connections = Connections(gateway)
    publish(gateway, yaml_text)
    for name, models in (connected or {}).items():
        provider = gateway.config.provider(name)
        assert provider is not None
        connections.statuses[provider.name] = ProviderStatus(
            provider.name, "connected", provider.format,
            models=tuple(ModelEntry(m) for m in models))
    flow = make_flow("POST", path, messages_body(model) if "messages" in path
                     else chat_body(model))
    addons = [Ingress(gateway), Router(gateway, connections, lambda: list(local_ids))]
    return flow, gateway, addons


async def route(model: str, **kwargs):
    flow, gateway, addons = routed(model, **kwargs)
    await run_request_hooks(flow, addons)
    return flow, gateway


async def test_prefix_routes_to_provider_and_keeps_the_rest_as_upstream_model() -> None:
    flow, gateway = await route("openrouter/openai/gpt-4o")
    assert flow.response is None
    meta = info(flow)
    assert meta["provider"] == "openrouter"
    assert meta["upstream_model"] == "openai/gpt-4o"
    assert meta["provider_format"] == "openai"
    assert meta["timeout"] == 60.0
    chosen = gateway.exchange(flow).route
    assert chosen is not None and chosen.provider is not None
    assert chosen.provider.name == "openrouter"


@pytest.mark.parametrize("model", ["my-corp/big-model", "My Corp/big-model",
                                   "MY-CORP/big-model", "my corp/big-model"])
async def test_prefix_is_compared_as_a_slug(model: str) -> None:
    flow, _ = await route(model)
    assert flow.response is None
    assert info(flow)["provider"] == "My Corp"
    assert info(flow)["upstream_model"] == "big-model"
    assert info(flow)["timeout"] == 12.5


async def test_anthropic_prefix_sets_provider_format() -> None:
    flow, _ = await route("anthropic/claude-sonnet-4-5")
    assert info(flow)["provider"] == "anthropic"
    assert info(flow)["provider_format"] == "anthropic"
    assert info(flow)["upstream_model"] == "claude-sonnet-4-5"


@pytest.mark.parametrize("model", ["corp-large", "corp-", "corp-fixed"])
async def test_static_globs_and_ids_route_the_bare_model(model: str) -> None:
    flow, _ = await route(model)
    assert flow.response is None
    assert info(flow)["provider"] == "My Corp"
    assert info(flow)["upstream_model"] == model


async def test_glob_is_case_sensitive() -> None:
    flow, _ = await route("CORP-large")
    assert_openai_error(flow.response, 404, code="model_not_found")


async def test_discovered_model_routes_by_bare_id_first_in_config_order() -> None:
    flow, _ = await route("gpt-4o", connected={"openai": ["gpt-4o"],
                                               "openrouter": ["gpt-4o"]})
    assert info(flow)["provider"] == "openai"
    assert info(flow)["upstream_model"] == "gpt-4o"


async def test_models_of_a_provider_that_is_not_connected_do_not_route() -> None:
    flow, gateway, addons = routed("gpt-4o")
    connections = addons[1].connections
    provider = gateway.config.provider("openai")
    assert provider is not None
    connections.statuses["openai"] = ProviderStatus("openai", "error", "openai", error="boom",
                                                models=(ModelEntry("gpt-4o"),))
    await run_request_hooks(flow, addons)
    assert_openai_error(flow.response, 404, code="model_not_found")


async def test_unknown_model_is_404_listing_available_models() -> None:
    flow, _ = await route("no-such-model", connected={"openai": ["gpt-4o", "gpt-4o-mini"]},
                          local_ids=("tiny-local",),
                          yaml_text=PROVIDERS_YAML.replace("local:\n  enabled: false",
                                                           "local:\n  enabled: true"))
    error = assert_openai_error(flow.response, 404, code="model_not_found", param="model")
    message = error["message"]
    assert "no-such-model" in message
    for listed in ("openai/gpt-4o", "openai/gpt-4o-mini", "my-corp/corp-fixed", "tiny-local"):
        assert listed in message
    assert "corp-*" not in message  # globs are not models one can ask for
    assert "sleepy" not in message  # disabled providers are not available


async def test_unknown_model_with_nothing_configured_says_how_to_add_a_provider() -> None:
    flow, _ = await route("gpt-4o", yaml_text="local: {enabled: false}\n")
    error = assert_openai_error(flow.response, 404, code="model_not_found")
    assert "mitmllm providers add" in error["message"]


async def test_unknown_model_from_anthropic_client_is_anthropic_404() -> None:
    flow, _ = await route("no-such-model", path="/v1/messages")
    error = assert_anthropic_error(flow.response, 404, "not_found_error")
    assert "no-such-model" in error["message"]


async def test_long_lists_are_cut_in_the_404() -> None:
    models = [f"m{i:03d}" for i in range(45)]
    flow, _ = await route("nope", connected={"openai": models})
    error = assert_openai_error(flow.response, 404)
    assert "openai/m000" in error["message"]
    assert "openai/m044" not in error["message"]
    assert "more" in error["message"]


async def test_disabled_provider_prefix_is_404_saying_how_to_enable() -> None:
    flow, gateway = await route("sleepy/sleepy-model")
    error = assert_openai_error(flow.response, 404, code="model_not_found")
    assert "disabled" in error["message"]
    assert "mitmllm providers enable sleepy" in error["message"]
    assert gateway.route(flow) is None


async def test_disabled_provider_static_models_do_not_route() -> None:
    flow, _ = await route("sleepy-model")
    assert_openai_error(flow.response, 404, code="model_not_found")


async def test_unknown_prefix_is_not_a_provider() -> None:
    flow, _ = await route("mistral/large")
    error = assert_openai_error(flow.response, 404, code="model_not_found")
    assert "mistral/large" in error["message"]


LOCAL_YAML = "local: {enabled: true}\n"


@pytest.mark.parametrize("model", ["local/tiny", "tiny", "LOCAL/tiny"])
async def test_local_models_route_to_local(model: str) -> None:
    flow, gateway = await route(model, yaml_text=LOCAL_YAML, local_ids=("tiny",))
    assert flow.response is None
    meta = info(flow)
    assert meta["provider"] == "local"
    assert meta["provider_format"] == "openai"
    assert meta["upstream_model"] == "tiny"
    assert meta["timeout"] == 600.0
    chosen = gateway.route(flow)
    assert chosen is not None and chosen.is_local and chosen.provider is None


async def test_local_models_do_not_route_when_local_is_disabled() -> None:
    flow, _ = await route("tiny", yaml_text="local: {enabled: false}\n", local_ids=("tiny",))
    assert_openai_error(flow.response, 404, code="model_not_found")
    flow, _ = await route("local/tiny", yaml_text="local: {enabled: false}\n",
                          local_ids=("tiny",))
    assert_openai_error(flow.response, 404, code="model_not_found")


async def test_unknown_local_model_is_404() -> None:
    flow, _ = await route("local/huge", yaml_text=LOCAL_YAML, local_ids=("tiny",))
    error = assert_openai_error(flow.response, 404, code="model_not_found")
    assert "huge" in error["message"]
    assert "tiny" in error["message"]


async def test_provider_wins_over_local_model_of_the_same_id() -> None:
    yaml_text = PROVIDERS_YAML.replace("local:\n  enabled: false", "local:\n  enabled: true")
    flow, _ = await route("corp-big", yaml_text=yaml_text, local_ids=("corp-big",))
    assert info(flow)["provider"] == "My Corp"


async def test_router_metadata_is_plain_data() -> None:
    flow, _ = await route("anthropic/claude-x")
    assert json.loads(json.dumps(flow.metadata)) == flow.metadata


async def test_gateway_answers_are_not_routed() -> None:
    gateway = make_gateway()
    flow = make_flow("GET", "/v1/models")
    await run_request_hooks(flow, [Ingress(gateway), Router(gateway, Connections(gateway))])
    assert flow.response is None
    assert "provider" not in info(flow)
    assert gateway.route(flow) is None
