"""End to end: `mitmllm web` (mitmweb) and the pipeline loaded into stock `mitmdump -s`.

mitmweb must show each exchange, labelled, with every secret redacted: in its flow list, in
the flow's request, and in a full dump of the saved flows.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from openai import OpenAI
from support.fake_provider import FakeProvider, Json, ProviderThread
from support.proxy import MitmllmProcess, free_port, isolated_env

pytestmark = pytest.mark.e2e

KEY = "sk-web-secret-4242"
HEADER = "hdr-web-secret-2424"
ROOT = Path(__file__).resolve().parents[2]


def answer(text: str) -> Json:
    return Json(200, {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
                      "choices": [{"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": text}}]})


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with ProviderThread() as fake:
        fake.models = ["m"]
        yield fake


def config_for(provider: FakeProvider) -> str:
    return f"""\
providers:
  - {{name: web, host: 127.0.0.1, protocol: http, port: {provider.port}, auth: api_key,
     secret_headers: [X-Org-Token]}}
local: {{enabled: false}}
"""


def test_mitmweb_shows_flows_with_secrets_redacted(tmp_path: Path,
                                                   provider: FakeProvider) -> None:
    web_port = free_port()
    env = {"MITMLLM_KEY_WEB": KEY, "MITMLLM_KEY_WEB_X_ORG_TOKEN": HEADER}
    with MitmllmProcess(tmp_path, config_for(provider), env=env, command="web",
                        args=("--web-port", str(web_port))) as proxy:
        provider.reply("/chat/completions", answer("seen in mitmweb"))
        client = OpenAI(base_url=proxy.url + "/v1", api_key="client-key", max_retries=0)
        reply = client.chat.completions.create(model="web/m", messages=[
            {"role": "user", "content": "hello"}])
        assert reply.choices[0].message.content == "seen in mitmweb"
        assert provider.requests_to("/chat/completions")[-1].headers["authorization"] == \
            f"Bearer {KEY}"

        found = re.search(r"token=([0-9a-f]+)", proxy.log())
        assert found, proxy.log()
        auth = {"Authorization": f"Bearer {found.group(1)}"}
        web = f"http://127.0.0.1:{web_port}"
        flows = httpx.get(f"{web}/flows", headers=auth).json()
        routed = [f for f in flows if f["request"]["path"] == "/v1/chat/completions"]
        assert len(routed) == 1
        flow = routed[0]
        assert flow["comment"] == "web · m · openai"
        headers = dict((k.lower(), v) for k, v in flow["request"]["headers"])
        assert headers["authorization"] == "[redacted by mitmllm]"
        assert headers["x-org-token"] == "[redacted by mitmllm]"
        dump = httpx.get(f"{web}/flows/dump", headers=auth).content
        assert KEY.encode() not in dump and HEADER.encode() not in dump
        assert b"seen in mitmweb" in dump
    assert KEY not in proxy.log()


def test_pipeline_loads_into_stock_mitmdump(tmp_path: Path, provider: FakeProvider) -> None:
    """The README's `mitmdump ... -s addons/script.py` line."""
    config = tmp_path / "config.yaml"
    config.write_text(config_for(provider))
    port = free_port()
    env = isolated_env(tmp_path / "home", {"MITMLLM_KEY_WEB": KEY,
                                           "MITMLLM_KEY_WEB_X_ORG_TOKEN": HEADER})
    mitmdump = Path(sys.executable).parent / "mitmdump"
    process = subprocess.Popen(
        [str(mitmdump), "--mode", f"reverse:http://mitmllm.invalid@{port}", "--listen-host",
         "127.0.0.1", "--set", "connection_strategy=lazy", "-s", "addons/script.py",
         "--set", f"mitmllm_config={config}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        provider.reply("/chat/completions", answer("from mitmdump"))
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
        reply = client.chat.completions.create(model="web/m", messages=[
            {"role": "user", "content": "hello"}])
        assert reply.choices[0].message.content == "from mitmdump"
        received = provider.requests_to("/chat/completions")[-1]
        assert received.headers["authorization"] == f"Bearer {KEY}"
        assert received.headers["x-org-token"] == HEADER
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode(errors="replace")
    assert KEY not in output and HEADER not in output
