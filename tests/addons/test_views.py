"""The `mitmllm` and `SSE` contentviews: what a user reads in mitmweb, `mitmdump` and the
console, asserted through mitmproxy's own `prettify_message` (what mitmweb's
`/flows/ID/request|response/content/VIEW.json` returns) and its automatic choice.

Flows are `tflow` flows carrying `flow.metadata["mitmllm"]` as the addons record it; the
streams are written out by hand in each provider's wire format, and the expected text
follows the views' rules (docs/formats.md, the schema in addons/views.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import contentviews, http
from mitmproxy.test import taddons, tflow

from mitmllm.addons.views import MitmllmViews
from mitmllm.addons.views_text import split_events
from mitmllm.translators.sse import SSEDecoder

VIEW_SCRIPT = Path(__file__).resolve().parents[2] / "addons" / "view_script.py"

CLIENT_BODY = {"model": "anthropic/claude-sonnet-4", "stream": True, "seed": 7,
               "messages": [{"role": "system", "content": "Be brief."},
                            {"role": "user", "content": "Say hi"}]}
SENT_BODY = {"model": "claude-sonnet-4", "max_tokens": 4096, "stream": True,
             "system": "Be brief.", "messages": [{"role": "user", "content": "Say hi"}]}

# An Anthropic stream as received, in three chunks: the first ends inside the second event.
ANTHROPIC_EVENTS = [
    ("message_start", '{"type":"message_start","message":{"id":"msg_1","role":"assistant",'
                      '"content":[],"usage":{"input_tokens":12,"output_tokens":1}}}'),
    ("content_block_delta", '{"type":"content_block_delta","index":0,'
                            '"delta":{"type":"text_delta","text":"Hi!"}}'),
    ("message_stop", '{"type":"message_stop"}'),
]
PROVIDER_STREAM = "".join(f"event: {name}\ndata: {data}\n\n" for name, data in ANTHROPIC_EVENTS)
FIRST_EVENT_END = PROVIDER_STREAM.index("event: content_block_delta")
SECOND_EVENT_END = PROVIDER_STREAM.index("event: message_stop")
PROVIDER_MARKS = [[310, FIRST_EVENT_END + 20], [355, SECOND_EVENT_END],
                  [402, len(PROVIDER_STREAM)]]

CHUNK = ('{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,'
         '"model":"claude-sonnet-4","choices":[{"index":0,"delta":{"content":"Hi!"},"finish_reason":null}]}')
CLIENT_STREAM = f"data: {CHUNK}\n\ndata: [DONE]\n\n".encode()
CLIENT_MARKS = [[311, len(f"data: {CHUNK}\n\n")], [1403, len(CLIENT_STREAM)]]


@pytest.fixture(autouse=True)
def views() -> Iterator[None]:
    """The addon loaded as mitmproxy loads it; prettify_message needs the options context."""
    with taddons.context(MitmllmViews()):
        yield


def translated_flow(**meta: Any) -> http.HTTPFlow:
    """An OpenAI Chat client streaming through an Anthropic provider."""
    flow = tflow.tflow(resp=True)
    flow.request.method = "POST"
    flow.request.url = "https://api.anthropic.com/v1/messages"
    flow.request.headers["content-type"] = "application/json"
    flow.request.content = json.dumps(SENT_BODY).encode()
    flow.response.headers["content-type"] = "text/event-stream"
    flow.response.content = CLIENT_STREAM
    flow.metadata["mitmllm"] = {
        "kind": "chat", "client_format": "openai", "provider_format": "anthropic",
        "model": "anthropic/claude-sonnet-4", "provider": "anthropic",
        "upstream_model": "claude-sonnet-4", "stream": True,
        "dropped": ["seed", "tool_choice (it names a tool that was dropped)"],
        "defaulted": ["max_tokens = 4096 (Anthropic requires it; the client gave none)"],
        "client_request": {"body": json.dumps(CLIENT_BODY), "cut": 0},
        "provider_answer": {"body": PROVIDER_STREAM, "cut": 0, "marks": PROVIDER_MARKS},
        "client_answer": {"cut": 0, "marks": CLIENT_MARKS},
        "answer_end": "complete",
        **meta,
    }
    return flow


def shown(flow: http.HTTPFlow, message: http.Message, view: str = "auto"
          ) -> contentviews.ContentviewResult:
    return contentviews.prettify_message(message, flow, view)


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def section(text: str, title: str) -> str:
    """The text under one `== title ...` heading, up to the next heading."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"== {title}"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("== ")),
               len(lines))
    return "\n".join(lines[start + 1:end]).strip("\n")


# The request page


def test_the_request_shows_the_route_both_bodies_and_what_was_dropped_or_defaulted() -> None:
    flow = translated_flow()
    result = shown(flow, flow.request)
    assert result.view_name == "mitmllm"
    text = result.text

    route = lines_of(section(text, "mitmllm route"))
    assert "  provider        anthropic" in route
    assert "  model           anthropic/claude-sonnet-4, as the client asked" in route
    assert "  upstream model  claude-sonnet-4" in route
    assert ("  formats         OpenAI Chat Completions -> Anthropic Messages (translated)"
            in route)
    assert "  endpoint        POST https://api.anthropic.com/v1/messages" in route
    assert "  request         chat, streamed" in route

    client = section(text, "Client sent: OpenAI Chat Completions")
    assert client.endswith("""
{
  "model": "anthropic/claude-sonnet-4",
  "stream": true,
  "seed": 7,
  "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi"}]
}""")
    assert f"{len(json.dumps(CLIENT_BODY))} bytes as the client sent it" in client

    sent = section(text, "Sent to the provider: Anthropic Messages")
    assert sent.endswith("""
{
  "model": "claude-sonnet-4",
  "max_tokens": 4096,
  "stream": true,
  "system": "Be brief.",
  "messages": [{"role": "user", "content": "Say hi"}]
}""")
    assert "Never sent" not in sent

    assert lines_of(section(text, "Dropped")) == [
        "  field        why",
        "  seed         no equivalent in Anthropic Messages (see "
        "docs/formats.md#dropped-and-refused)",
        "  tool_choice  it names a tool that was dropped",
    ]
    assert lines_of(section(text, "Defaulted")) == [
        "  field = value      why",
        "  max_tokens = 4096  Anthropic requires it; the client gave none",
    ]
    assert "== Cut" not in text


def test_every_line_fits_100_columns_but_an_unbreakable_value() -> None:
    long_reason = "x (" + " ".join(["word"] * 60) + ")"
    flow = translated_flow(dropped=[long_reason])
    text = shown(flow, flow.request).text
    assert all(len(line) <= 100 for line in text.splitlines())
    assert lines_of(section(text, "Dropped"))[1].startswith("  x      word word")


def test_a_request_mitmllm_answered_itself_says_it_was_never_sent() -> None:
    flow = translated_flow()
    flow.server_conn.timestamp_start = None  # no connection to the provider was opened
    text = shown(flow, flow.request).text
    assert section(text, "Sent to the provider").startswith(
        "Never sent: mitmllm answered this request itself (see the response).")


def test_a_cut_client_request_is_shown_as_kept_and_said_to_be_cut() -> None:
    kept = json.dumps(CLIENT_BODY)[:40]
    flow = translated_flow(client_request={"body": kept, "cut": 2_000_000})
    text = shown(flow, flow.request).text
    assert kept in section(text, "Client sent")  # not JSON any more: the text as it is
    assert section(text, "Cut") == ("The client's request: 2,000,000 bytes more were not "
                                    "kept, so its JSON may end early.")


def test_a_passthrough_request_says_so_and_lists_nothing_dropped() -> None:
    flow = translated_flow(client_format="anthropic", dropped=[], defaulted=[])
    text = shown(flow, flow.request).text
    assert "  formats         Anthropic Messages on both sides (passed through)" in text
    assert section(text, "Dropped") == "nothing"
    assert section(text, "Defaulted") == "nothing"


# The response page


def test_the_response_shows_both_streams_as_timed_events_and_the_end() -> None:
    flow = translated_flow()
    result = shown(flow, flow.response)
    assert result.view_name == "mitmllm"
    text = result.text

    provider = lines_of(section(text, "Provider sent: Anthropic Messages"))
    assert provider[0] == (f"event stream, 3 events, {len(PROVIDER_STREAM)} bytes, 3 chunks, "
                           "the last at +402 ms")
    # The first chunk ended past the first event; the second event ended with the second.
    assert provider[2:] == [
        "+310 ms  message_start",
        "    {",
        '      "type": "message_start",',
        '      "message": {',
        '        "id": "msg_1",',
        '        "role": "assistant",',
        '        "content": [],',
        '        "usage": {"input_tokens": 12, "output_tokens": 1}',
        "      }",
        "    }",
        "+355 ms  content_block_delta",
        '    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", '
        '"text": "Hi!"}}',
        "+402 ms  message_stop",
        '    {"type": "message_stop"}',
    ]

    client = lines_of(section(text, "Client got: OpenAI Chat Completions"))
    assert client[0] == (f"event stream, 2 events, {len(CLIENT_STREAM)} bytes, 2 chunks, "
                         "the last at +1,403 ms")
    assert client[2] == "  +311 ms  message"
    assert '      "choices": [{"index": 0, "delta": {"content": "Hi!"}, ' \
           '"finish_reason": null}]' in client
    assert client[-1] == "+1,403 ms  [DONE]"

    assert section(text, "How the answer ended") == "complete"
    assert "== Cut" not in text


def test_an_event_is_timed_by_the_first_chunk_that_reached_its_end() -> None:
    body = b"data: 1\n\ndata: 2\n\ndata: 3\n\n"
    # Chunks end at 4 (inside event 1), 12 (inside event 2) and at the end of the body.
    flow = translated_flow(provider_answer={"body": body.decode(), "cut": 0,
                                            "marks": [[5, 4], [17, 12], [29, len(body)]]})
    provider = lines_of(section(shown(flow, flow.response).text, "Provider sent"))
    assert [line for line in provider if "message" in line] == [
        "+17 ms  message", "+29 ms  message", "+29 ms  message"]


def test_a_passthrough_answer_is_shown_once_as_what_the_client_got() -> None:
    flow = translated_flow(client_format="anthropic",
                           provider_answer={"same_as_client": True})
    flow.response.content = PROVIDER_STREAM.encode()
    text = shown(flow, flow.response).text
    assert section(text, "Provider sent") == ("The same bytes as the client got, below: "
                                              "a passthrough.")
    client = section(text, "Client got: Anthropic Messages")
    assert "content_block_delta" in client and '"text": "Hi!"' in client


def test_a_whole_answer_is_pretty_json_on_both_sides() -> None:
    provider_body = {"id": "msg_1", "type": "message", "role": "assistant",
                     "content": [{"type": "text", "text": "Hi!"}], "stop_reason": "end_turn"}
    client_body = {"id": "chatcmpl-1", "object": "chat.completion",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi!"},
                                "finish_reason": "stop"}]}
    flow = translated_flow(stream=False,
                           provider_answer={"body": json.dumps(provider_body), "cut": 0,
                                            "marks": [[120, 80], [640, 151]]},
                           client_answer={"cut": 0, "marks": [[641, 170]]})
    flow.response.headers["content-type"] = "application/json"
    flow.response.content = json.dumps(client_body).encode()
    result = shown(flow, flow.response)
    assert result.view_name == "mitmllm"
    provider = lines_of(section(result.text, "Provider sent"))
    assert provider[0] == f"whole body, {len(json.dumps(provider_body))} bytes, complete at +640 ms"
    assert provider[2:] == [
        "{",
        '  "id": "msg_1",',
        '  "type": "message",',
        '  "role": "assistant",',
        '  "content": [{"type": "text", "text": "Hi!"}],',
        '  "stop_reason": "end_turn"',
        "}",
    ]
    client = lines_of(section(result.text, "Client got"))
    assert client[0].startswith("whole body,") and client[0].endswith("complete at +641 ms")
    assert '  "object": "chat.completion",' in client


def test_a_broken_stream_shows_what_came_and_why_it_ended() -> None:
    partial = PROVIDER_STREAM[:SECOND_EVENT_END]
    error = ('{"error":{"message":"The provider broke off the stream.","type":"server_error",'
             '"code":"upstream_error"}}')
    flow = translated_flow(provider_answer={"body": partial, "cut": 0,
                                            "marks": [[300, len(partial)]]},
                           answer_end="provider broke off: connection reset")
    flow.response.content = f"data: {CHUNK}\n\ndata: {error}\n\n".encode()
    text = shown(flow, flow.response).text
    provider = section(text, "Provider sent")
    assert "+300 ms  message_start" in provider and "message_stop" not in provider
    client = section(text, "Client got")
    assert '"message": "The provider broke off the stream."' in client
    assert section(text, "How the answer ended") == "provider broke off: connection reset"


def test_an_error_answer_from_the_provider_is_shown_on_both_sides() -> None:
    provider_error = {"type": "error", "error": {"type": "rate_limit_error",
                                                 "message": "Slow down."}}
    client_error = {"error": {"message": "Slow down.", "type": "rate_limit_error",
                              "param": None, "code": None}}
    flow = translated_flow(provider_answer={"body": json.dumps(provider_error), "cut": 0,
                                            "marks": [[90, 90]]},
                           client_answer={"cut": 0, "marks": []},
                           answer_end="complete")
    flow.response.status_code = 429
    flow.response.headers["content-type"] = "application/json"
    flow.response.content = json.dumps(client_error).encode()
    text = shown(flow, flow.response).text
    assert '  "error": {"type": "rate_limit_error", "message": "Slow down."}' in \
        section(text, "Provider sent")
    client = lines_of(section(text, "Client got"))
    assert client[0] == f"whole body, {len(json.dumps(client_error))} bytes"
    assert client[2:] == ["{", '  "error": {"message": "Slow down.", "type": '
                               '"rate_limit_error", "param": null, "code": null}', "}"]


def test_cut_answers_are_said_to_be_cut() -> None:
    flow = translated_flow(provider_answer={"body": PROVIDER_STREAM, "cut": 123_456,
                                            "marks": PROVIDER_MARKS},
                           client_answer={"cut": 7_890, "marks": CLIENT_MARKS},
                           answer_end="client left mid-stream")
    flow.response.content = CLIENT_STREAM + b": [mitmllm: 7890 more bytes not kept]\n"
    text = shown(flow, flow.response).text
    assert section(text, "How the answer ended") == "client left mid-stream"
    assert lines_of(section(text, "Cut")) == [
        "The provider's answer: 123,456 bytes more were not kept.",
        "The client's answer: 7,890 bytes more were not kept.",
    ]
    # The comment is no event.
    assert "2 events" in section(text, "Client got")


def test_an_older_flow_without_the_captures_says_what_is_missing() -> None:
    flow = translated_flow()
    meta = flow.metadata["mitmllm"]
    for key in ("client_request", "provider_answer", "client_answer", "answer_end",
                "dropped", "defaulted", "upstream_model"):
        del meta[key]
    request = shown(flow, flow.request)
    assert request.view_name == "mitmllm"
    assert section(request.text, "Client sent").startswith("Not recorded: capture was off")
    assert '"max_tokens": 4096' in section(request.text, "Sent to the provider")
    assert section(request.text, "Dropped") == "nothing recorded"
    assert "  upstream model  not recorded" in request.text

    response = shown(flow, flow.response)
    assert section(response.text, "Provider sent").startswith("Not recorded")
    client = lines_of(section(response.text, "Client got"))
    assert client[0] == f"event stream, 2 events, {len(CLIENT_STREAM)} bytes"
    assert client[2] == "message" and client[-1] == "[DONE]"  # no timings recorded
    assert section(response.text, "How the answer ended") == "not recorded"


# Flows that are not a routed exchange


def test_a_flow_without_mitmllm_data_keeps_the_stock_view_and_the_view_says_why() -> None:
    flow = tflow.tflow(resp=True)
    flow.request.headers["content-type"] = "application/json"
    flow.request.content = b'{"a": [1, 2]}'
    assert shown(flow, flow.request).view_name == "JSON"
    text = shown(flow, flow.request, "mitmllm").text
    assert lines_of(text) == [
        "No mitmllm data on this flow: it did not go through mitmllm, or was saved "
        "without it.",
        "",
        "whole body, 13 bytes",
        "",
        "{",
        '  "a": [1, 2]',
        "}",
    ]


def test_an_unrouted_mitmllm_flow_says_mitmllm_answered_it() -> None:
    flow = tflow.tflow(resp=True)
    flow.request.path = "/admin/providers"
    flow.response.headers["content-type"] = "application/json"
    flow.response.content = b'[{"name": "openai", "state": "connected"}]'
    flow.metadata["mitmllm"] = {"kind": "admin"}
    assert shown(flow, flow.response).view_name == "JSON"
    text = shown(flow, flow.response, "mitmllm").text
    assert text.startswith("Not routed to a model: mitmllm answers admin requests itself.")
    assert '  {"name": "openai", "state": "connected"}' in text

    flow.metadata["mitmllm"] = {"kind": "chat", "client_format": "openai",
                                "model": "no-such-model"}
    text = shown(flow, flow.request, "mitmllm").text
    assert text.startswith("Not routed to a model: mitmllm answered it itself before any "
                           "provider was asked")


def test_a_plain_event_stream_reads_as_events_without_timings() -> None:
    flow = tflow.tflow(resp=True)
    flow.response.headers["content-type"] = "text/event-stream; charset=utf-8"
    flow.response.content = (b": keep-alive\r\n\r\n"
                             b"event: ping\r\ndata: {\"n\": 1}\r\n\r\n"
                             b"id: 7\r\ndata: line one\r\ndata: line two\r\n\r\n"
                             b"data: [DONE]\r\n\r\n")
    result = shown(flow, flow.response)
    assert result.view_name == "SSE"
    assert lines_of(result.text) == [
        f"event stream, 3 events, {len(flow.response.content)} bytes",
        "",
        "ping",
        '    {"n": 1}',
        "message  id=7",
        "    line one",
        "    line two",
        "[DONE]",
    ]


def test_the_sse_view_on_a_mitmllm_stream_uses_the_clients_timings() -> None:
    flow = translated_flow()
    result = shown(flow, flow.response, "sse")
    assert result.view_name == "SSE"
    assert lines_of(result.text)[-1] == "+1,403 ms  [DONE]"
    assert shown(flow, flow.response, "SSE").view_name == "SSE"  # names are case-blind


def test_bodies_that_are_not_utf8_are_shown_escaped() -> None:
    flow = translated_flow()
    flow.request.content = b'{"model": "x", "bad": "\xff\xfe"}'
    sent = section(shown(flow, flow.request).text, "Sent to the provider")
    assert "(not UTF-8: the bytes that are not are shown as \\xNN)" in sent
    assert '{"model": "x", "bad": "\\xff\\xfe"}' in sent

    plain = tflow.tflow(resp=True)
    plain.response.headers["content-type"] = "text/event-stream"
    plain.response.content = b"data: caf\xe9\n\n"
    assert lines_of(shown(plain, plain.response).text)[2:] == ["message", "    caf\ufffd"]


# The offsets behind the timings


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_events_are_those_of_the_decoder_each_with_its_end_offset(newline: bytes) -> None:
    body = newline.join([b"event: a", b"data: {\"x\": 1}", b"", b": comment", b"",
                         b"data: two", b"data: lines", b"", b"data: unterminated"])
    decoder = SSEDecoder()
    assert [e for e, _ in split_events(body)] == [*decoder.decode(body), *decoder.flush()]
    first_end = body.index(b": comment")
    assert [end for _, end in split_events(body)] == [
        first_end, body.index(b"data: unterminated"), len(body)]


def test_a_2_mib_stream_renders_every_event() -> None:
    # How long it takes is measured in bench/views.py, not asserted here.
    chunk = f"data: {CHUNK}\n\n".encode()
    body = chunk * (2 * 1024 * 1024 // len(chunk))
    marks = [[i, (i + 1) * len(chunk)] for i in range(len(body) // len(chunk))]
    flow = translated_flow(provider_answer={"body": body.decode(), "cut": 0, "marks": marks},
                           client_answer={"cut": 0, "marks": marks})
    flow.response.content = body
    for view in ("auto", "sse"):
        text = shown(flow, flow.response, view).text
        assert text.count("chat.completion.chunk") >= len(marks)


# Registration


def test_the_views_are_listed_as_mitmweb_lists_them() -> None:
    names = contentviews.registry.available_views()
    assert "mitmllm" in names and "sse" in names


def test_loading_twice_keeps_one_working_view_of_each() -> None:
    before = {name: contentviews.registry[name] for name in ("mitmllm", "sse")}
    with taddons.context(MitmllmViews()):
        pass
    assert {name: contentviews.registry[name] for name in ("mitmllm", "sse")} == before
    flow = translated_flow()
    assert shown(flow, flow.response).view_name == "mitmllm"


def test_the_view_script_loads_the_views_in_stock_mitmproxy() -> None:
    with taddons.context() as tctx:
        # Loaded and registered (its `load` run) as `-s addons/view_script.py` does.
        script = tctx.script(str(VIEW_SCRIPT))
        assert [type(addon).__name__ for addon in script.addons] == ["MitmllmViews"]
    flow = translated_flow()
    assert shown(flow, flow.request).view_name == "mitmllm"


def test_the_short_parts_come_before_the_bodies() -> None:
    # mitmweb shows a view's first 512 lines until asked for more.
    flow = translated_flow()
    request = shown(flow, flow.request).text
    assert request.index("== Dropped") < request.index("== Defaulted") < request.index(
        "== Client sent") < request.index("== Sent to the provider")
    response = shown(flow, flow.response).text
    assert response.index("== How the answer ended") < response.index(
        "== Provider sent") < response.index("== Client got")
