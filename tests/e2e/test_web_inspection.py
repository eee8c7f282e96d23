"""End to end: `mitmllm web` as an LLM-traffic debugger, read through mitmweb's REST API.

A team gateway (a listen token) in front of an Anthropic-format and an OpenAI-format fake
provider; the OpenAI SDK streams (and closes the connection as soon as it has read
`[DONE]`), the Anthropic SDK streams, curl asks for a whole answer, and something asks for
an endpoint that does not exist. Then, as a user reading mitmweb would: every flow is
labelled, the `mitmllm` view shows the client's request beside the provider's, what was
dropped and defaulted, the provider's stream beside the client's as events; no secret is
anywhere (flows, views, the dump, curl and HAR exports, the `--save` file); and the saved
file reopens in stock mitmdump with the views, and without them as raw bytes.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from anthropic import Anthropic
from mitmproxy import io
from openai import OpenAI
from support.fake_provider import FakeProvider, Json, ProviderThread, Sse, sse_lines
from support.proxy import MitmllmProcess, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors"
TEAM_TOKEN = "team-listen-token-7311"
KEYS = {"claudeish": "sk-ant-inspect-5150", "chatty": "sk-oai-inspect-6160"}
SECRETS = (TEAM_TOKEN, *KEYS.values())
REDACTED = "[redacted by mitmllm]"
# Tornado's XSRF check on mitmweb's POSTs: the header must match the cookie, as the page's
# own script sends them.
XSRF = "5eed" * 8


def vector(name: str) -> dict[str, Any]:
    return json.loads(next(VECTORS.glob(f"{name}_*.json")).read_text())


@pytest.fixture(scope="module")
def providers() -> Iterator[dict[str, FakeProvider]]:
    with ProviderThread(fmt="anthropic") as claudeish, ProviderThread(fmt="openai") as chatty:
        claudeish.models = ["claude-x"]
        chatty.models = ["gpt-x"]
        yield {"claudeish": claudeish, "chatty": chatty}


class Web:
    """mitmweb's REST API, with the token mitmweb printed at startup."""

    def __init__(self, port: int, token: str):
        self.url = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def get(self, path: str) -> httpx.Response:
        answer = self.client.get(self.url + path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return answer

    def command(self, name: str, *arguments: str) -> Any:
        answer = self.client.post(f"{self.url}/commands/{name}",
                                  headers={"X-XSRFToken": XSRF,
                                           "Cookie": f"_mitmproxy_xsrf={XSRF}"},
                                  json={"arguments": list(arguments)})
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert "error" not in found, found
        return found["value"]

    def view(self, flow: dict[str, Any], side: str, name: str = "mitmllm") -> str:
        found = self.get(f"/flows/{flow['id']}/{side}/content/{name}.json").json()
        assert found["view_name"].lower() == name.lower(), found
        return str(found["text"])

    def flows(self) -> list[dict[str, Any]]:
        return list(self.get("/flows").json())


@pytest.fixture(scope="module")
def session(providers: dict[str, FakeProvider], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[MitmllmProcess, Web, Path]]:
    rows = "".join(
        f"  - {{name: {name}, preset: custom, format: {fmt}, auth: api_key, host: 127.0.0.1, "
        f"protocol: http, port: {providers[name].port}}}\n"
        for name, fmt in (("claudeish", "anthropic"), ("chatty", "openai")))
    config = (f"listen: {{token: {TEAM_TOKEN}}}\nproviders:\n{rows}"
              "local: {enabled: false}\n")
    workdir = tmp_path_factory.mktemp("inspect")
    saved = workdir / "flows.mitm"
    web_port = free_port()
    env = {f"MITMLLM_KEY_{name.upper()}": key for name, key in KEYS.items()}
    with MitmllmProcess(workdir, config, env=env, command="web",
                        args=("--web-port", str(web_port), "--save", str(saved))) as proxy:
        found = re.search(r"token=([0-9a-f]+)", proxy.log())
        assert found, proxy.log()
        web = Web(web_port, found.group(1))
        exchanges(proxy, providers)
        yield proxy, web, saved
        assert proxy.stop() == 0, proxy.log()
    assert not any(secret in proxy.log() for secret in SECRETS)


def exchanges(proxy: MitmllmProcess, providers: dict[str, FakeProvider]) -> None:
    """What the users did, once, before the checks read mitmweb."""
    # The OpenAI SDK, streamed, to an Anthropic-format provider that keeps its body open a
    # little after the last event: the SDK leaves as soon as it has read `[DONE]`.
    providers["claudeish"].reply("/messages", Sse(
        sse_lines(vector("stream_20")["anthropic_sse"]), delay=0.01, hang_after=0.5))
    openai = OpenAI(base_url=proxy.url + "/v1", api_key=TEAM_TOKEN, max_retries=0, timeout=10)
    text = ""
    with openai.chat.completions.create(
            model="claudeish/claude-x", stream=True, logit_bias={"1": 2},
            messages=[{"role": "user", "content": "Say hi from the OpenAI SDK"}]) as stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
    assert text == vector("stream_20")["expected_accumulated"]["message"]["content"]

    # The Anthropic SDK, streamed, to an OpenAI-format provider.
    providers["chatty"].reply("/chat/completions",
                              Sse(sse_lines(vector("stream_40")["openai_sse"]), delay=0.01))
    anthropic = Anthropic(base_url=proxy.url, api_key=TEAM_TOKEN, max_retries=0, timeout=10)
    with anthropic.messages.stream(
            model="chatty/gpt-x", max_tokens=100,
            messages=[{"role": "user", "content": "Say hi from the Anthropic SDK"}]) as events:
        message = events.get_final_message()
    assert message.content and message.content[0].type == "text"

    # curl, a whole answer, to the Anthropic-format provider.
    providers["claudeish"].reply(
        "/messages", Json(200, vector("nonstream_11")["anthropic_response"]))
    body = {"model": "claudeish/claude-x", "messages": [{"role": "user", "content": "curl"}]}
    done = subprocess.run(
        ["curl", "-sS", f"{proxy.url}/v1/chat/completions", "-H", f"x-api-key: {TEAM_TOKEN}",
         "-H", "content-type: application/json", "-d", json.dumps(body)],
        capture_output=True, check=True, timeout=20)
    assert json.loads(done.stdout)["object"] == "chat.completion"

    # Something nothing serves, with the team token: a 404 that goes nowhere.
    missing = httpx.get(proxy.url + "/v1/nowhere",
                        headers={"authorization": f"Bearer {TEAM_TOKEN}"})
    assert missing.status_code == 404


def settled(web: Web, count: int) -> list[dict[str, Any]]:
    """The model flows once all `count` have ended (answered, or errored)."""
    deadline = time.monotonic() + 10
    while True:
        flows = [f for f in web.flows()
                 if f["type"] == "http" and f["request"]["path"].startswith("/v1/")
                 and f["request"]["method"] in ("POST", "GET")
                 and not f["request"]["path"].startswith("/v1/models")]
        ended = [f for f in flows if f.get("error") or (f.get("response") and
                                                         f["response"].get("timestamp_end"))]
        if len(ended) >= count or time.monotonic() > deadline:
            return flows
        time.sleep(0.1)


def by_label(flows: list[dict[str, Any]], start: str, streamed: bool = True) -> dict[str, Any]:
    """The one flow with that label whose answer streamed (or did not)."""
    found = [f for f in flows if f["comment"].startswith(start) and streamed == (
        "text/event-stream" in dict(f["response"]["headers"]).get("content-type", ""))]
    assert len(found) == 1, [f["comment"] for f in flows]
    return found[0]


@pytest.fixture(scope="module")
def flows(session: tuple[MitmllmProcess, Web, Path]) -> list[dict[str, Any]]:
    return settled(session[1], 4)


def test_every_flow_is_labelled_and_the_comment_column_is_shown(
        session: tuple[MitmllmProcess, Web, Path], flows: list[dict[str, Any]]) -> None:
    _, web, _ = session
    labels = sorted(f["comment"] for f in flows)
    assert "claudeish · claude-x · openai → anthropic" in labels
    assert "chatty · gpt-x · anthropic → openai" in labels
    assert any(label.startswith("mitmllm · GET /v1/nowhere · 404") for label in labels)
    assert "comment" in web.get("/options").json()["web_columns"]["value"]
    views = web.get("/state").json()["contentViews"]
    assert "mitmllm" in views and "sse" in views  # mitmweb lists them lower-cased


def test_the_openai_sdk_leaving_after_done_keeps_the_whole_stream(
        session: tuple[MitmllmProcess, Web, Path], flows: list[dict[str, Any]]) -> None:
    _, web, _ = session
    flow = by_label(flows, "claudeish · claude-x · openai → anthropic")
    assert not flow.get("error"), flow["error"]  # a normal end, not "Client disconnected"
    raw = web.get(f"/flows/{flow['id']}/response/content.data").text
    assert "chat.completion.chunk" in raw and raw.rstrip().endswith("data: [DONE]")


def test_the_request_view_shows_both_requests_and_what_was_dropped(
        session: tuple[MitmllmProcess, Web, Path], flows: list[dict[str, Any]]) -> None:
    _, web, _ = session
    flow = by_label(flows, "claudeish · claude-x · openai → anthropic")
    text = web.view(flow, "request")
    client_part = text[text.index("Client sent"):text.index("Sent to the provider")]
    provider_part = text[text.index("Sent to the provider"):]
    assert '"claudeish/claude-x"' in client_part  # the model as the client asked
    assert "Say hi from the OpenAI SDK" in client_part
    assert '"logit_bias"' in client_part
    assert '"claude-x"' in provider_part and '"max_tokens"' in provider_part
    assert '"logit_bias"' not in provider_part
    dropped = text[text.index("Dropped"):text.index("Defaulted")]
    assert "logit_bias" in dropped
    assert "max_tokens" in text[text.index("Defaulted"):text.index("Client sent")]
    assert "/v1/messages" in text  # the provider's endpoint


def test_the_response_view_shows_both_streams_as_timed_events(
        session: tuple[MitmllmProcess, Web, Path], flows: list[dict[str, Any]]) -> None:
    _, web, _ = session
    flow = by_label(flows, "claudeish · claude-x · openai → anthropic")
    text = web.view(flow, "response")
    provider_part = text[text.index("Provider sent"):text.index("Client got")]
    client_part = text[text.index("Client got"):]
    assert "content_block_delta" in provider_part and "message_stop" in provider_part
    assert "chat.completion.chunk" not in provider_part
    assert "chat.completion.chunk" in client_part and "[DONE]" in client_part
    assert "content_block_delta" not in client_part
    assert re.search(r"\+\d+(\.\d+)? ms", provider_part)  # when each event came
    ending = text[text.index("How the answer ended"):text.index("Provider sent")]
    assert "complete" in ending or "client left after the end" in ending

    flow = by_label(flows, "chatty · gpt-x · anthropic → openai")
    text = web.view(flow, "response")
    provider_part = text[text.index("Provider sent"):text.index("Client got")]
    client_part = text[text.index("Client got"):]
    assert "chat.completion.chunk" in provider_part
    assert "message_start" in client_part and "content_block_delta" in client_part

    # The SSE view reads any event stream, here the client's.
    sse = web.view(flow, "response", "SSE")
    assert "message_start" in sse and "message_stop" in sse


def test_a_whole_answer_shows_the_providers_body_and_the_clients(
        session: tuple[MitmllmProcess, Web, Path], flows: list[dict[str, Any]]) -> None:
    _, web, _ = session
    whole = by_label(flows, "claudeish · claude-x · openai → anthropic", streamed=False)
    text = web.view(whole, "response")
    provider_part = text[text.index("Provider sent"):text.index("Client got")]
    client_part = text[text.index("Client got"):]
    assert '"type": "message"' in provider_part
    assert '"chat.completion"' in client_part
    request = web.view(whole, "request")
    assert '"curl"' in request


def test_no_secret_anywhere_in_mitmweb(
        session: tuple[MitmllmProcess, Web, Path], flows: list[dict[str, Any]]) -> None:
    _, web, saved = session
    texts = [json.dumps(web.flows()), web.get("/flows/dump").text]
    for flow in flows:
        headers = {k.lower(): v for k, v in flow["request"]["headers"]}
        for name in ("authorization", "x-api-key"):
            if name in headers:
                assert headers[name] == REDACTED, (flow["comment"], name)
        for side in ("request", "response"):
            for view in ("mitmllm", "Raw", "auto"):
                texts.append(web.view(flow, side, view) if view != "auto" else
                             web.get(f"/flows/{flow['id']}/{side}/content/auto.json").text)
        for form in ("curl", "httpie", "raw"):
            texts.append(str(web.command("export", form, "@" + flow["id"])))
    har = saved.parent / "flows.har"
    web.command("save.har", "@all", str(har))
    texts.append(har.read_text())
    assert len(json.loads(texts[-1])["log"]["entries"]) >= len(flows)
    joined = "\n".join(texts)
    for secret in SECRETS:
        assert secret not in joined


def test_replay_re_injects_the_providers_key(
        session: tuple[MitmllmProcess, Web, Path], flows: list[dict[str, Any]],
        providers: dict[str, FakeProvider]) -> None:
    _, web, _ = session
    flow = by_label(flows, "claudeish · claude-x · openai → anthropic", streamed=False)
    before = len(providers["claudeish"].requests_to("/messages"))
    providers["claudeish"].reply(
        "/messages", Json(200, vector("nonstream_11")["anthropic_response"]))
    answer = web.client.post(f"{web.url}/flows/{flow['id']}/replay",
                             headers={"X-XSRFToken": XSRF, "Cookie": f"_mitmproxy_xsrf={XSRF}"})
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 10
    while len(providers["claudeish"].requests_to("/messages")) == before:
        assert time.monotonic() < deadline, "the replay never reached the provider"
        time.sleep(0.05)
    replayed = providers["claudeish"].requests_to("/messages")[-1]
    assert replayed.headers["x-api-key"] == KEYS["claudeish"]
    assert json.loads(replayed.body)["model"] == "claude-x"


def test_the_saved_file_reopens_with_the_views_and_without_them(
        session: tuple[MitmllmProcess, Web, Path], flows: list[dict[str, Any]]) -> None:
    _, _, saved = session
    data = saved.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in data
    with saved.open("rb") as file:
        loaded = [f for f in io.FlowReader(file).stream()]
    routed = [f for f in loaded if f.comment.startswith("claudeish · claude-x · openai")
              and f.response is not None
              and "text/event-stream" in f.response.headers.get("content-type", "")]
    assert len(routed) == 1
    flow = routed[0]
    assert flow.error is None
    assert flow.response is not None and b"[DONE]" in (flow.response.content or b"")
    assert "content_block_delta" in flow.metadata["mitmllm"]["provider_answer"]["body"]

    mitmdump = Path(sys.executable).parent / "mitmdump"
    filt = "~u /v1/messages & ~hs event-stream"  # the OpenAI SDK's stream
    with_views = subprocess.run(
        [str(mitmdump), "-n", "-r", str(saved), "--flow-detail", "3",
         "-s", str(ROOT / "addons" / "view_script.py"), filt],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert with_views.returncode == 0, with_views.stderr
    assert "Client sent" in with_views.stdout and "Provider sent" in with_views.stdout
    assert "content_block_delta" in with_views.stdout

    without = subprocess.run(
        [str(mitmdump), "-n", "-r", str(saved), "--flow-detail", "3", filt],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert without.returncode == 0, without.stderr
    assert "Client sent" not in without.stdout
    assert "chat.completion.chunk" in without.stdout  # the raw bytes the client got
    for secret in SECRETS:
        assert secret not in with_views.stdout + without.stdout
