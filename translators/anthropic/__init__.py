"""Anthropic Messages, joined to the hub in four directions (one module each):
`client_request` (an Anthropic client's request -> hub), `provider_request` (hub -> an
Anthropic provider's request, with `provider_request_messages`), `provider_answer` (an
Anthropic provider's answer -> hub, whole and streamed) and `client_answer` (hub -> an
Anthropic client's answer, whole and streamed); plus `models` and `passthrough`."""
