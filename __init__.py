"""mitmllm: a local gateway for LLM APIs, built as a pipeline of mitmproxy addons.

Layers, in import direction: `addons` (mitmproxy glue) use `translators` (pure format
translation) and `config` (providers, presets, YAML store, keychain secrets).
"""

__version__ = "0.1.0"
