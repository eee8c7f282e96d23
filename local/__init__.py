"""Local MLX models: discovery, a generation engine, and an OpenAI-compatible loopback server.

Requests for a local model never leave the machine: the gateway's router rewrites them to
`LocalBackend.base_url`, an aiohttp app in the same process, which generates with `mlx_lm`.
No mitmproxy import here, and no mlx import at import time: where mlx is missing the backend
reports `available = False` with a `reason`, and everything else keeps working.

Modules: `discovery` (which folders are models, and their ids), `params` (request
validation), `stops` (stop strings over streamed text), `mlxapi` (the lazy mlx imports),
`pool` (loading, LRU), `engine` (the worker thread), `server` (which writes OpenAI
chunks, errors and SSE with the translators' own builders).
"""

from __future__ import annotations

from .discovery import LocalModel, discover_models
from .engine import mlx_status
from .server import LocalBackend

__all__ = ["LocalBackend", "LocalModel", "discover_models", "mlx_status"]
