"""Pure translation between OpenAI Chat Completions, Anthropic Messages and Open Responses.

Nothing here imports mitmproxy or anything else of mitmllm: functions take and return plain
JSON-like data, and stream translators take and return `sse.SSEEvent`s.
"""
