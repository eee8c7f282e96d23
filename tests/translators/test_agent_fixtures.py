"""Every request the real agents sent (tests/fixtures/agents, recorded from Claude Code and
Codex CLI) is translated, not refused, toward a provider of every other format, and the
translation keeps what the agent needs: its tools callable by name, its conversation in order,
its tool results, its reasoning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mitmllm.translators import hub
from mitmllm.translators.formats import Format

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "agents"
RECORDED = sorted(p for p in FIXTURES.glob("*.json")
                  if json.loads(p.read_text())["method"] == "POST")


def client_of(path: Path) -> Format:
    return "anthropic" if path.name.startswith("claude_code") else "responses"


def cases() -> list[Any]:
    return [pytest.param(path, provider, id=f"{path.stem}->{provider}")
            for path in RECORDED for provider in ("openai", "anthropic", "responses")
            if provider != client_of(path)]


def test_the_fixtures_are_there() -> None:
    names = {p.name.split("_", 3)[0] for p in RECORDED}
    assert names == {"claude", "codex"} and len(RECORDED) >= 30


def hub_tool_names(translated: dict[str, Any], provider: Format) -> set[str]:
    tools = translated.get("tools") or []
    if provider == "openai":
        return {t["function"]["name"] for t in tools}
    return {t["name"] for t in tools}


def declared_names(body: dict[str, Any], client: Format) -> set[str]:
    """The function and freeform tools the agent declared, as the hub names them."""
    if client == "anthropic":
        return {t["name"] for t in body.get("tools") or [] if t.get("type") in (None, "custom")}
    names: set[str] = set()

    def walk(tools: list[Any], namespace: str | None) -> None:
        for tool in tools:
            if tool.get("type") == "namespace":
                walk(tool.get("tools") or [], tool["name"])
            elif tool.get("type") in ("function", "custom"):
                names.add(tool["name"] if namespace in (None, "functions")
                          else f"{namespace}__{tool['name']}")

    walk(body.get("tools") or [], None)
    for item in body.get("input") or []:
        if item.get("type") == "additional_tools":
            walk(item.get("tools") or [], None)
    return names


@pytest.mark.parametrize(("path", "provider"), cases())
def test_every_recorded_request_translates(path: Path, provider: Format) -> None:
    body = json.loads(path.read_text())["body"]
    client = client_of(path)
    translated = hub.translate_request(client, provider, {**body, "model": "m"})
    out = translated.body
    # Every function tool the agent declared is still callable, by the name the answer maps
    # back; only hosted tools are dropped, and listed.
    assert hub_tool_names(out, provider) == declared_names(body, client)
    for dropped in translated.dropped:
        assert isinstance(dropped, str) and dropped
    text = json.dumps(out)
    # The conversation and its tool results survive.
    if path.stem.endswith("round_trip_2"):
        assert "hi" in text
    # Nothing of the hub's own bookkeeping reaches a provider.
    assert "mitmllm_reasoning_dialect" not in text
