"""End to end in a real browser: headless Chromium (Debian `chromium`, driven by Python
`playwright`) on `mitmllm web`, reading a translated, streamed exchange as a person would:
the label in the flow list, then the request and response tabs.

With MITMLLM_SCREENSHOTS=DIR the test also saves the two screenshots the README shows
(`docs/images/mitmweb-request.png`, `docs/images/mitmweb-response.png`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI
from support.fake_provider import FakeProvider, ProviderThread, Sse, sse_lines
from support.proxy import MitmllmProcess, free_port
from support.requirements import CHROMIUM, need_browser

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-ant-browser-8080"
CLIENT_KEY = "sk-client-browser-9090"
LABEL = "claudeish · claude-x · openai → anthropic"


def vector(name: str) -> dict[str, Any]:
    return json.loads(next((ROOT / "tests" / "vectors").glob(f"{name}_*.json")).read_text())


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with ProviderThread(fmt="anthropic") as fake:
        fake.models = ["claude-x"]
        yield fake


def test_a_translated_stream_read_in_chromium(tmp_path: Path, provider: FakeProvider) -> None:
    sync_playwright = need_browser("the browser test")
    config = (f"providers:\n  - {{name: claudeish, preset: custom, format: anthropic, "
              f"auth: api_key, host: 127.0.0.1, protocol: http, port: {provider.port}}}\n"
              "local: {enabled: false}\n")
    web_port = free_port()
    with MitmllmProcess(tmp_path, config, env={"MITMLLM_KEY_CLAUDEISH": KEY}, command="web",
                        args=("--web-port", str(web_port))) as proxy:
        provider.reply("/messages", Sse(sse_lines(vector("stream_20")["anthropic_sse"]),
                                        delay=0.01))
        client = OpenAI(base_url=proxy.url + "/v1", api_key=CLIENT_KEY, max_retries=0)
        for _ in client.chat.completions.create(
                model="claudeish/claude-x", stream=True, stop=["\n\n\n"],
                messages=[{"role": "system", "content": "You are terse."},
                          {"role": "user", "content": "Say hello through mitmllm"}],
                logit_bias={"50256": -100}):
            pass
        found = re.search(r"token=([0-9a-f]+)", proxy.log())
        assert found, proxy.log()

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update",
                      "--disable-sync"])
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.goto(f"http://127.0.0.1:{web_port}/?token={found.group(1)}")

                # The flow list shows the Comment column with the label.
                assert page.locator("th.col-comment").inner_text() == "Comment"
                row = page.locator("tr", has=page.locator("td.col-comment", has_text=LABEL))
                row.wait_for(timeout=15_000)
                # mitmweb gives the column 150 px; a double-click on its edge fits the label.
                page.locator("th.col-comment .col-resize-handle").dblclick()
                assert row.locator("td.col-comment").inner_text() == LABEL
                row.click()

                detail = page.locator(".flow-detail")
                detail.get_by_text(re.compile("^== Client sent")).wait_for(timeout=10_000)
                request_text = detail.inner_text()
                for expected in ("Sent to the provider", "claudeish/claude-x",
                                 "Say hello through mitmllm", "Dropped", "logit_bias",
                                 "Defaulted", "max_tokens"):
                    assert expected in request_text, expected
                screenshot(page, "mitmweb-request.png")

                detail.locator("nav a", has_text="Response").click()
                detail.get_by_text(re.compile("^== Provider sent")).wait_for(timeout=10_000)
                response_text = detail.inner_text()
                provider_part = response_text[response_text.index("Provider sent"):
                                              response_text.index("Client got")]
                client_part = response_text[response_text.index("Client got"):]
                assert "content_block_delta" in provider_part
                assert "chat.completion.chunk" in client_part and "[DONE]" in client_part
                assert re.search(r"\+\d+(\.\d+)? ms", response_text)
                screenshot(page, "mitmweb-response.png")

                for secret in (KEY, CLIENT_KEY):
                    assert secret not in request_text + response_text
                    assert secret not in page.content()
            finally:
                browser.close()


def screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("MITMLLM_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name))
