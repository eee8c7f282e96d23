"""Models endpoint: `GET /v1/models` in both shapes and `GET /v1/models/{id}`, from the
connection states, the static model ids and the local models."""

from __future__ import annotations

import pytest
from support.addon_helpers import (
    STATES_YAML,
    assert_openai_error,
    json_body,
    make_flow,
    make_gateway,
    publish,
    run_request_hooks,
)

from mitmllm.addons.connections import Connections, ProviderStatus
from mitmllm.addons.ingress import Ingress
from mitmllm.addons.models_endpoint import ModelsEndpoint
from mitmllm.addons.state import Gateway
from mitmllm.translators.chat.models import ModelEntry


def states_endpoint(local: tuple[str, ...] = ("tiny-local",)
                    ) -> tuple[ModelsEndpoint, Gateway]:
    gateway = Gateway()
    connections = Connections(gateway)
    endpoint = ModelsEndpoint(gateway, connections, local_ids=lambda: list(local))
    publish(gateway, STATES_YAML)
    connections.statuses["openai"] = ProviderStatus(
        "openai", "connected", "openai",
        models=(ModelEntry("gpt-4o", created=1715367049), ModelEntry("gpt-static")))
    return endpoint, gateway


async def test_models_list_openai_shape() -> None:
    endpoint, gateway = states_endpoint()
    flow = make_flow("GET", "/v1/models")
    await run_request_hooks(flow, [Ingress(gateway), endpoint])
    assert flow.response is not None and flow.response.status_code == 200
    assert flow.response.headers["content-type"] == "application/json"
    body = json_body(flow.response)
    assert body["object"] == "list"
    rows = {m["id"]: m for m in body["data"]}
    assert list(rows) == ["openai/gpt-4o", "openai/gpt-static", "my-corp/corp-1",
                          "tiny-local"]
    assert rows["openai/gpt-4o"] == {"id": "openai/gpt-4o", "object": "model",
                                     "created": 1715367049, "owned_by": "openai"}
    assert rows["my-corp/corp-1"]["owned_by"] == "My Corp"
    assert rows["tiny-local"]["owned_by"] == "local"
    assert all(isinstance(m["created"], int) for m in body["data"])
    assert not any("dormant" in m["id"] for m in body["data"])  # disabled: not listed


async def test_models_list_anthropic_shape_when_anthropic_version_is_sent() -> None:
    endpoint, gateway = states_endpoint()
    flow = make_flow("GET", "/v1/models", headers={"anthropic-version": "2023-06-01"})
    await run_request_hooks(flow, [Ingress(gateway), endpoint])
    assert flow.response is not None and flow.response.status_code == 200
    body = json_body(flow.response)
    assert "object" not in body
    assert body["has_more"] is False
    ids = [m["id"] for m in body["data"]]
    assert ids[0] == "openai/gpt-4o" and ids[-1] == "tiny-local"
    assert body["first_id"] == ids[0] and body["last_id"] == ids[-1]
    first = body["data"][0]
    assert first["type"] == "model"
    assert first["display_name"] == "openai/gpt-4o"
    assert first["created_at"] == "2024-05-10T18:50:49Z"


@pytest.mark.parametrize("path", ["/v1/models/openai%2Fgpt-4o", "/v1/models/openai/gpt-4o",
                                  "/models/openai%2fgpt-4o"])
async def test_model_retrieve_found(path: str) -> None:
    endpoint, gateway = states_endpoint()
    flow = make_flow("GET", path)
    await run_request_hooks(flow, [Ingress(gateway), endpoint])
    assert flow.response is not None and flow.response.status_code == 200
    assert json_body(flow.response) == {"id": "openai/gpt-4o", "object": "model",
                                        "created": 1715367049, "owned_by": "openai"}


async def test_model_retrieve_local_model() -> None:
    endpoint, gateway = states_endpoint(local=("mlx-community/Tiny-4bit",))
    flow = make_flow("GET", "/v1/models/mlx-community/Tiny-4bit")
    await run_request_hooks(flow, [Ingress(gateway), endpoint])
    assert flow.response is not None and flow.response.status_code == 200
    assert json_body(flow.response)["owned_by"] == "local"


@pytest.mark.parametrize("wanted", ["gpt-4o", "openai/nope", "dormant/dormant-model"])
async def test_model_retrieve_unknown_is_404(wanted: str) -> None:
    endpoint, gateway = states_endpoint()
    flow = make_flow("GET", f"/v1/models/{wanted}")
    await run_request_hooks(flow, [Ingress(gateway), endpoint])
    error = assert_openai_error(flow.response, 404, code="model_not_found", param="model")
    assert wanted in error["message"]


async def test_empty_gateway_lists_nothing() -> None:
    gateway = make_gateway("local: {enabled: false}\n")
    endpoint = ModelsEndpoint(gateway, Connections(gateway))
    flow = make_flow("GET", "/v1/models")
    await run_request_hooks(flow, [Ingress(gateway), endpoint])
    assert json_body(flow.response) == {"object": "list", "data": []}
    flow = make_flow("GET", "/v1/models", headers={"anthropic-version": "2023-06-01"})
    await run_request_hooks(flow, [Ingress(gateway), endpoint])
    assert json_body(flow.response) == {"data": [], "has_more": False, "first_id": None,
                                        "last_id": None}


async def test_model_retrieve_anthropic_shape_when_anthropic_version_is_sent() -> None:
    endpoint, gateway = states_endpoint()
    flow = make_flow("GET", "/v1/models/openai%2Fgpt-4o",
                     headers={"anthropic-version": "2023-06-01"})
    await run_request_hooks(flow, [Ingress(gateway), endpoint])
    assert flow.response is not None and flow.response.status_code == 200
    assert json_body(flow.response) == {"type": "model", "id": "openai/gpt-4o",
                                        "display_name": "openai/gpt-4o",
                                        "created_at": "2024-05-10T18:50:49Z"}
