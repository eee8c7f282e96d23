"""End to end, issue 12: hostile providers and hostile clients, and nothing left behind.

One real `mitmllm run` (`listen.max_body_mb: 1`) in front of one hostile provider, a raw
TCP server whose answers are scripted byte by byte (`support/hostile_provider.py`). It is
configured three times, once per API format (`h-openai`, `h-anthropic`, `h-responses`, each
with a 0.5 s `timeout`), and three more times on a port where nothing listens (`gone-…`).

- Provider faults (`TestProviderFaults`): every fault, for every client format, every
  provider format, streamed and whole, read as raw HTTP, so the exact answer is checked:
  the status, the content type, an error in the client's own format (a body, or the
  stream's error ending of docs/formats.md#how-a-stream-ends) with well-formed frames and
  no half event, or, for a slow provider or one that sends keep-alive comments, the right
  answer. Then a few of them through the real `openai` and `anthropic` SDKs
  (`TestSdksSeeProperErrors`).
- Hostile clients (`TestHostileClients`): mistyped fields of every format, deep nesting, lone
  surrogates, NUL bytes, invalid UTF-8, an oversize body, a client that leaves mid-stream
  (the provider's connection is closed), and headers sent a byte at a time (with stock
  mitmdump, whose `--set` shortens the deadline).
- Nothing is left behind: after each test the hostile provider has no open connection,
  and after each group the proxy holds no more file descriptors than before and still
  answers `/health`.

What the existing matrix already pins (tests/e2e/test_format_matrix.py: a provider's error
answers, a provider's own mid-stream error events, a stream stalled between whole events)
is not repeated here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import openai
import pytest
from support.fake_provider import sse_lines
from support.hostile_provider import (
    LAST_CHUNK,
    Close,
    Hold,
    HostileProvider,
    HostileThread,
    Pause,
    Reset,
    Send,
    Step,
    chunk,
    closed_port,
    head,
    wait_until,
    whole,
)
from support.proxy import MitmllmProcess, free_port, isolated_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
VECTORS = Path(__file__).parent.parent / "vectors"
FORMATS = ("openai", "anthropic", "responses")
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages",
         "responses": "/v1/responses"}
TIMEOUT = 0.5  # the providers' `timeout`, seconds
CLIENT_TIMEOUT = 10.0  # no case may come near it: a hang fails
SLOW = 0.3  # a pause the providers' timeout allows
MAX_BODY_MB = 1
FD_SLACK = 4


def vector(name: str) -> dict[str, Any]:
    return json.loads(next(VECTORS.glob(f"{name}_*.json")).read_text())


# --- the proxy and the hostile provider ----------------------------------------------------

@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileProvider]:
    with HostileThread() as provider:
        yield provider


@pytest.fixture(scope="module")
def proxy(hostile: HostileProvider, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[MitmllmProcess]:
    gone = closed_port()
    rows = "".join(
        f"  - {{name: {name}-{fmt}, preset: custom, format: {fmt}, host: 127.0.0.1, "
        f"protocol: http, port: {port}, timeout: {TIMEOUT}, auto_connect: false}}\n"
        for fmt in FORMATS for name, port in (("h", hostile.port), ("gone", gone)))
    config = (f"listen: {{max_body_mb: {MAX_BODY_MB}}}\nproviders:\n{rows}"
              "local: {enabled: false}\n")
    with MitmllmProcess(tmp_path_factory.mktemp("faults"), config) as process:
        yield process
        assert process.stop() == 0, process.log()


@pytest.fixture(autouse=True)
def no_open_connections(hostile: HostileProvider) -> Iterator[None]:
    """Every test starts with no script queued and ends with every provider connection
    closed: the proxy never keeps one it has no use for."""
    hostile.clear()
    before = len(hostile.connections)
    yield
    mine = hostile.connections[before:]
    assert wait_until(lambda: not any(c.open for c in mine), 2.0), \
        f"connections left open: {[c for c in mine if c.open]}"


def fd_count(proxy: MitmllmProcess) -> int:
    assert proxy.process is not None
    return len(os.listdir(f"/proc/{proxy.process.pid}/fd"))


@pytest.fixture(scope="class")
def nothing_left_behind(proxy: MitmllmProcess) -> Iterator[None]:
    """A group of tests leaves the proxy with no more file descriptors than it had, and
    still answering."""
    before = fd_count(proxy)
    yield
    assert wait_until(lambda: fd_count(proxy) <= before + FD_SLACK, 3.0), \
        f"{fd_count(proxy)} fds open, {before} before the group"
    assert proxy.get("/health") == {"status": "ok"}


# --- what each format sends and answers ----------------------------------------------------

def request_body(client: str, model: str, stream: bool) -> dict[str, Any]:
    if client == "anthropic":
        return {"model": model, "max_tokens": 64, "stream": stream,
                "messages": [{"role": "user", "content": "Hi"}]}
    if client == "responses":
        return {"model": model, "input": "Hi", "stream": stream}
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": "Hi"}]}


WHOLE_ANSWERS = {"openai": ("nonstream_16", "openai_response"),
                 "anthropic": ("nonstream_11", "anthropic_response"),
                 "responses": ("nonstream_13", "responses_response")}
STREAMS = {"openai": ("stream_40", "openai_sse"), "anthropic": ("stream_20", "anthropic_sse"),
           "responses": ("stream_34", "responses_sse")}


def answer_body(fmt: str) -> bytes:
    name, field = WHOLE_ANSWERS[fmt]
    return json.dumps(vector(name)[field]).encode()


def stream_events(fmt: str) -> list[bytes]:
    """The provider's recorded text stream, one whole event per item, terminator included."""
    name, field = STREAMS[fmt]
    return sse_lines(vector(name)[field])


def opening(fmt: str) -> list[bytes]:
    """The stream's events up to its second text delta (no terminator)."""
    kept: list[bytes] = []
    for event in stream_events(fmt):
        kept.append(event)
        if sum(len(stream_text(fmt, sse_events(e.decode()))) > 0 for e in kept) == 2:
            return kept
    raise AssertionError(f"the {fmt} stream has fewer than two text deltas")


def next_event(fmt: str) -> bytes:
    return stream_events(fmt)[len(opening(fmt))]


def whole_text(fmt: str, body: dict[str, Any]) -> str:
    if fmt == "anthropic":
        return "".join(b["text"] for b in body["content"] if b["type"] == "text")
    if fmt == "responses":
        return "".join(part["text"] for item in body["output"] if item["type"] == "message"
                       for part in item["content"] if part["type"] == "output_text")
    return str(body["choices"][0]["message"]["content"])


def stream_text(fmt: str, events: list[tuple[str | None, str]]) -> str:
    """The text a client of format `fmt` reads from these events."""
    text = []
    for _, data in events:
        payload = json.loads(data) if data != "[DONE]" else {}
        if fmt == "anthropic" and payload.get("type") == "content_block_delta" \
                and payload["delta"].get("type") == "text_delta":
            text.append(payload["delta"]["text"])
        elif fmt == "responses" and payload.get("type") == "response.output_text.delta":
            text.append(payload["delta"])
        elif fmt == "openai":
            text.extend(choice["delta"].get("content") or ""
                        for choice in payload.get("choices") or [])
    return "".join(text)


def sse_events(text: str) -> list[tuple[str | None, str]]:
    """(event name, data) of each event of a well-formed SSE text; anything else fails."""
    assert text == "" or text.endswith("\n\n"), f"the stream does not end an event: {text!r}"
    events = []
    for block in text.split("\n\n")[:-1]:
        name, data = None, []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            else:
                assert field == "", f"a line that is no SSE field: {line!r} in {block!r}"
        if data:
            payload = "\n".join(data)
            if payload != "[DONE]":
                assert isinstance(json.loads(payload), dict), block
            events.append((name, payload))
    return events


# --- what the client gets --------------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    raw: bytes
    seconds: float


def plain_http() -> httpx.Client:
    """A client for loopback HTTP (without loading the CA bundle: 80 ms a client)."""
    return httpx.Client(timeout=CLIENT_TIMEOUT, verify=False)


def ask(proxy: MitmllmProcess, client: str, model: str, stream: bool,
        body: bytes | None = None) -> Answer:
    """One request as raw HTTP, on a connection of its own, read to its end."""
    content = body if body is not None else json.dumps(request_body(client, model, stream)
                                                       ).encode()
    started = time.monotonic()
    with plain_http() as http, http.stream(
            "POST", proxy.url + PATHS[client], content=content,
            headers={"content-type": "application/json"}) as answer:
        try:
            raw = answer.read()
        except httpx.TransportError as exc:
            pytest.fail(f"the proxy cut the answer ({exc!r}) instead of ending it")
    return Answer(answer.status_code, answer.headers.get("content-type", ""), raw,
                  time.monotonic() - started)


OPENAI_TYPES = {400: "invalid_request_error", 413: "invalid_request_error",
                502: "server_error", 504: "server_error"}
ANTHROPIC_TYPES = {400: "invalid_request_error", 413: "request_too_large", 502: "api_error",
                   504: "timeout_error"}


@dataclass(frozen=True)
class Refused:
    """A whole error answer in the client's format, before any byte of an answer."""

    status: int
    code: str | None  # the OpenAI-shaped body's code (Anthropic's type follows the status)
    says: str


@dataclass(frozen=True)
class Broken:
    """A 200 event stream whose last event is the client format's error ending, after the
    text of the events before the fault."""

    code: str  # the error's code: provider_error, provider_timeout, bad_upstream_response
    says: str = ""
    timeout: bool = False
    # An Anthropic stream that ends before message_stop is Anthropic's own `api_error`
    # (docs/formats.md#how-a-stream-ends).
    from_anthropic: str | None = None


@dataclass(frozen=True)
class Answered:
    """The provider's whole text, in the client's format, ended normally."""


@dataclass(frozen=True)
class Relayed:
    """Same format on both sides: the provider's stream, byte for byte
    (docs/formats.md#the-hub), whatever it holds."""


Expected = Refused | Broken | Answered | Relayed


def error_of(client: str, answer: Answer) -> dict[str, Any]:
    """The error body of a whole answer, checked against the client format's shape."""
    assert answer.content_type == "application/json", answer
    body = json.loads(answer.raw)
    if client == "anthropic":
        assert set(body) <= {"type", "error", "request_id"} and body["type"] == "error", body
        assert set(body["error"]) == {"type", "message"}, body
    else:
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["message"], str)
    return dict(body["error"])


def check_refused(client: str, answer: Answer, expected: Refused) -> None:
    assert answer.status == expected.status, answer
    error = error_of(client, answer)
    if client == "anthropic":
        assert error["type"] == ANTHROPIC_TYPES[expected.status], error
    else:
        assert error["type"] == OPENAI_TYPES[expected.status], error
        assert error["code"] == expected.code, error
    assert expected.says in error["message"], error


def check_broken(client: str, answer: Answer, expected: Broken, text_before: str) -> None:
    """The stream's error ending (docs/formats.md#how-a-stream-ends), one error then
    nothing, after exactly the text sent before the fault."""
    assert answer.status == 200 and answer.content_type.startswith("text/event-stream"), answer
    events = sse_events(answer.raw.decode())
    assert stream_text(client, events) == text_before
    names = [name for name, _ in events]
    payloads = [json.loads(d) for _, d in events if d != "[DONE]"]
    if client == "anthropic":
        assert names[-1] == "error" and names.count("error") == 1, names
        assert "message_stop" not in names
        body = payloads[-1]
        assert set(body) <= {"type", "error", "request_id"} and body["type"] == "error"
        error = body["error"]
        assert set(error) == {"type", "message"}, error
        assert error["type"] == ("timeout_error" if expected.timeout else "api_error"), error
    elif client == "openai":
        assert "[DONE]" not in [d for _, d in events]
        assert set(payloads[-1]) == {"error"}, payloads[-1]
        error = payloads[-1]["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert error["code"] == expected.code, error
        assert [p for p in payloads if "error" in p] == payloads[-1:]
    else:
        assert events[-1][1] == "[DONE]", events[-3:]
        types = [p["type"] for p in payloads]
        assert types[:2] == ["response.created", "response.in_progress"], types
        assert types[-2:] == ["error", "response.failed"], types
        assert "response.completed" not in types and types.count("error") == 1
        assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
        event, failed = payloads[-2], payloads[-1]["response"]
        assert event["code"] == event["error"]["code"] == expected.code, event
        assert event["message"] == event["error"]["message"]
        assert failed["status"] == "failed"
        assert failed["error"] == {"code": expected.code, "message": event["message"]}
        error = event
    assert expected.says in error["message"], error


def check_answered(client: str, answer: Answer, stream: bool, text: str) -> None:
    assert answer.status == 200, answer
    if not stream:
        assert answer.content_type == "application/json", answer
        assert whole_text(client, json.loads(answer.raw)) == text
        return
    assert answer.content_type.startswith("text/event-stream"), answer
    events = sse_events(answer.raw.decode())
    assert stream_text(client, events) == text
    payloads = [json.loads(d) for _, d in events if d != "[DONE]"]
    if client == "anthropic":
        assert events[-1][0] == "message_stop"
    elif client == "responses":
        assert payloads[-1]["type"] == "response.completed" and events[-1][1] == "[DONE]"
    else:
        assert events[-1][1] == "[DONE]"
        assert any(c.get("finish_reason") for p in payloads for c in p["choices"])


# --- the faults ----------------------------------------------------------------------------

HTML_PAGE = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")
SSE = "text/event-stream"
JSON = "application/json"
BROKE_OFF = Broken("provider_error", "broke off the answer")
TIMED_OUT = Broken("provider_timeout", f"did not answer within {TIMEOUT:g} s", timeout=True)
MALFORMED = Broken("bad_upstream_response")


@dataclass(frozen=True)
class Fault:
    """What the provider does (None: the route's port refuses connections), and what the
    client must get; `partial`: the client gets the text of `opening` before the error."""

    steps: Callable[[str], list[Step]] | None
    expected: Expected
    partial: bool = False
    same_format: Expected | None = None  # when client and provider formats are the same

    def expect(self, client: str, provider: str) -> Expected:
        if client == provider and self.same_format is not None:
            return self.same_format
        return self.expected


def _sse_head(**kwargs: Any) -> bytes:
    return head(200, SSE, **kwargs)


def _chunked(events: list[bytes]) -> bytes:
    return b"".join(chunk(e) for e in events)


def _half(data: bytes) -> bytes:
    return data[:len(data) // 2]


def _keepalives(fmt: str) -> list[Step]:
    """Comments before and between all events, and one gap longer than the timeout that
    only comments fill: they count as the provider being alive."""
    events = stream_events(fmt)
    steps: list[Step] = [Send(_sse_head(chunked=True) + chunk(b": ping\n\n"))]
    for i, event in enumerate(events):
        steps.append(Send(chunk(event + b": ping\n\n")))
        if i == 1:
            for _ in range(3):
                steps += [Pause(TIMEOUT * 0.4), Send(chunk(b": keep-alive\n\n"))]
    return [*steps, Send(LAST_CHUNK)]


def _junk_lines(fmt: str) -> list[Step]:
    """Lines the SSE grammar ignores (no field name it knows, `retry`, `id`) among the
    events. Not before the first: a body that does not start as SSE is not taken for a
    stream (an HTML page would be read as fields too)."""
    junk = b"garbage without a colon\nx-unknown-field: 1\nretry: 10\nid: 7\n"
    first, *rest = stream_events(fmt)
    events = [first, *(junk + e for e in rest)]
    return [Send(_sse_head(chunked=True) + _chunked(events) + LAST_CHUNK)]


def _huge(fmt: str) -> list[Step]:
    size = 50 * 1024 * 1024
    body = b'{"id": "x", "padding": "' + b"y" * size + b'"}'
    return [Send(head(200, JSON, length=len(body))), Send(body)]


FAULTS: dict[tuple[str, str], Fault] = {}


def fault(name: str, modes: str, steps: Callable[[str], list[Step]] | None,
          expected: Expected, partial: bool = False,
          same_format: Expected | None = None) -> None:
    for mode in modes.split():
        FAULTS[name, mode] = Fault(steps, expected, partial, same_format)


# Before any answer, streamed or whole: the answer can still be an error body.
fault("refused", "whole stream", None, Refused(502, "provider_unreachable", "is unreachable"))
fault("reset-before-answer", "whole stream", lambda f: [Reset()],
      Refused(502, "provider_error", "broke off"))
fault("reset-mid-headers", "whole stream",
      lambda f: [Send(b"HTTP/1.1 200 OK\r\ncontent-ty"), Reset()],
      Refused(502, "provider_error", "broke off"))
fault("never-answers", "whole stream", lambda f: [Hold()],
      Refused(504, "provider_timeout", f"did not answer within {TIMEOUT:g} s"))
fault("slow-first-byte", "whole", lambda f: [Pause(SLOW), *whole(200, JSON, answer_body(f))],
      Answered())
fault("slow-first-byte", "stream",
      lambda f: [Pause(SLOW), Send(_sse_head(chunked=True) + _chunked(stream_events(f))
                                   + LAST_CHUNK)],
      Answered())
fault("html-error-page", "whole stream", lambda f: whole(502, "text/html", HTML_PAGE),
      Refused(502, None, "502 Bad Gateway"))
fault("closes-after-headers", "whole", lambda f: [Send(head(200, JSON, length=400)), Close()],
      Refused(502, "provider_error", "broke off"))
fault("closes-after-headers", "stream", lambda f: [Send(_sse_head(chunked=True)), Close()],
      BROKE_OFF)
# A whole answer that goes wrong.
fault("silent-mid-body", "whole",
      lambda f: [Send(head(200, JSON, length=len(answer_body(f))) + _half(answer_body(f))),
                 Hold()],
      Refused(504, "provider_timeout", f"did not answer within {TIMEOUT:g} s"))
fault("cut-mid-body", "whole",
      lambda f: [Send(head(200, JSON, length=len(answer_body(f))) + _half(answer_body(f))),
                 Close()],
      Refused(502, "provider_error", "broke off"))
fault("cut-unframed-body", "whole",
      lambda f: [Send(head(200, JSON, close=True) + _half(answer_body(f))), Close()],
      Refused(502, "bad_upstream_response", "not JSON"))
fault("invalid-json", "whole", lambda f: whole(200, JSON, b'{"id": "x", "choices": ['),
      Refused(502, "bad_upstream_response", "not JSON"))
fault("html-200", "whole", lambda f: whole(200, "text/html", HTML_PAGE),
      Refused(502, "bad_upstream_response", "not JSON"))
fault("bad-chunk-size", "whole",
      lambda f: [Send(head(200, JSON, chunked=True) + b"zz\r\n" + answer_body(f) + b"\r\n"
                      + LAST_CHUNK)],
      Refused(502, "provider_error", "broke off"))
fault("50-mb-body", "whole", _huge,
      Refused(502, "bad_upstream_response", f"listen.max_body_mb ({MAX_BODY_MB} MB)"))
# A stream that goes wrong once under way.
fault("half-event-then-end", "stream",
      lambda f: [Send(_sse_head(chunked=True) + _chunked(opening(f))
                      + chunk(_half(next_event(f))) + LAST_CHUNK)],
      MALFORMED, partial=True)
fault("half-event-then-fin", "stream",
      lambda f: [Send(_sse_head(chunked=True) + _chunked(opening(f))
                      + chunk(_half(next_event(f)))), Close()],
      BROKE_OFF, partial=True)
fault("half-event-unframed", "stream",
      lambda f: [Send(_sse_head(close=True) + b"".join(opening(f)) + _half(next_event(f))),
                 Close()],
      MALFORMED, partial=True)
fault("no-terminator-then-end", "stream",
      lambda f: [Send(_sse_head(chunked=True) + _chunked(opening(f)) + LAST_CHUNK)],
      Broken("bad_upstream_response", from_anthropic="api_error"), partial=True)
fault("no-terminator-then-fin", "stream",
      lambda f: [Send(_sse_head(chunked=True) + _chunked(opening(f))), Close()],
      BROKE_OFF, partial=True)
fault("silent-mid-event", "stream",
      lambda f: [Send(_sse_head(chunked=True) + _chunked(opening(f))
                      + chunk(_half(next_event(f)))), Hold()],
      TIMED_OUT, partial=True)
fault("reset-mid-stream", "stream",
      lambda f: [Send(_sse_head(chunked=True) + _chunked(opening(f))), Pause(0.2), Reset()],
      BROKE_OFF, partial=True)
fault("bad-chunk-size-mid-stream", "stream",
      lambda f: [Send(_sse_head(chunked=True) + _chunked(opening(f)) + b"zz\r\n")],
      BROKE_OFF, partial=True)
fault("non-json-data", "stream",
      lambda f: [Send(_sse_head(chunked=True) + _chunked(opening(f))
                      + chunk(b"data: this is not JSON\n\n")
                      + _chunked(stream_events(f)[len(opening(f)):]) + LAST_CHUNK)],
      MALFORMED, partial=True)
fault("junk-lines", "stream", _junk_lines, Answered(), same_format=Relayed())
fault("keepalive-comments", "stream", _keepalives, Answered())
fault("html-200", "stream", lambda f: whole(200, "text/html", HTML_PAGE),
      Refused(502, "bad_upstream_response", "not an event stream"))
fault("json-for-a-stream", "stream", lambda f: whole(200, JSON, answer_body(f)),
      Refused(502, "bad_upstream_response", "not an event stream"))
fault("sse-labelled-html", "stream",
      lambda f: [Send(head(200, "text/html", close=True) + b"".join(stream_events(f))),
                 Close()],
      Refused(502, "bad_upstream_response", "not an event stream"))


def timed_out(expected: Expected) -> bool:
    return (isinstance(expected, Refused) and expected.code == "provider_timeout") or (
        isinstance(expected, Broken) and expected.timeout)


FAULT_CASES = [pytest.param(name, mode, client, provider,
                            id=f"{name}-{mode}-{client}-to-{provider}")
               for name, mode in FAULTS for client in FORMATS for provider in FORMATS]


def provider_text(fmt: str, stream: bool, partial: bool) -> str:
    if not stream:
        return whole_text(fmt, json.loads(answer_body(fmt)))
    events = opening(fmt) if partial else stream_events(fmt)
    return stream_text(fmt, sse_events(b"".join(events).decode()))


def run_fault(proxy: MitmllmProcess, hostile: HostileProvider, name: str, client: str,
              provider: str, mode: str) -> tuple[Answer, bytes]:
    """What the client got, and what the provider sent."""
    case = FAULTS[name, mode]
    stream = mode == "stream"
    if case.steps is None:
        return ask(proxy, client, f"gone-{provider}/m", stream), b""
    steps = case.steps(provider)
    hostile.script(PATHS[provider], *steps)
    answer = ask(proxy, client, f"h-{provider}/m", stream)
    assert hostile.connections[-1].request is not None
    assert hostile.connections[-1].request.path == PATHS[provider]
    return answer, b"".join(step.data for step in steps if isinstance(step, Send))


def sse_body(sent: bytes) -> bytes:
    """The body of a chunked answer the provider sent."""
    rest = sent.partition(b"\r\n\r\n")[2]
    body = b""
    while True:
        size, _, rest = rest.partition(b"\r\n")
        if not int(size, 16):
            return body
        body, rest = body + rest[:int(size, 16)], rest[int(size, 16) + 2:]


def check(client: str, provider: str, mode: str, case: Fault, answer: Answer,
          sent: bytes) -> None:
    """`sent`: what the provider sent."""
    expected = case.expect(client, provider)
    assert b"mitmproxy" not in answer.raw  # never its error page
    if mode == "stream" and answer.status == 200:
        # A translated stream says it is UTF-8 (docs/formats.md#endpoints-and-auth).
        assert answer.content_type == (SSE if client == provider else f"{SSE}; charset=utf-8")
    if isinstance(expected, Refused):
        check_refused(client, answer, expected)
    elif isinstance(expected, Broken):
        if provider == "anthropic" and expected.from_anthropic:
            expected = replace(expected, code=expected.from_anthropic)
        check_broken(client, answer, expected,
                     provider_text(provider, True, True) if case.partial else "")
    elif isinstance(expected, Relayed):
        check_relayed(answer, sent)
    elif client == provider and mode == "stream":
        check_relayed(answer, sent)
        assert stream_text(client, sse_events(answer.raw.decode())) == \
            provider_text(provider, True, False)
    else:
        check_answered(client, answer, mode == "stream",
                       provider_text(provider, mode == "stream", False))


def check_relayed(answer: Answer, sent: bytes) -> None:
    """A same-format stream: the provider's bytes as they came (docs/formats.md#the-hub)."""
    assert answer.status == 200 and answer.content_type == SSE, answer
    assert answer.raw == sse_body(sent)


@pytest.mark.usefixtures("nothing_left_behind")
class TestProviderFaults:
    @pytest.mark.parametrize(("name", "mode", "client", "provider"), FAULT_CASES)
    def test_provider_fault(self, name: str, mode: str, client: str, provider: str,
                            proxy: MitmllmProcess, hostile: HostileProvider) -> None:
        answer, sent = run_fault(proxy, hostile, name, client, provider, mode)
        check(client, provider, mode, FAULTS[name, mode], answer, sent)
        if timed_out(FAULTS[name, mode].expected):
            assert TIMEOUT <= answer.seconds < TIMEOUT + 1.5, answer.seconds
            # The proxy gave up on the provider: it closed the connection.
            assert wait_until(lambda: hostile.connections[-1].closed_by == "peer", 1.0)


# --- the same faults, seen by the real SDKs -------------------------------------------------

SDK_CASES = [("refused", "whole", "openai"), ("never-answers", "whole", "anthropic"),
             ("half-event-then-fin", "stream", "responses"),
             ("non-json-data", "stream", "openai"), ("silent-mid-event", "stream", "anthropic"),
             ("html-200", "stream", "responses")]


def sdk_call(proxy: MitmllmProcess, client: str, model: str, stream: bool,
             text: list[str]) -> None:
    """The SDK's own call; `text` gets what it handed over before it raised."""
    if client == "anthropic":
        kwargs: dict[str, Any] = {"model": model, "max_tokens": 64,
                                  "messages": [{"role": "user", "content": "Hi"}]}
        with anthropic.Anthropic(base_url=proxy.url, api_key="x", max_retries=0,
                                 timeout=CLIENT_TIMEOUT) as sdk:
            if stream:
                with sdk.messages.stream(**kwargs) as events:
                    text.extend(events.text_stream)
            else:
                sdk.messages.create(**kwargs)
        return
    with openai.OpenAI(base_url=proxy.url + "/v1", api_key="x", max_retries=0,
                       timeout=CLIENT_TIMEOUT) as api:
        if client == "responses" and stream:
            with api.responses.stream(model=model, input="Hi") as events:
                text.extend(e.delta for e in events if e.type == "response.output_text.delta")
        elif client == "responses":
            api.responses.create(model=model, input="Hi")
        elif stream:
            for part in api.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": "Hi"}], stream=True):
                text.extend(choice.delta.content or "" for choice in part.choices)
        else:
            api.chat.completions.create(model=model, messages=[{"role": "user",
                                                                "content": "Hi"}])


@pytest.mark.usefixtures("nothing_left_behind")
class TestSdksSeeProperErrors:
    @pytest.mark.parametrize(("name", "mode", "client", "provider"), [
        pytest.param(*case, provider, id=f"{'-'.join(case)}-to-{provider}")
        for case in SDK_CASES for provider in FORMATS
        if not isinstance(FAULTS[case[:2]].expect(case[2], provider), Relayed)])
    def test_sdk_raises_its_api_error(self, name: str, mode: str, client: str, provider: str,
                                      proxy: MitmllmProcess,
                                      hostile: HostileProvider) -> None:
        case = FAULTS[name, mode]
        model = f"gone-{provider}/m" if case.steps is None else f"h-{provider}/m"
        if case.steps is not None:
            hostile.script(PATHS[provider], *case.steps(provider))
        errors = anthropic.APIError if client == "anthropic" else openai.APIError
        expected = case.expect(client, provider)
        text: list[str] = []
        with pytest.raises(errors) as caught:
            sdk_call(proxy, client, model, mode == "stream", text)
        error = caught.value
        if isinstance(expected, Refused):
            assert isinstance(error, anthropic.APIStatusError | openai.APIStatusError)
            assert error.status_code == expected.status
        assert expected.says in str(error.message)
        assert "".join(text) == (provider_text(provider, True, True) if case.partial else "")


# --- hostile clients -------------------------------------------------------------------------

# Every top-level field a format reads, with a value of the wrong type.
WRONG_TYPES: dict[str, dict[str, Any]] = {
    "openai": {"model": 42, "messages": "Hi", "tools": {"type": "function"},
               "tool_choice": 42, "stream": "yes", "max_tokens": "64",
               "max_completion_tokens": [64], "temperature": "hot", "top_p": "high",
               "stop": 42, "n": "1", "response_format": "json", "stream_options": "usage",
               "reasoning_effort": 3, "parallel_tool_calls": "yes", "user": 42,
               "metadata": "x", "seed": "x"},
    "anthropic": {"model": 42, "messages": "Hi", "system": 42, "tools": {"name": "t"},
                  "tool_choice": "auto", "stream": "yes", "max_tokens": "64",
                  "temperature": "hot", "top_p": "high", "top_k": "x", "stop_sequences": "x",
                  "metadata": "x", "thinking": "on", "output_config": "x"},
    "responses": {"model": 42, "input": 42, "instructions": 42, "tools": {"type": "function"},
                  "tool_choice": 42, "stream": "yes", "max_output_tokens": "64",
                  "temperature": "hot", "top_p": "high", "text": "x", "reasoning": "high",
                  "metadata": "x", "parallel_tool_calls": "yes", "store": "no",
                  "include": "x", "user": 42},
}
# Toward the other two formats: a same-format request is the provider's to judge.
WRONG_TYPE_CASES = [pytest.param(client, name, provider, id=f"{client}-{name}-to-{provider}")
                    for client, fields in WRONG_TYPES.items() for name in fields
                    for provider in FORMATS if provider != client]


def provider_refusal(fmt: str) -> list[Step]:
    """What a real provider answers a mistyped request: a 400 in its own format."""
    if fmt == "anthropic":
        body = {"type": "error", "error": {"type": "invalid_request_error",
                                           "message": "hostile provider: bad request"}}
    else:
        body = {"error": {"message": "hostile provider: bad request",
                          "type": "invalid_request_error", "param": None, "code": None}}
    return whole(400, JSON, json.dumps(body).encode())


@pytest.mark.usefixtures("nothing_left_behind")
class TestHostileClients:
    @pytest.mark.parametrize(("client", "field", "provider"), WRONG_TYPE_CASES)
    def test_a_mistyped_field_is_a_400_in_the_clients_format(
            self, client: str, field: str, provider: str, proxy: MitmllmProcess,
            hostile: HostileProvider) -> None:
        """Refused by mitmllm, naming the field, or sent on and refused by the provider:
        a 400 in the client's format either way, never a crash."""
        body = {**request_body(client, f"h-{provider}/m", False),
                field: WRONG_TYPES[client][field]}
        hostile.script(PATHS[provider], *provider_refusal(provider))
        seen = len(hostile.connections)
        answer = ask(proxy, client, "", False, json.dumps(body).encode())
        assert answer.status == 400, answer
        error = error_of(client, answer)
        if len(hostile.connections) == seen:  # mitmllm's own refusal
            assert field in error["message"] or error.get("param") == field, error
        else:
            assert error["message"] == "hostile provider: bad request"

    @pytest.mark.parametrize("client", FORMATS)
    def test_nesting_beyond_what_python_reads_is_a_400(self, client: str,
                                                       proxy: MitmllmProcess) -> None:
        raw = json.dumps(request_body(client, "h-openai/m", False)).encode()[:-1] + \
            b', "metadata": {"deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
        answer = ask(proxy, client, "", False, raw)
        check_refused(client, answer, Refused(400, "invalid_json", "nested too deeply to be "
                                                                   "read"))

    @pytest.mark.parametrize(("client", "provider"), [
        pytest.param(c, p, id=f"{c}-to-{p}") for c in FORMATS for p in FORMATS if c != p])
    def test_nesting_too_deep_to_translate_is_a_400(self, client: str, provider: str,
                                                    proxy: MitmllmProcess,
                                                    hostile: HostileProvider) -> None:
        """JSON Python reads (800 levels, in a tool's schema) but a translation cannot
        walk: refused before anything goes upstream."""
        schema = {"type": "object", "properties": {"a": {"enum": "@"}}}
        tool: dict[str, Any] = {
            "openai": {"type": "function", "function": {"name": "t", "parameters": schema}},
            "anthropic": {"name": "t", "input_schema": schema},
            "responses": {"type": "function", "name": "t", "parameters": schema}}[client]
        body = {**request_body(client, f"h-{provider}/m", False), "tools": [tool]}
        raw = json.dumps(body).encode().replace(b'"@"', b"[" * 800 + b"]" * 800)
        seen = len(hostile.connections)
        answer = ask(proxy, client, "", False, raw)
        check_refused(client, answer, Refused(400, "invalid_request", "nested too deeply to "
                                                                      "be translated"))
        assert len(hostile.connections) == seen

    @pytest.mark.parametrize("provider", FORMATS)
    @pytest.mark.parametrize("client", FORMATS)
    def test_lone_surrogates_and_nul_reach_the_provider_as_escapes(
            self, client: str, provider: str, proxy: MitmllmProcess,
            hostile: HostileProvider) -> None:
        body = request_body(client, f"h-{provider}/m", False)
        raw = json.dumps(body).encode().replace(b'"Hi"', b'"Hi \\ud800 \\u0000 \\udfff!"')
        hostile.script(PATHS[provider], *whole(200, JSON, answer_body(provider)))
        answer = ask(proxy, client, "", False, raw)
        check_answered(client, answer, False, provider_text(provider, False, False))
        sent = hostile.connections[-1].request
        assert sent is not None
        assert b"\\ud800" in sent.body and b"\\udfff" in sent.body and b"\\u0000" in sent.body
        assert b"\x00" not in sent.body
        json.loads(sent.body)

    @pytest.mark.parametrize("client", FORMATS)
    @pytest.mark.parametrize("bad", [b"\x00", b"\xff\xfe", b"\xed\xa0\x80"],
                             ids=["raw-nul", "invalid-utf8", "encoded-surrogate"])
    def test_bytes_that_are_not_json_text_are_a_400(self, client: str, bad: bytes,
                                                    proxy: MitmllmProcess) -> None:
        raw = json.dumps(request_body(client, "h-openai/m", False)).encode().replace(
            b'"Hi"', b'"Hi ' + bad + b'"')
        answer = ask(proxy, client, "", False, raw)
        assert answer.status == 400, answer
        assert error_of(client, answer)["message"].startswith("The request body is not valid "
                                                              "JSON")

    @pytest.mark.parametrize("client", FORMATS)
    def test_a_body_over_max_body_mb_is_a_413(self, client: str,
                                              proxy: MitmllmProcess) -> None:
        body = request_body(client, "h-openai/m", False)
        raw = json.dumps(body).encode().replace(b'"Hi"', b'"' + b"x" * (MAX_BODY_MB * 2**20)
                                                + b'"')
        answer = ask(proxy, client, "", False, raw)
        check_refused(client, answer, Refused(413, "request_too_large", "max_body_mb"))

    @pytest.mark.parametrize("provider", FORMATS)
    @pytest.mark.parametrize("client", FORMATS)
    def test_a_client_leaving_mid_stream_closes_the_providers_connection(
            self, client: str, provider: str, proxy: MitmllmProcess,
            hostile: HostileProvider) -> None:
        hostile.script(PATHS[provider], Send(_sse_head(chunked=True) + _chunked(opening(
            provider))), Hold(10))
        with plain_http() as http, http.stream(
                "POST", proxy.url + PATHS[client],
                json=request_body(client, f"h-{provider}/m", True)) as answer:
            assert answer.status_code == 200
            next(answer.iter_bytes())  # the first events came; now the client leaves
        left = time.monotonic()
        upstream = hostile.connections[-1]
        assert wait_until(lambda: not upstream.open, 1.0), "the provider still streams"
        assert upstream.closed_by == "peer"
        assert upstream.closed_at is not None and upstream.closed_at - left < 1.0


# --- headers a byte at a time ----------------------------------------------------------------

def test_headers_sent_a_byte_at_a_time_are_cut_off(tmp_path: Path) -> None:
    """The deadline for a request's headers (`mitmllm_header_timeout`, 30 s by default), here
    1 s through stock mitmdump's `--set`: the slow client is disconnected, the others are
    still served."""
    config = tmp_path / "config.yaml"
    config.write_text("providers: []\nlocal: {enabled: false}\n")
    port = free_port()
    mitmdump = Path(sys.executable).parent / "mitmdump"
    process = subprocess.Popen(
        [str(mitmdump), "--mode", f"reverse:http://mitmllm.invalid@{port}", "--listen-host",
         "127.0.0.1", "--set", "connection_strategy=lazy", "-s", "addons/script.py",
         "--set", f"mitmllm_config={config}", "--set", "mitmllm_header_timeout=1"],
        cwd=ROOT, env=isolated_env(tmp_path / "home"), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    try:
        assert wait_until(lambda: _health(port), 20.0, step=0.1), "mitmdump did not start"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            started = time.monotonic()
            request = b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n" + \
                b"x-slow: " + b"a" * 100
            cut = False
            for byte in request:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    cut = True
                    break
                time.sleep(0.05)
                if _closed(sock):
                    cut = True
                    break
            took = time.monotonic() - started
        assert cut, "the proxy waited for the slow headers"
        assert 1.0 <= took < 3.0, took
        assert _health(port)
    finally:
        process.terminate()
        process.communicate(timeout=10)


def _health(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _closed(sock: socket.socket) -> bool:
    """The peer closed the connection (without a word: no answer was due)."""
    sock.setblocking(False)
    try:
        data = sock.recv(1)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)
    assert data == b"", data
    return True
