"""A recording fake provider for real agent CLIs (Claude Code, Codex CLI, ...).

It accepts whatever a client sends, records it (method, path, query, headers with credentials
redacted, JSON body) and answers with a minimal but valid answer in the wire format of the
endpoint, so that the client proceeds:

- ``HEAD`` anything: 200, headers only (Claude Code's ``HEAD /`` preflight).
- ``GET .../models``: a model list readable as OpenAI's and as Anthropic's shape.
- ``POST .../messages/count_tokens``: ``{"input_tokens": N}``.
- ``POST .../messages``: an Anthropic Messages answer, as SSE with the full event grammar when
  the body says ``stream: true``.
- ``POST .../responses``: an Open Responses answer, streamed with the full event sequence and
  ``data: [DONE]`` at the end.
- ``POST .../chat/completions``: an OpenAI Chat Completions answer, streamed or not.
- anything else: 404 with a JSON error (recorded all the same).

In ``tool`` mode, a main-loop request (one that declares the tool to call) that does not yet
carry a tool result is answered with a tool call: Claude Code's ``Bash`` tool, or Codex's shell
tool (whichever of ``exec_command``, ``shell_command``, ``shell``, ``local_shell`` it declares,
with that tool's argument shape). Once the tool result is in the request, the answer is text.
When the request asks for reasoning (Anthropic ``thinking`` enabled or adaptive; Responses
``reasoning.effort`` set) the answer starts with a thinking block carrying a signature, or a
reasoning item carrying ``encrypted_content``, so that the next request shows how the client
sends reasoning back.

Command line (only aiohttp needed)::

    python tests/support/agent_recorder.py --port 8765 --out /tmp/rec --mode tool
    python tests/support/agent_recorder.py fixtures --from /tmp/rec --to tests/fixtures/agents \
        --name claude_code_X_tool_round_trip --recorded '{"client": "claude-code", ...}'

The first writes one JSON file per request (``0001_POST_v1_messages.json``, ...) into ``--out``
until SIGTERM or Ctrl-C; the second names them as fixtures. ``tests/fixtures/agents/record.sh``
runs the real CLIs against it.
From a test::

    recorder = AgentRecorder(mode="tool")
    url = await recorder.start()            # http://127.0.0.1:PORT
    ... recorder.records[-1]["body"] ...
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

REDACTED = "<redacted>"
# Header names whose values are credentials (compared lower-case).
SECRET_HEADERS = {
    "authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie",
    "openai-api-key", "x-goog-api-key", "chatgpt-account-id",
}
SECRET_HEADER_PATTERN = re.compile(r"(token|secret|password|api[-_]?key)", re.I)

TOOL_COMMAND = "echo hi"
FINAL_TEXT = "Done: the command printed hi."
PLAIN_TEXT = "Hello from the recorder."
THINKING_TEXT = "The user wants a short answer."
FAKE_SIGNATURE = "RmFrZVNpZ25hdHVyZUZyb21UaGVSZWNvcmRlcg=="  # base64 of a fixed phrase
FAKE_ENCRYPTED = "gAAAAABmRmFrZUVuY3J5cHRlZFJlYXNvbmluZ0Zyb21UaGVSZWNvcmRlcg=="

# Codex's shell tools, in the order we prefer them, with the arguments that run TOOL_COMMAND.
CODEX_SHELL_TOOLS: dict[str, dict[str, Any]] = {
    "exec_command": {"cmd": TOOL_COMMAND},
    "shell_command": {"command": TOOL_COMMAND},
    "shell": {"command": ["bash", "-lc", TOOL_COMMAND]},
}
# Codex's "code mode" (its default for its own current models): one freeform `exec` tool whose
# input is JavaScript that calls the nested tools.
CODEX_CODE_MODE_TOOL = "exec"
CODEX_CODE_MODE_INPUT = (
    f"const r = await tools.exec_command({{cmd: {json.dumps(TOOL_COMMAND)}}});\ntext(r.output);\n")


def redact_headers(headers: Any) -> dict[str, str]:
    """Headers as a plain dict (repeated names joined with ", "); credential values replaced."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        if key in SECRET_HEADERS or SECRET_HEADER_PATTERN.search(key):
            value = REDACTED
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


def _sse(event: str | None, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


class AgentRecorder:
    def __init__(self, mode: str = "text", out_dir: str | Path | None = None,
                 plan: list[dict[str, Any]] | None = None,
                 done_marker: bool = True, quiet: bool = True):
        if mode not in ("text", "tool"):
            raise ValueError("mode must be 'text' or 'tool'")
        self.mode = mode
        self.out_dir = Path(out_dir) if out_dir else None
        # Tool calls to make, in order, one per answer: [{"name": ..., "args": {...}}] (or
        # "input": "..." for a freeform/custom tool). A request belongs to the scripted
        # conversation when it declares the first step's tool; the step it gets is the number
        # of tool calls already in its history. None: one call of Claude Code's Bash tool, or
        # of whichever Codex shell tool the request declares.
        self.plan = plan
        self.done_marker = done_marker  # `data: [DONE]` after response.completed
        self.quiet = quiet
        self.records: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- server ---------------------------------------------------------------------------

    async def start(self, port: int = 0) -> str:
        if self.out_dir:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        app = web.Application(client_max_size=256 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def clear(self) -> None:
        self.records.clear()

    # -- recording ------------------------------------------------------------------------

    def _record(self, request: web.Request, raw: bytes) -> dict[str, Any]:
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"_non_json_body": raw.decode("utf-8", "replace")}
        record = {
            "seq": len(self.records) + 1,
            "received_at": time.time(),
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": redact_headers(request.headers),
            "body": body,
        }
        self.records.append(record)
        return record

    def _save(self, record: dict[str, Any]) -> None:
        if not self.quiet:
            body = record["body"] if isinstance(record["body"], dict) else {}
            query = "&".join(f"{k}={v}" for k, v in record["query"].items())
            print(f"[recorder] #{record['seq']} {record['method']} {record['path']}"
                  f"{'?' + query if query else ''}"
                  f" model={body.get('model')} stream={body.get('stream')}"
                  f" -> {record.get('answered')}", file=sys.stderr, flush=True)
        if not self.out_dir:
            return
        slug = re.sub(r"[^A-Za-z0-9]+", "_", record["path"]).strip("_") or "root"
        name = f"{record['seq']:04d}_{record['method']}_{slug}.json"
        (self.out_dir / name).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        record = self._record(request, raw)
        try:
            response, answered = await self._answer(request, record)
            record["answered"] = answered
        finally:
            self._save(record)
        return response

    # -- dispatch -------------------------------------------------------------------------

    async def _answer(self, request: web.Request,
                      record: dict[str, Any]) -> tuple[web.StreamResponse, str]:
        path = request.path.rstrip("/")
        body = record["body"] if isinstance(record["body"], dict) else {}
        if request.method == "HEAD":
            return web.Response(status=200, headers={"content-type": "text/plain"}), "head"
        if request.method == "GET" and path.endswith("/models"):
            return self._models(), "models"
        if request.method == "POST" and path.endswith("/messages/count_tokens"):
            tokens = max(1, len(json.dumps(body)) // 4)
            return web.json_response({"input_tokens": tokens}), "count_tokens"
        if request.method == "POST" and path.endswith("/messages"):
            return await self._anthropic(request, body)
        if request.method == "POST" and path.endswith("/responses"):
            return await self._responses(request, body)
        if request.method == "POST" and path.endswith("/chat/completions"):
            return await self._chat(request, body)
        if request.method == "GET" and path == "":
            return web.Response(text="agent recorder\n"), "root"
        return web.json_response(
            {"type": "error", "error": {"type": "not_found_error",
                                        "message": f"recorder: no route {request.path}"}},
            status=404), "404"

    def _models(self) -> web.Response:
        ids = ["fo/gpt-4o", "fo/qwen3", "claude-sonnet-4-5", "gpt-5.1-codex"]
        data = [{"id": m, "object": "model", "type": "model", "display_name": m,
                 "created": 1700000000, "created_at": "2025-01-01T00:00:00Z",
                 "owned_by": "recorder"} for m in ids]
        return web.json_response({"object": "list", "data": data, "has_more": False,
                                  "first_id": ids[0], "last_id": ids[-1]})

    # -- what to answer -------------------------------------------------------------------

    def _anthropic_tool(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The tool call to make now, or None for a text answer."""
        if self.mode != "tool":
            return None
        plan = self.plan or [{"name": "Bash",
                              "args": {"command": TOOL_COMMAND, "description": "say hi"}}]
        names = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        if plan[0]["name"] not in names:
            return None  # a side request (title, summary, sub-agent ...): text
        done = sum(1 for m in body.get("messages") or []
                   if isinstance(m, dict) and m.get("role") == "assistant"
                   and isinstance(m.get("content"), list)
                   for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_use")
        if done >= len(plan):
            return None
        return plan[done]["name"], plan[done].get("args") or {}

    @staticmethod
    def _responses_declared(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Every tool a Responses request declares, by name: from `tools` and from Codex's
        `additional_tools` input items, with namespaces walked (name -> tool, plus the
        namespace it sits in under the key `_namespace`)."""
        declared: dict[str, dict[str, Any]] = {}

        def walk(tools: Any, namespace: str | None) -> None:
            for tool in tools or []:
                if not isinstance(tool, dict):
                    continue
                if tool.get("type") == "namespace":
                    walk(tool.get("tools"), tool.get("name"))
                elif tool.get("type") == "local_shell":
                    declared["local_shell"] = dict(tool, _namespace=namespace)
                elif tool.get("name"):
                    declared.setdefault(tool["name"], dict(tool, _namespace=namespace))

        walk(body.get("tools"), None)
        for item in body.get("input") or []:
            if isinstance(item, dict) and item.get("type") == "additional_tools":
                walk(item.get("tools"), None)
        return declared

    def _responses_tool(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The tool call item to answer with now (without ids), or None for text."""
        if self.mode != "tool":
            return None
        declared = self._responses_declared(body)
        plan = self.plan
        if plan is None:
            name = next((n for n in CODEX_SHELL_TOOLS if n in declared), None)
            if name is None and CODEX_CODE_MODE_TOOL in declared:
                name = CODEX_CODE_MODE_TOOL
            if name is None:
                return None
            plan = [{"name": name, "args": CODEX_SHELL_TOOLS.get(name),
                     "input": CODEX_CODE_MODE_INPUT}]
        elif plan[0]["name"] not in declared:
            return None
        items = body.get("input")
        done = sum(1 for i in items or [] if isinstance(i, dict) and i.get("type") in (
            "function_call", "custom_tool_call", "local_shell_call"))
        if done >= len(plan):
            return None
        step = plan[done]
        tool = declared.get(step["name"], {})
        if tool.get("type") == "custom" or ("input" in step and "args" not in step):
            return {"type": "custom_tool_call", "name": step["name"],
                    "input": step.get("input") or ""}
        return {"type": "function_call", "name": step["name"],
                "arguments": json.dumps(step.get("args") or {})}

    @staticmethod
    def _anthropic_thinking(body: dict[str, Any]) -> bool:
        thinking = body.get("thinking")
        return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")

    @staticmethod
    def _responses_reasoning(body: dict[str, Any]) -> bool:
        reasoning = body.get("reasoning")
        return isinstance(reasoning, dict) and reasoning.get("effort") not in (None, "none")

    # -- Anthropic Messages ---------------------------------------------------------------

    async def _anthropic(self, request: web.Request,
                         body: dict[str, Any]) -> tuple[web.StreamResponse, str]:
        n = next(self._ids)
        model = body.get("model") or "recorder"
        tool = self._anthropic_tool(body)
        blocks: list[dict[str, Any]] = []
        if self._anthropic_thinking(body):
            blocks.append({"type": "thinking", "thinking": THINKING_TEXT,
                           "signature": FAKE_SIGNATURE})
        if tool:
            blocks.append({"type": "tool_use", "id": f"toolu_rec{n:04d}", "name": tool[0],
                           "input": tool[1]})
            stop = "tool_use"
        else:
            text = FINAL_TEXT if self.mode == "tool" and _has_tool_result(body) else PLAIN_TEXT
            blocks.append({"type": "text", "text": text})
            stop = "end_turn"
        answered = "anthropic:" + "+".join(b["type"] for b in blocks)
        message: dict[str, Any] = {"id": f"msg_rec{n:04d}", "type": "message", "role": "assistant",
                   "model": model, "content": blocks, "stop_reason": stop,
                   "stop_sequence": None,
                   "usage": {"input_tokens": 12, "output_tokens": 8,
                             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
        if not body.get("stream"):
            return web.json_response(message), answered
        events: list[bytes] = []
        start = dict(message, content=[], stop_reason=None,
                     usage=dict(message["usage"], output_tokens=1))
        events.append(_sse("message_start", {"type": "message_start", "message": start}))
        for index, block in enumerate(blocks):
            if block["type"] == "thinking":
                events.append(_sse("content_block_start", {
                    "type": "content_block_start", "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
                events.append(_sse("content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "thinking_delta", "thinking": block["thinking"]}}))
                events.append(_sse("content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "signature_delta", "signature": block["signature"]}}))
            elif block["type"] == "tool_use":
                events.append(_sse("content_block_start", {
                    "type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": block["id"],
                                      "name": block["name"], "input": {}}}))
                events.append(_sse("content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta",
                              "partial_json": json.dumps(block["input"])}}))
            else:
                events.append(_sse("content_block_start", {
                    "type": "content_block_start", "index": index,
                    "content_block": {"type": "text", "text": ""}}))
                events.append(_sse("content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "text_delta", "text": block["text"]}}))
            events.append(_sse("content_block_stop",
                               {"type": "content_block_stop", "index": index}))
        events.append(_sse("message_delta", {
            "type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": 8}}))
        events.append(_sse("message_stop", {"type": "message_stop"}))
        return await _stream(request, events), answered

    # -- Open Responses -------------------------------------------------------------------

    async def _responses(self, request: web.Request,
                         body: dict[str, Any]) -> tuple[web.StreamResponse, str]:
        n = next(self._ids)
        model = body.get("model") or "recorder"
        tool = self._responses_tool(body)
        created = int(time.time())
        items: list[dict[str, Any]] = []
        if self._responses_reasoning(body):
            items.append({"type": "reasoning", "id": f"rs_rec{n:04d}",
                          "summary": [{"type": "summary_text", "text": THINKING_TEXT}],
                          "encrypted_content": FAKE_ENCRYPTED})
        if tool:
            prefix = "fc" if tool["type"] == "function_call" else "ctc"
            items.append(dict(tool, id=f"{prefix}_rec{n:04d}", call_id=f"call_rec{n:04d}",
                              status="completed"))
        else:
            text = FINAL_TEXT if self.mode == "tool" and _has_tool_output(body) else PLAIN_TEXT
            items.append({"type": "message", "id": f"msg_rec{n:04d}", "role": "assistant",
                          "status": "completed",
                          "content": [{"type": "output_text", "text": text,
                                       "annotations": [], "logprobs": []}]})
        answered = "responses:" + "+".join(i["type"] for i in items)
        usage = {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": 8, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": 20}
        base = {
            "id": f"resp_rec{n:04d}", "object": "response", "created_at": created,
            "status": "in_progress", "completed_at": None, "model": model, "output": [],
            "error": None, "incomplete_details": None, "instructions": body.get("instructions"),
            "tools": body.get("tools") or [], "tool_choice": body.get("tool_choice", "auto"),
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "reasoning": body.get("reasoning"), "store": body.get("store", False),
            "previous_response_id": None, "temperature": 1.0, "top_p": 1.0,
            "truncation": "disabled", "text": body.get("text") or {"format": {"type": "text"}},
            "metadata": {}, "usage": None,
        }
        final = dict(base, status="completed", completed_at=created, output=items, usage=usage)
        if not body.get("stream"):
            return web.json_response(final), answered
        seq = itertools.count(0)
        events: list[bytes] = []

        def emit(kind: str, **fields: Any) -> None:
            events.append(_sse(kind, {"type": kind, "sequence_number": next(seq), **fields}))

        emit("response.created", response=base)
        emit("response.in_progress", response=base)
        for index, item in enumerate(items):
            if item["type"] == "reasoning":
                emit("response.output_item.added", output_index=index,
                     item=dict(item, summary=[]))
                part = item["summary"][0]
                emit("response.reasoning_summary_part.added", item_id=item["id"],
                     output_index=index, summary_index=0,
                     part={"type": "summary_text", "text": ""})
                emit("response.reasoning_summary_text.delta", item_id=item["id"],
                     output_index=index, summary_index=0, delta=part["text"])
                emit("response.reasoning_summary_text.done", item_id=item["id"],
                     output_index=index, summary_index=0, text=part["text"])
                emit("response.reasoning_summary_part.done", item_id=item["id"],
                     output_index=index, summary_index=0, part=part)
            elif item["type"] == "function_call":
                emit("response.output_item.added", output_index=index,
                     item=dict(item, arguments="", status="in_progress"))
                emit("response.function_call_arguments.delta", item_id=item["id"],
                     output_index=index, delta=item["arguments"])
                emit("response.function_call_arguments.done", item_id=item["id"],
                     output_index=index, name=item["name"], arguments=item["arguments"])
            elif item["type"] == "custom_tool_call":
                emit("response.output_item.added", output_index=index,
                     item=dict(item, input="", status="in_progress"))
                emit("response.custom_tool_call_input.delta", item_id=item["id"],
                     output_index=index, delta=item["input"])
                emit("response.custom_tool_call_input.done", item_id=item["id"],
                     output_index=index, input=item["input"])
            else:
                text = item["content"][0]["text"]
                emit("response.output_item.added", output_index=index,
                     item=dict(item, status="in_progress", content=[]))
                emit("response.content_part.added", item_id=item["id"], output_index=index,
                     content_index=0,
                     part={"type": "output_text", "text": "", "annotations": [],
                           "logprobs": []})
                emit("response.output_text.delta", item_id=item["id"], output_index=index,
                     content_index=0, delta=text, logprobs=[])
                emit("response.output_text.done", item_id=item["id"], output_index=index,
                     content_index=0, text=text, logprobs=[])
                emit("response.content_part.done", item_id=item["id"], output_index=index,
                     content_index=0, part=item["content"][0])
            emit("response.output_item.done", output_index=index, item=item)
        emit("response.completed", response=final)
        if self.done_marker:
            events.append(_sse(None, "[DONE]"))
        return await _stream(request, events), answered

    # -- OpenAI Chat Completions ----------------------------------------------------------

    async def _chat(self, request: web.Request,
                    body: dict[str, Any]) -> tuple[web.StreamResponse, str]:
        n = next(self._ids)
        model = body.get("model") or "recorder"
        names = [(t.get("function") or {}).get("name") for t in body.get("tools") or []
                 if isinstance(t, dict)]
        messages = body.get("messages") or []
        has_result = any(isinstance(m, dict) and m.get("role") == "tool" for m in messages)
        call = None
        if self.mode == "tool" and not has_result:
            step = self.plan[0] if self.plan else {"name": next((x for x in names if x), None)}
            if step["name"] in names:
                call = {"id": f"call_rec{n:04d}", "type": "function",
                        "function": {"name": step["name"],
                                     "arguments": json.dumps(step.get("args") or {})}}
        text = None if call else (FINAL_TEXT if has_result else PLAIN_TEXT)
        finish = "tool_calls" if call else "stop"
        created = int(time.time())
        usage = {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}
        answered = "chat:" + ("tool_calls" if call else "text")
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if call:
                message["tool_calls"] = [call]
            return web.json_response({
                "id": f"chatcmpl-rec{n:04d}", "object": "chat.completion", "created": created,
                "model": model, "choices": [{"index": 0, "message": message,
                                             "finish_reason": finish}],
                "usage": usage}), answered
        head = {"id": f"chatcmpl-rec{n:04d}", "object": "chat.completion.chunk",
                "created": created, "model": model}
        events = [_sse(None, dict(head, choices=[{"index": 0, "delta": {
            "role": "assistant", "content": ""}, "finish_reason": None}]))]
        if call:
            events.append(_sse(None, dict(head, choices=[{"index": 0, "delta": {
                "tool_calls": [dict(call, index=0)]}, "finish_reason": None}])))
        else:
            events.append(_sse(None, dict(head, choices=[{"index": 0, "delta": {
                "content": text}, "finish_reason": None}])))
        events.append(_sse(None, dict(head, choices=[{"index": 0, "delta": {},
                                                      "finish_reason": finish}])))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(_sse(None, dict(head, choices=[], usage=usage)))
        events.append(_sse(None, "[DONE]"))
        return await _stream(request, events), answered


def _has_tool_result(body: dict[str, Any]) -> bool:
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(
                isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
            return True
    return False


def _has_tool_output(body: dict[str, Any]) -> bool:
    items = body.get("input")
    return isinstance(items, list) and any(
        isinstance(i, dict) and str(i.get("type", "")).endswith("_output") for i in items)


async def _stream(request: web.Request, events: list[bytes]) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={
        "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"})
    await response.prepare(request)
    for event in events:
        await response.write(event)
    await response.write_eof()
    return response


def write_fixtures(records_dir: str | Path, dest: str | Path, name: str,
                   recorded: dict[str, Any]) -> list[Path]:
    """Turn one recorded run (the JSON files in `records_dir`) into fixtures in `dest`:
    `NAME.json` when the run made one request, else `NAME_<seq>.json` per request. Each fixture
    holds `recorded` (client, version, command line, env), then the request as recorded, and
    what the recorder answered to it."""
    files = sorted(Path(records_dir).glob("*.json"))
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in files:
        record = json.loads(path.read_text())
        fixture = {
            "recorded": recorded,
            "seq": record["seq"],
            "method": record["method"],
            "path": record["path"],
            "query": record["query"],
            "headers": record["headers"],
            "body": record["body"],
            "recorder_answered": record.get("answered"),
        }
        target = dest / (f"{name}.json" if len(files) == 1 else f"{name}_{record['seq']}.json")
        target.write_text(json.dumps(fixture, indent=2, ensure_ascii=False) + "\n")
        written.append(target)
    return written


def _fixtures_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="agent_recorder.py fixtures",
        description="Write the requests of one recorded run as named test fixtures.")
    parser.add_argument("--from", dest="source", required=True, help="the run's --out folder")
    parser.add_argument("--to", required=True, help="the fixtures folder")
    parser.add_argument("--name", required=True, help="fixture name, without _<seq>.json")
    parser.add_argument("--recorded", default="{}",
                        help="JSON object stored as the fixtures' `recorded` field")
    args = parser.parse_args(argv)
    for path in write_fixtures(args.source, args.to, args.name, json.loads(args.recorded)):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fixtures"]:
        return _fixtures_main(argv[1:])
    parser = argparse.ArgumentParser(
        description="Run the recording fake provider on loopback and dump each request.")
    parser.add_argument("--port", type=int, default=8765, help="0: any free port")
    parser.add_argument("--port-file", help="write the port here once listening")
    parser.add_argument("--out", required=True, help="folder for one JSON file per request")
    parser.add_argument("--mode", choices=["text", "tool"], default="text",
                        help="tool: answer a main-loop request with one tool call first")
    parser.add_argument("--tool-name", help="the tool to call (default: Bash, or Codex's shell)")
    parser.add_argument("--tool-args", help="the tool's arguments, as a JSON object; for a "
                        'freeform (custom) tool: {"input": "..."}')
    parser.add_argument("--plan", help='several calls in order, as JSON: [{"name": "ToolSearch",'
                        ' "args": {...}}, {"name": "apply_patch", "input": "..."}, ...]')
    parser.add_argument("--no-done", action="store_true",
                        help="no `data: [DONE]` after response.completed")
    args = parser.parse_args(argv)
    plan = json.loads(args.plan) if args.plan else None
    if args.tool_name:
        step_args = json.loads(args.tool_args) if args.tool_args else {}
        step = ({"name": args.tool_name, "input": step_args["input"]}
                if set(step_args) == {"input"} else {"name": args.tool_name, "args": step_args})
        plan = [step]
    recorder = AgentRecorder(mode=args.mode, out_dir=args.out, plan=plan,
                             done_marker=not args.no_done, quiet=False)

    async def serve() -> None:
        url = await recorder.start(args.port)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print(f"[recorder] listening on {url}, mode {args.mode}, writing to {args.out}",
              file=sys.stderr, flush=True)
        if args.port_file:
            Path(args.port_file).write_text(f"{recorder.port}\n")
        try:
            await stop.wait()
        finally:
            await recorder.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
