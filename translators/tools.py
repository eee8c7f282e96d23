"""Tools a client declares that the hub has no word for (docs/formats.md#tools).

The hub (OpenAI Chat) knows only function tools. Agents declare more:

- **hosted tools**, which run inside the client format's own API (Responses `web_search`,
  `file_search`, `code_interpreter`, `image_generation`, ...; Anthropic's server tools such
  as `web_search_20250305`): another provider cannot run them, so by default they are
  dropped and listed, or refused when the provider's `hosted_tools` setting says `refuse`;
- **namespaces** (Codex's `namespace` tools, and the namespaces of its `additional_tools`
  input items): groups of ordinary function tools, flattened to functions named
  `NAMESPACE__NAME`; the answer gives the client its own namespace and name back;
- **freeform tools** (Responses `custom` tools such as Codex's `apply_patch`, whose input is
  plain text in a grammar): a function with one string parameter `input`, and the call goes
  back to the client as a `custom_tool_call`.

`ToolNames` is built from the client's request alone, on the way in and on the way back, so
the mapping needs no state.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from .errors import UnsupportedFieldError
from .formats import FORMAT_NAMES, Format

SEPARATOR = "__"
DEFAULT_NAMESPACE = "functions"  # Codex's name for tools that need no namespace on a call
_MAX_NAME = 64  # OpenAI's and Anthropic's limit on a function name
CUSTOM_INPUT = "input"  # the one parameter a freeform tool becomes


def hosted_tool(path: str, kind: str, owner: Format, target: Format, policy: str,
                dropped: list[str]) -> None:
    """A hosted tool the target provider cannot run: listed as dropped, or refused."""
    reason = (f"the hosted tool {kind!r} runs inside the {FORMAT_NAMES[owner]} API; this "
              f"provider speaks {FORMAT_NAMES[target]} and cannot run it")
    if policy == "refuse":
        raise UnsupportedFieldError(path, reason + " (the provider's hosted_tools setting "
                                    "is `refuse`)")
    dropped.append(f"{path} ({reason})")


def flat_name(namespace: str | None, name: str) -> str:
    """A namespaced tool's function name: `NAMESPACE__NAME`, shortened with a hash when
    longer than a function name may be."""
    flat = name if namespace in (None, DEFAULT_NAMESPACE) else f"{namespace}{SEPARATOR}{name}"
    if len(flat) <= _MAX_NAME:
        return flat
    digest = hashlib.sha256(flat.encode()).hexdigest()[:10]
    return f"{flat[:_MAX_NAME - 11]}_{digest}"


def custom_parameters(tool: dict[str, Any]) -> dict[str, Any]:
    """The parameters of the function a freeform tool becomes; its grammar, if any, is told
    to the model in the parameter's description."""
    given = tool.get("format")
    fmt: dict[str, Any] = given if isinstance(given, dict) else {}
    described = "The tool's whole input, as plain text."
    if fmt.get("type") == "grammar" and isinstance(fmt.get("definition"), str):
        described += (f" It must follow this {fmt.get('syntax') or ''} grammar:\n"
                      f"{fmt['definition']}")
    return {"type": "object", "properties": {CUSTOM_INPUT: {"type": "string",
                                                            "description": described}},
            "required": [CUSTOM_INPUT], "additionalProperties": False}


def custom_arguments(text: str) -> str:
    return json.dumps({CUSTOM_INPUT: text}, ensure_ascii=False)


def custom_input(arguments: str) -> str:
    """The text of a freeform call from its function arguments; arguments that are not the
    expected object are passed on as the text itself."""
    try:
        parsed = json.loads(arguments) if arguments else {}
    except ValueError:
        return arguments
    if not isinstance(parsed, dict):
        return arguments
    value = parsed.get(CUSTOM_INPUT, "")  # `{}`: a call with no text at all
    return value if isinstance(value, str) else arguments


@dataclass(frozen=True, slots=True)
class ToolName:
    """What a flattened function name stands for in the client's request."""

    name: str
    namespace: str | None = None  # None, or the default namespace: no namespace on a call
    custom: bool = False  # a freeform tool: the call goes back as `custom_tool_call`


@dataclass
class ToolNames:
    """Flattened function name -> the client's own tool, for one Responses request."""

    by_flat: dict[str, ToolName] = field(default_factory=dict)

    @classmethod
    def of_request(cls, request: dict[str, Any]) -> ToolNames:
        names = cls()
        names.add_tools(request.get("tools"), None)
        items = request.get("input")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get("type") == "additional_tools":
                names.add_tools(item.get("tools"), None)
        return names

    def add_tools(self, tools: Any, namespace: str | None) -> None:
        for tool in tools if isinstance(tools, list) else []:
            if not isinstance(tool, dict):
                continue
            kind = tool.get("type")
            if kind == "namespace" and isinstance(tool.get("name"), str):
                self.add_tools(tool.get("tools"), tool["name"])
            elif kind in ("function", "custom") and isinstance(tool.get("name"), str):
                self.by_flat[flat_name(namespace, tool["name"])] = ToolName(
                    tool["name"], namespace if namespace != DEFAULT_NAMESPACE else None,
                    custom=kind == "custom")

    def client_name(self, flat: str) -> ToolName:
        """The client's own tool for a function name the provider called."""
        return self.by_flat.get(flat) or ToolName(flat)
