"""Real coding agents with their default settings, through the real proxy, to a provider of
each format: Claude Code (`claude -p`) and Codex CLI (`codex exec`), a text turn and a tool
round trip each (the tool really runs: `echo hi`).

The provider is `tests/support/agent_recorder.py`, a fake that answers in its own format and
scripts the tool call by the name the translated request declares, so every request the
agent sends crosses mitmllm's translation and comes back. The CLIs are the npm packages
pinned in tests/fixtures/agents/versions.env, installed into .agents/ by `./dev test`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from support.agent_recorder import FINAL_TEXT, PLAIN_TEXT, TOOL_COMMAND, AgentRecorder
from support.proxy import MitmllmProcess
from support.requirements import missing

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("MITMLLM_AGENTS_BIN", ROOT / ".agents" / "node_modules" / ".bin"))
FORMATS = ["openai", "anthropic", "responses"]
TOOL_PROMPT = "Run echo hi in the shell and tell me what it printed"
CLAUDE_TOOL = [{"name": "Bash", "args": {"command": TOOL_COMMAND, "description": "say hi"}}]
CODEX_TOOL = [{"name": "exec_command", "args": {"cmd": TOOL_COMMAND}}]
AGENT_TIMEOUT = 120


def agent(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        missing(f"{name} is not installed in {BIN} (./dev test installs it with npm)")
    return path


def config_yaml(provider_url: str, fmt: str) -> str:
    return ("providers:\n"
            f"  - {{name: fp, preset: custom, host: 127.0.0.1, protocol: http, "
            f"port: {provider_url.rsplit(':', 1)[1]}, format: {fmt}, auth: none, "
            "models: ['*']}\n"
            "local:\n  enabled: false\n")


async def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command, env=env, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), AGENT_TIMEOUT)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
    return process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def base_env(home: Path) -> dict[str, str]:
    return {"PATH": f"{BIN}:{os.path.dirname(shutil.which('node') or '/usr/bin/node')}:"
                    "/usr/bin:/bin",
            "HOME": str(home), "TERM": "dumb", "LANG": "C.UTF-8"}


def main_loop(recorder: AgentRecorder, tool: str) -> list[dict[str, Any]]:
    """The requests of the scripted conversation: those that declare the agent's tool (side
    requests, such as a title, do not)."""
    def declares(body: dict[str, Any]) -> bool:
        return tool in json.dumps(body.get("tools") or [])
    return [r for r in recorder.records if isinstance(r.get("body"), dict)
            and r["method"] == "POST" and declares(r["body"])]


def tool_result_text(body: dict[str, Any]) -> str:
    """Everything a provider request carries back as a tool's result, whatever its format."""
    found: list[str] = []
    for message in body.get("messages") or []:  # Chat and Anthropic
        if message.get("role") == "tool":
            found.append(json.dumps(message.get("content")))
        for block in message.get("content") if isinstance(message.get("content"), list) else []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                found.append(json.dumps(block.get("content")))
    for item in body.get("input") or [] if isinstance(body.get("input"), list) else []:
        if isinstance(item, dict) and str(item.get("type", "")).endswith("_output"):
            found.append(json.dumps(item.get("output")))
    return "\n".join(found)


@pytest.fixture
async def provider_and_proxy(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    fmt, plan = request.param
    recorder = AgentRecorder(mode="tool" if plan else "text", plan=plan)
    url = await recorder.start()
    proxy = MitmllmProcess(tmp_path / "proxy", config_yaml(url, fmt))
    await asyncio.to_thread(proxy.start)
    try:
        yield recorder, proxy, fmt
    finally:
        await asyncio.to_thread(proxy.stop)
        await recorder.stop()


def claude_params() -> list[Any]:
    return [pytest.param((fmt, plan), id=f"{fmt}-{'tool' if plan else 'text'}")
            for fmt in FORMATS for plan in (None, CLAUDE_TOOL)]


@pytest.mark.parametrize("provider_and_proxy", claude_params(), indirect=True)
@pytest.mark.parametrize("model", ["fp/gpt-4o", "claude-sonnet-4-5"])
async def test_claude_code(provider_and_proxy: Any, model: str, tmp_path: Path) -> None:
    recorder, proxy, fmt = provider_and_proxy
    tool = recorder.plan is not None
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {**base_env(home), "ANTHROPIC_BASE_URL": proxy.url, "ANTHROPIC_API_KEY": "anything",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1",
           "DISABLE_AUTOUPDATER": "1"}
    command = [str(agent("claude")), "-p", TOOL_PROMPT if tool else "Say hello",
               "--output-format", "json", "--model", model]
    if tool:
        command += ["--allowedTools", "Bash"]
    code, out, err = await run(command, env, work)
    assert code == 0, f"claude exited {code}\n{out}\n{err}\n{proxy.log()[-3000:]}"
    result = json.loads(out)
    assert result["is_error"] is False, result
    assert result["result"] == (FINAL_TEXT if tool else PLAIN_TEXT)
    posts = [r for r in recorder.records if r["method"] == "POST"]
    expected_path = {"openai": "/chat/completions", "anthropic": "/messages",
                     "responses": "/responses"}[fmt]
    assert posts and all(r["path"].endswith(expected_path) for r in posts)
    if tool:
        loop = main_loop(recorder, "Bash")
        assert len(loop) >= 2
        # The command ran on this machine, and its output reached the provider.
        assert "hi" in tool_result_text(loop[-1]["body"])


def codex_params() -> list[Any]:
    return [pytest.param((fmt, plan), id=f"{fmt}-{'tool' if plan else 'text'}")
            for fmt in FORMATS for plan in (None, CODEX_TOOL)]


@pytest.mark.parametrize("provider_and_proxy", codex_params(), indirect=True)
@pytest.mark.parametrize("effort", [None, "high"])
async def test_codex(provider_and_proxy: Any, effort: str | None, tmp_path: Path) -> None:
    recorder, proxy, fmt = provider_and_proxy
    tool = recorder.plan is not None
    codex_home, work = tmp_path / "codex", tmp_path / "work"
    (codex_home / "home").mkdir(parents=True)
    work.mkdir()
    (codex_home / "config.toml").write_text(
        'model_provider = "gw"\ncheck_for_update_on_startup = false\n\n'
        f'[model_providers.gw]\nname = "mitmllm"\nbase_url = "{proxy.url}/v1"\n'
        'env_key = "GW_API_KEY"\nwire_api = "responses"\n\n'
        "[features]\nplugins = false\n\n[analytics]\nenabled = false\n")
    env = {**base_env(codex_home / "home"), "CODEX_HOME": str(codex_home),
           "GW_API_KEY": "anything"}
    command = [str(agent("codex")), "exec", "--skip-git-repo-check", "-m", "fp/qwen3"]
    if effort:
        command += ["-c", f"model_reasoning_effort={effort}"]
    command.append(TOOL_PROMPT if tool else "Say hello")
    code, out, err = await run(command, env, work)
    assert code == 0, f"codex exited {code}\n{out}\n{err}\n{proxy.log()[-3000:]}"
    assert (FINAL_TEXT if tool else PLAIN_TEXT) in out
    if tool:
        loop = main_loop(recorder, "exec_command")
        assert len(loop) >= 2
        assert "hi" in tool_result_text(loop[-1]["body"])
    if effort and fmt != "responses":
        # Reasoning went back to the provider on the tool turn, in its own shape.
        last = recorder.records[-1]["body"]
        if fmt == "anthropic" and tool:
            assistant = [m for m in last["messages"] if m["role"] == "assistant"][-1]
            assert assistant["content"][0]["type"] == "thinking"
            assert assistant["content"][0]["signature"]
