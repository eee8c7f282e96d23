"""Translate: the request body and endpoint for the provider.

Hook `request`: the provider's endpoint (`base_path` + `/chat/completions`, `/messages` or
`/responses`) and body. Same format in and out: the client's bytes go on untouched but for
the model name. Otherwise `translators.hub` rewrites the body; fields dropped by policy are
listed in the flow's metadata, and what cannot be translated is a 400 naming the field.
The answer comes back through `addons/translate_answer.py`.

It expects the body ingress parsed and the flow's `Route` (set by the router), and reads
formats, models and the provider from that Route. It fails closed: a translation error
becomes an error answer in the client's format, never an untranslated body sent on
(mitmproxy would otherwise log the exception and forward); an unexpected one is a bug,
answered by `@fails_closed`.
"""

from __future__ import annotations

from mitmproxy import http

from ..translators import hub
from ..translators.errors import TranslationError
from ..translators.json_edit import replace_top_level_string
from ..translators.json_values import json_bytes
from .answers import answer_error, is_answered
from .capture import kept_body
from .fail_closed import bug, fails_closed
from .state import Gateway, Route, info, is_routed_replay, record

LOCAL_BASE_PATH = "/v1"


class Translate:
    def __init__(self, gateway: Gateway):
        self.gateway = gateway

    @fails_closed("translate the request", answer=bug("translate this request"))
    def request(self, flow: http.HTTPFlow) -> None:
        if is_answered(flow) or is_routed_replay(flow):
            return
        route = self.gateway.route(flow)
        if route is None:
            return  # a gateway answer: nothing goes to a provider
        try:
            self._rewrite_request(flow, route)
        except TranslationError as exc:
            answer_error(flow, exc.status, exc.message, param=exc.param, code=exc.code,
                         error_type=exc.error_type)
        except RecursionError:
            # JSON nested deeper than Python recurses (a few hundred levels): no real
            # request is, and the translators walk values recursively.
            answer_error(flow, 400, "The request is nested too deeply to be translated.",
                         code="invalid_request")

    def _rewrite_request(self, flow: http.HTTPFlow, route: Route) -> None:
        body = self.gateway.exchange(flow).body
        assert body is not None
        client = route.client_format
        provider_format = route.provider_format
        upstream_model = route.upstream_model
        provider = route.provider
        base_path = provider.base_path if provider else LOCAL_BASE_PATH
        request = flow.request
        if self.gateway.keep_bytes:
            # The client's own request, for the inspection views: the flow's request
            # becomes the provider's from here on.
            record(flow, client_request=kept_body(request.get_content(strict=False) or b"",
                                                  self.gateway.keep_bytes))
        endpoint = hub.endpoint(provider_format)
        if info(flow).get("kind") == "count_tokens":
            # Only Anthropic counts tokens for a Messages request; any other count would be
            # a guess with another model's tokenizer, so it is refused rather than invented.
            if provider_format != "anthropic":
                answer_error(flow, 501, "POST /v1/messages/count_tokens is only available "
                             f"for Anthropic-format providers; '{route.provider_name}' "
                             f"speaks {provider_format}.", code="not_implemented")
                return
            endpoint = "/messages/count_tokens"
        repaired = hub.repair_passthrough(client, body, request.get_content(strict=False) or b"") \
            if client == provider_format else None
        if repaired is not None:
            # Re-serialized only when the provider would refuse the client's bytes as they
            # are (OpenCode's thinking budget of -1); the changes are listed like drops.
            fixed, changes = repaired
            record(flow, dropped=changes)
            request.headers.pop("content-encoding", None)
            request.content = json_bytes({**fixed, "model": upstream_model})
        elif client == provider_format:
            if upstream_model != body["model"]:
                request.content = replace_top_level_string(request.get_content() or b"",
                                                           "model", upstream_model)
        else:
            translated = hub.translate_request(client, provider_format,
                                               {**body, "model": upstream_model},
                                               self.gateway.request_options(route))
            record(flow, dropped=list(translated.dropped), defaulted=list(translated.defaulted))
            # Popped first: with the header on, mitmproxy would re-compress the new content.
            request.headers.pop("content-encoding", None)
            request.content = json_bytes(translated.body)
        # The body was parsed as JSON; say so even if the client did not (curl -d).
        request.headers["content-type"] = "application/json"
        path = base_path.rstrip("/") + endpoint
        query = request.path.partition("?")[2]
        if query and client == provider_format:
            path += "?" + query  # e.g. the Anthropic SDK's ?beta=true: the same API's own
        request.path = path
        # Compressed answers could not be translated (nor read in mitmweb) as they arrive.
        request.headers["accept-encoding"] = "identity"
