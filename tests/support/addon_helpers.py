"""Shared helpers of the addon tests: flows built with mitmproxy's own test utilities, a
gateway with a published config, and a driver that calls the request hooks in pipeline order.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mitmproxy import http
from mitmproxy.test import tflow, tutils

from mitmllm.addons.state import Gateway
from mitmllm.config.store import parse_text

PROVIDERS_YAML = """\
providers:
  - name: openai
    preset: openai
  - name: anthropic
    preset: anthropic
  - name: My Corp
    preset: custom
    host: llm.corp.example
    protocol: http
    port: 8080
    base_path: /custom/api/v1
    auth: api_key
    timeout: 12.5
    headers: {X-Team: blue}
    secret_headers: [X-Org-Token]
    models: [corp-*, corp-fixed]
  - name: openrouter
    preset: openrouter
  - name: sleepy
    preset: custom
    host: sleepy.example
    enabled: false
    models: [sleepy-model]
local:
  enabled: false
"""

# Providers in each initial state: connecting, disconnected (auto_connect off), disabled.
STATES_YAML = """\
providers:
  - name: openai
    preset: openai
    models: [gpt-static]
  - name: My Corp
    preset: custom
    host: corp.example
    auto_connect: false
    models: [corp-1, corp-*]
  - name: dormant
    preset: custom
    host: dormant.example
    enabled: false
    models: [dormant-model]
  - name: anthropic
    preset: anthropic
local: {enabled: true}
"""

OPENAI_KEY = "sk-openai-provider-secret-0001"
ANTHROPIC_KEY = "sk-ant-provider-secret-0002"
CORP_KEY = "sk-corp-provider-secret-0003"
CORP_ORG_TOKEN = "org-token-secret-0004"
OPENROUTER_KEY = "sk-or-provider-secret-0005"
ALL_SECRETS = (OPENAI_KEY, ANTHROPIC_KEY, CORP_KEY, CORP_ORG_TOKEN, OPENROUTER_KEY)


def local_yaml(model_dir: Path, enabled: bool = True) -> str:
    """PROVIDERS_YAML with local models from `model_dir`, and a provider `broken` (a host
    that does not exist)."""
    local = (f"local:\n  enabled: {'true' if enabled else 'false'}\n"
             f"  model_dirs: [{json.dumps(str(model_dir))}]\n")
    broken = "  - name: broken\n    preset: custom\n    host: broken.example\n    auth: none\n"
    return PROVIDERS_YAML.replace("local:\n  enabled: false\n", broken + local)


def make_gateway(yaml_text: str = PROVIDERS_YAML) -> Gateway:
    gateway = Gateway()
    publish(gateway, yaml_text)
    return gateway


def publish(gateway: Gateway, yaml_text: str = PROVIDERS_YAML) -> None:
    """What ConfigWatcher does at start: addons built before it (as `pipeline()` builds
    them) see the config arrive through `Gateway.on_config`."""
    gateway.publish_config(parse_text(yaml_text))


def make_flow(method: str = "POST", path: str = "/v1/chat/completions",
              body: Any = None, *, content: bytes | None = None,
              headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> http.HTTPFlow:
    """A live flow as the client sent it to the listen port (127.0.0.1:1337)."""
    if content is None:
        content = b"" if body is None else json.dumps(body).encode()
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    names = {name.lower() for name, _ in pairs}
    base = [("host", "127.0.0.1:1337")]
    if content and "content-type" not in names:
        base.append(("content-type", "application/json"))
    if content and "content-length" not in names and "transfer-encoding" not in names:
        base.append(("content-length", str(len(content))))
    all_headers = http.Headers([(k.encode(), v.encode()) for k, v in [*base, *pairs]])
    request = tutils.treq(method=method.encode(), path=path.encode(), host="127.0.0.1",
                          port=1337, scheme=b"http", headers=all_headers, content=content)
    return tflow.tflow(req=request)


def chat_body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "Hi"}], **extra}


def messages_body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 100,
            "messages": [{"role": "user", "content": "Hi"}], **extra}


async def call(hook: Any, flow: http.HTTPFlow) -> None:
    """Call one hook as mitmproxy would: await what it returns if that is awaitable."""
    result = hook(flow)
    if inspect.isawaitable(result):
        await result


async def run_request_hooks(flow: http.HTTPFlow, addons: Iterable[Any]) -> None:
    """`requestheaders` of every addon, then `request` of every addon, in list order."""
    addons = list(addons)
    for name in ("requestheaders", "request"):
        for addon in addons:
            hook = getattr(addon, name, None)
            if hook is not None:
                await call(hook, flow)


def json_body(message: http.Message) -> Any:
    return json.loads(message.get_content() or b"")


def assert_openai_error(response: http.Response | None, status: int, *,
                        code: str | None = None, param: str | None = None) -> dict[str, Any]:
    assert response is not None
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = json_body(response)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    if param is not None:
        assert body["error"]["param"] == param
    return body["error"]  # type: ignore[no-any-return]


def assert_anthropic_error(response: http.Response | None, status: int,
                           error_type: str | None = None) -> dict[str, Any]:
    assert response is not None
    assert response.status_code == status
    body = json_body(response)
    assert body["type"] == "error"
    assert set(body["error"]) >= {"type", "message"}
    assert body["error"]["message"]
    if error_type is not None:
        assert body["error"]["type"] == error_type
    return body["error"]  # type: ignore[no-any-return]
