"""The mitmproxy pipeline of mitmllm: one concern per addon, in request order.

`pipeline()` builds the ordered list; load it into any mitmproxy tool with
`addons/script.py`, or run it with `mitmllm run` / `mitmllm web`.
"""

from __future__ import annotations

from ..config.secrets import Secrets
from .admin import Admin
from .config_watch import ConfigWatcher
from .connections import Connections
from .credentials import Credentials, ReplaySecrets
from .drain import Drain
from .head import HeadRequests
from .ingress import Ingress
from .inspect import Inspect
from .local import Local
from .metrics import Metrics
from .models_endpoint import ModelsEndpoint
from .providers_page import ProvidersPage
from .router import Router
from .state import Gateway
from .translate import Translate
from .translate_answer import TranslateAnswer
from .upstream import UpstreamErrors
from .views import MitmllmViews


def pipeline(gateway: Gateway | None = None, secrets: Secrets | None = None) -> list[object]:
    gateway = gateway or Gateway(secrets)
    local = Local(gateway)
    connections = Connections(gateway)
    watcher = ConfigWatcher(gateway)
    drain = Drain(gateway)
    return [
        watcher,  # publishes the config every other addon reads
        UpstreamErrors(gateway),  # the provider leg: wire-only secrets, timeouts, failures
        Ingress(gateway),  # classify, check, parse the JSON body once
        Router(gateway, connections, local.model_ids),  # model -> the flow's Route
        Admin(gateway, connections, local),  # GET /, GET /health, GET /admin/providers
        ProvidersPage(gateway, connections, local, watcher),  # GET /admin and /admin/api/
        local,  # local models -> the loopback MLX server
        Translate(gateway),  # the request's body and endpoint in the provider's format
        TranslateAnswer(gateway),  # the answer in the client's format, streamed or whole
        Credentials(gateway),  # host, port, scheme; the provider's headers and secrets
        connections,  # provider states and discovered models
        ModelsEndpoint(gateway, connections, local.model_ids),  # GET /v1/models
        Metrics(gateway),  # Prometheus metrics of model requests, GET /metrics
        drain,  # flows under way; a graceful stop on SIGTERM
        HeadRequests(),  # HEAD: the headers of the answer, without its body
        Inspect(gateway),  # labels and one log line per flow
        MitmllmViews(),  # the `mitmllm` and `SSE` contentviews (no hooks on the data path)
        ReplaySecrets(gateway),  # last: a replay's secrets, after every flow list saw it
    ]
