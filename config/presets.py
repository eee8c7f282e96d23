"""Provider presets, as in Osaurus' "Remote Providers": each fills the connection fields.

A preset only supplies defaults; every field can still be set explicitly in the config.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..translators.formats import Format


@dataclass(frozen=True, slots=True)
class Preset:
    id: str
    label: str
    host: str | None  # None: the user must give one (Custom)
    protocol: str
    port: int | None
    base_path: str
    format: Format
    auth: str
    env_var: str | None  # the provider's conventional key variable, read as a fallback


PRESETS: dict[str, Preset] = {
    p.id: p
    for p in (
        Preset("anthropic", "Anthropic", "api.anthropic.com", "https", 443, "/v1", "anthropic",
               "api_key", "ANTHROPIC_API_KEY"),
        Preset("openai", "OpenAI", "api.openai.com", "https", 443, "/v1", "openai", "api_key",
               "OPENAI_API_KEY"),
        Preset("xai", "xAI", "api.x.ai", "https", 443, "/v1", "openai", "api_key",
               "XAI_API_KEY"),
        Preset("openrouter", "OpenRouter", "openrouter.ai", "https", 443, "/api/v1", "openai",
               "api_key", "OPENROUTER_API_KEY"),
        # Custom covers Ollama, LM Studio, vLLM and any other OpenAI-compatible host. Local
        # servers usually need no key, so auth defaults to none.
        Preset("custom", "Custom", None, "https", None, "/v1", "openai", "none", None),
    )
}

# Documented examples of the Custom preset (README): `providers add ollama --preset ollama`
# is accepted as a shorthand for these field values.
CUSTOM_EXAMPLES: dict[str, dict[str, object]] = {
    "ollama": {"host": "localhost", "protocol": "http", "port": 11434, "base_path": "/v1",
               "format": "openai", "auth": "none"},
    "lmstudio": {"host": "localhost", "protocol": "http", "port": 1234, "base_path": "/v1",
                 "format": "openai", "auth": "none"},
}


def preset(preset_id: str) -> Preset:
    return PRESETS[preset_id]
