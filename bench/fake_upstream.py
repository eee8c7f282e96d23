"""A fast fake provider for the benchmarks: OpenAI and Anthropic answers, whole or as an
SSE stream of 50 events written one by one (as a provider flushes each token), with no
delay. Run: python bench/fake_upstream.py PORT"""

from __future__ import annotations

import json
import sys

from aiohttp import web

EVENTS = 50


def openai_chunk(text: str, finish: str | None = None) -> bytes:
    payload = {"id": "chatcmpl-b", "object": "chat.completion.chunk", "created": 1,
               "model": "m", "choices": [{"index": 0, "delta": {"content": text} if text else {},
                                          "finish_reason": finish}]}
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


OPENAI_EVENTS = [openai_chunk(f"tok{i} ") for i in range(EVENTS)] + [
    openai_chunk("", "stop"), b"data: [DONE]\n\n"]
OPENAI_WHOLE = json.dumps({
    "id": "chatcmpl-b", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}).encode()


def anthropic_event(name: str, payload: dict[str, object]) -> bytes:
    return (f"event: {name}\ndata: ".encode() + json.dumps(payload).encode() + b"\n\n")


ANTHROPIC_EVENTS = (
    [anthropic_event("message_start", {"type": "message_start", "message": {
        "id": "msg_b", "type": "message", "role": "assistant", "content": [], "model": "m",
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1}}}),
     anthropic_event("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": {"type": "text", "text": ""}})]
    + [anthropic_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                               "delta": {"type": "text_delta",
                                                         "text": f"tok{i} "}})
       for i in range(EVENTS - 4)]
    + [anthropic_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
       anthropic_event("message_delta", {"type": "message_delta", "delta": {
           "stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 46}}),
       anthropic_event("message_stop", {"type": "message_stop"})])
ANTHROPIC_WHOLE = json.dumps({
    "id": "msg_b", "type": "message", "role": "assistant", "model": "m",
    "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn",
    "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1}}).encode()


async def answer(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    anthropic = request.path.endswith("/messages")
    if body.get("stream"):
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for event in ANTHROPIC_EVENTS if anthropic else OPENAI_EVENTS:
            await response.write(event)
        await response.write_eof()
        return response
    return web.Response(body=ANTHROPIC_WHOLE if anthropic else OPENAI_WHOLE,
                        content_type="application/json")


async def models(request: web.Request) -> web.Response:
    return web.json_response({"data": [{"id": "m", "object": "model", "created": 1}],
                              "has_more": False})


def main() -> None:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", answer)
    app.router.add_post("/v1/messages", answer)
    app.router.add_get("/v1/models", models)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
