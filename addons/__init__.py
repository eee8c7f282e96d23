"""The mitmproxy pipeline of mitmllm: one concern per addon, in request order.

`pipeline()` builds the ordered list; load it into any mitmproxy tool with
`addons/script.py`, or run it with `mitmllm run` / `mitmllm web`.
"""

from __future__ import annotations

from ..config.secrets import Secrets
from .catalog import Catalog
from .config_watch import ConfigWatcher
from .credentials import Credentials
from .ingress import Ingress
from .inspect import Inspect
from .local import Local
from .router import Router
from .state import Gateway
from .translate import Translate
from .upstream import UpstreamErrors


def pipeline(gateway: Gateway | None = None, secrets: Secrets | None = None) -> list[object]:
    gateway = gateway or Gateway(secrets)
    local: Local | None = None
    catalog = Catalog(gateway, local_models=lambda: local.model_ids() if local else [])
    local = Local(gateway, catalog)
    return [
        ConfigWatcher(gateway),  # publishes the config every other addon reads
        UpstreamErrors(gateway),  # the provider leg: wire-only secrets, timeouts, failures
        Ingress(gateway),  # classify, check, parse the JSON body once
        Router(gateway, catalog, local.model_ids),  # model -> provider or local model
        local,  # admin endpoints; local models -> the loopback MLX server
        Translate(gateway),  # body, endpoint and answer in each side's format
        Credentials(gateway),  # host, port, scheme; the provider's headers and secrets
        catalog,  # provider states and model lists; GET /v1/models
        Inspect(),  # labels and one log line per flow
    ]
