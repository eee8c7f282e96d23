"""Models endpoint: answers `GET /v1/models` and `GET /v1/models/{id}` from memory.

Hook: `request`, for the flows ingress classified as `models` or `model`. The list is the
gateway's (`model_lists.gateway_models`: every enabled provider's models as `NAME/MODEL`, as
`connections` knows them, then the local models), in the OpenAI shape, or in the Anthropic
shape when the client sent `anthropic-version` (ingress then classified it as an Anthropic
client). The shapes are the translators' (`translators/chat/models.py`,
`translators/anthropic/models.py`); a model without a creation time reads as created when
mitmllm started.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

from mitmproxy import http

from ..translators.anthropic.models import anthropic_model, anthropic_model_list
from ..translators.chat.models import openai_model, openai_model_list
from .answers import answer_error, is_answered, json_response
from .connections import Connections
from .fail_closed import fails_closed
from .model_lists import Listed, gateway_models
from .state import Gateway, info


class ModelsEndpoint:
    def __init__(self, gateway: Gateway, connections: Connections,
                 local_ids: Callable[[], Sequence[str]] = lambda: ()):
        self.gateway = gateway
        self.connections = connections
        self.local_ids = local_ids
        self.started = time.time()

    @fails_closed("list the models")
    def request(self, flow: http.HTTPFlow) -> None:
        if is_answered(flow):
            return
        meta = info(flow)
        kind = meta.get("kind")
        anthropic_shape = meta.get("client_format") == "anthropic"
        if kind == "models":
            rows = self.listing()
            payload = (anthropic_model_list([self._anthropic(row) for row in rows])
                       if anthropic_shape else openai_model_list([self._openai(r) for r in rows]))
            flow.response = json_response(200, payload)
        elif kind == "model":
            # The SDKs percent-encode the `/` of `provider/model` in the path.
            wanted = unquote(flow.request.path.split("?", 1)[0].split("/models/", 1)[1])
            for row in self.listing():
                if row.id == wanted:
                    flow.response = json_response(200, self._anthropic(row) if anthropic_shape
                                                  else self._openai(row))
                    return
            answer_error(flow, 404, f"The model '{wanted}' does not exist; GET /v1/models "
                         "lists the available ones.", param="model", code="model_not_found")

    def listing(self) -> list[Listed]:
        return gateway_models(self.gateway.config, self.connections.listed, self.local_ids())

    def _openai(self, row: Listed) -> dict[str, Any]:
        return openai_model(row.id, row.owner, row.entry.created or int(self.started))

    def _anthropic(self, row: Listed) -> dict[str, Any]:
        return anthropic_model(row.id, row.entry.display_name, row.entry.created or self.started)
