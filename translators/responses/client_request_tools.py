"""A Responses client's tools and tool choice, as the hub's function tools (docs/formats.md#tools).

Function tools map one to one. What the hub has no word for is handled as `tools` says:
namespaces (Codex's `namespace` tools, and the tools of its `additional_tools` input items)
are flattened to `NAMESPACE__NAME` functions, freeform `custom` tools become functions with
one string parameter, and hosted tools (web search, file search, code interpreter, ...) are
dropped and listed, or refused when the provider's `hosted_tools` setting says so.
"""

from __future__ import annotations

import copy
from typing import Any

from ..chat.fields import TOOL_CHOICE_MODES
from ..chat.types import RequestOptions
from ..errors import InvalidRequestError, UnsupportedFieldError
from ..formats import FORMAT_NAMES
from ..tools import custom_parameters, flat_name, hosted_tool
from .client_request_items import required_str


def hub_tools(body: dict[str, Any], options: RequestOptions,
              dropped: list[str]) -> list[dict[str, Any]]:
    """The hub's function tools: `tools`, then those of `additional_tools` input items."""
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise InvalidRequestError("'tools' must be a list", param="tools")
    out: list[dict[str, Any]] = []
    for index, tool in enumerate(tools or []):
        out += _tool(f"tools[{index}]", tool, None, "", options, dropped)
    items = body.get("input")
    for index, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            for j, tool in enumerate(item.get("tools") or []):
                out += _tool(f"input[{index}].tools[{j}]", tool, None, "", options, dropped)
    return out


def _tool(path: str, tool: Any, namespace: str | None, context: str, options: RequestOptions,
          dropped: list[str]) -> list[dict[str, Any]]:
    kind = tool.get("type") if isinstance(tool, dict) else None
    if not isinstance(tool, dict) or not isinstance(kind, str):
        raise InvalidRequestError(f"'{path}' must be an object with a type", param=path)
    if kind == "namespace":
        name = required_str(tool, "name", path)
        about = tool.get("description")
        inner = f"{name}: {about}" if isinstance(about, str) and about else ""
        return [flat for j, member in enumerate(tool.get("tools") or [])
                for flat in _tool(f"{path}.tools[{j}]", member, name, inner, options, dropped)]
    function: dict[str, Any]
    if kind == "function":
        function = {"name": flat_name(namespace, required_str(tool, "name", path))}
        # Flattened in Responses, nested in Chat.
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                function[key] = copy.deepcopy(tool[key])
    elif kind == "custom":
        function = {"name": flat_name(namespace, required_str(tool, "name", path)),
                    "parameters": custom_parameters(tool)}
        if tool.get("description") is not None:
            function["description"] = tool["description"]
    else:
        hosted_tool(path, kind, "responses", options.target, options.hosted_tools, dropped)
        return []
    if context:  # which group a flattened tool belongs to, for the model
        function["description"] = f"({context}) {function.get('description') or ''}".rstrip()
    return [{"type": "function", "function": function}]


def hub_tool_choice(choice: Any, tools: list[dict[str, Any]], options: RequestOptions,
                    dropped: list[str]) -> str | dict[str, Any] | None:
    """The hub's tool choice; None when it named a tool that was dropped."""
    if isinstance(choice, str) and choice in TOOL_CHOICE_MODES:
        return choice
    kind = choice.get("type") if isinstance(choice, dict) else None
    known = {tool["function"]["name"] for tool in tools}
    if kind in ("function", "custom"):
        name = _chosen(choice, "tool_choice")
        if name not in known:
            dropped.append("tool_choice (it names a tool that was dropped)")
            return None
        return {"type": "function", "function": {"name": name}}
    if kind == "allowed_tools":
        names: list[str] = []
        for index, ref in enumerate(choice.get("tools") or []):
            hosted = isinstance(ref, dict) and ref.get("type") not in ("function", "custom")
            allowed = None if hosted else _chosen(ref, f"tool_choice.tools[{index}]")
            if allowed is not None and allowed in known:
                names.append(allowed)
            else:
                dropped.append(f"tool_choice.tools[{index}] (it names a tool that was dropped)")
        if not names:
            dropped.append("tool_choice (every tool it allowed was dropped)")
            return None
        return {"type": "allowed_tools",
                "allowed_tools": {"mode": choice.get("mode") or "auto",
                                  "tools": [{"type": "function", "function": {"name": name}}
                                            for name in names]}}
    if isinstance(kind, str):  # a hosted tool, chosen by its type
        dropped.append(f"tool_choice (the hosted tool {kind!r} was dropped)")
        return None
    raise UnsupportedFieldError("tool_choice", f"tool choice {choice!r} has no "
                                f"{FORMAT_NAMES[options.target]} equivalent")


def _chosen(ref: Any, path: str) -> str:
    if not isinstance(ref, dict) or ref.get("type") not in ("function", "custom"):
        raise UnsupportedFieldError(path, "only function and custom tools can be chosen")
    namespace = ref.get("namespace")
    return flat_name(namespace if isinstance(namespace, str) else None,
                     required_str(ref, "name", path))
