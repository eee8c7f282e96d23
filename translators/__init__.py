"""Pure translation between OpenAI Chat Completions, Anthropic Messages and Open Responses.

Nothing here imports mitmproxy or anything else of mitmllm: functions take and return plain
JSON-like data, and stream translators take and return `sse.SSEEvent`s.

    hub.py          the table of formats: which module translates which direction
    formats.py      the format names, and the default output limit
    chat/           OpenAI Chat, the hub: wire types, shared field readers, model lists
    anthropic/      Anthropic Messages: client_request, provider_request, provider_answer,
                    client_answer, models, passthrough
    responses/      Open Responses: the same four directions, objects, passthrough
    stream.py       the base class of every stream translator
    sse.py          the SSE codec: bytes <-> events
    errors.py       error types, error bodies and stream error endings of every format
    usage.py        token usage between the formats
    stop_reasons.py why an answer ended, between the formats
    ids.py, json_values.py, json_edit.py   small shared helpers

The rules are written up in docs/formats.md.
"""
