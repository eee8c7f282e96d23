"""Open Responses (the OpenAI Responses API), joined to the hub in four directions (one
module each): `client_request` (a Responses client's request -> hub, with
`client_request_items`), `provider_request` (hub -> a Responses provider's request, with
`provider_request_items`), `provider_answer` (a Responses provider's answer -> hub, whole and
streamed) and `client_answer` (hub -> a Responses client's answer, whole and streamed, with
the `objects` it builds); plus `passthrough`."""
