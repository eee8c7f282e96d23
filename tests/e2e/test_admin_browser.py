"""End to end in a real browser: the Providers page (`/admin`, docs/admin.md) driven in
headless Chromium (Debian `chromium`, Python `playwright`) the way a person with a keyboard
and a screen reader would find it, by roles and labels only.

The real `mitmllm run` starts with no providers; two fake OpenAI-format providers stand in
for a remote host. The page adds one, edits it to point at the other, switches it off and on,
tests it and deletes it; after each step the test reads what a user could check by hand: the
YAML config file, the keychain (the private Secret Service of `./dev test`, which the proxy
uses too) and `GET /v1/models`. The API key must reach the keychain and the provider, and
never the config file, the page, or any answer the page received.

With MITMLLM_SCREENSHOTS=DIR the test also saves the screenshots docs/admin.md can show
(`admin-providers.png`, `admin-edit.png`).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
import yaml
from support.fake_provider import FakeProvider, ProviderThread
from support.keyrings import SECRET_SERVICE_ENV, forget, pinned_keyring, unique_name
from support.proxy import MitmllmProcess
from support.requirements import CHROMIUM, missing, need_browser

pytestmark = [pytest.mark.e2e, pytest.mark.keyring]

SECRET_SERVICE = "keyring.backends.SecretService.Keyring"
SERVICE = "mitmllm"  # the keychain service the proxy stores provider keys under
WAIT = 10_000  # ms: connecting to a loopback fake takes a fraction of this


def need_secret_service() -> Any:
    """The real Secret Service backend `./dev test` runs, for this process and the proxy's."""
    if os.environ.get(SECRET_SERVICE_ENV) != "1":
        missing("the Providers page test needs a real keychain: run it with ./dev test, "
                     "which starts a private gnome-keyring Secret Service (apt install "
                     "gnome-keyring dbus)")
    import keyring.backends.SecretService

    return keyring.backends.SecretService.Keyring()


@pytest.fixture
def fakes() -> Iterator[tuple[FakeProvider, FakeProvider]]:
    with ProviderThread() as first, ProviderThread() as second:
        first.models = ["alpha-small", "alpha-large"]
        second.models = ["beta-one"]
        yield first, second


def test_providers_page_add_edit_toggle_test_delete(
        tmp_path: Path, fakes: tuple[FakeProvider, FakeProvider]) -> None:
    sync_playwright = need_browser("the Providers page test")
    backend = need_secret_service()
    from playwright.sync_api import expect

    first, second = fakes
    name = unique_name("page")
    key = f"sk-page-{uuid.uuid4().hex}"
    config = "providers: []\nlocal: {enabled: false}\n"
    with (pinned_keyring(backend),
          MitmllmProcess(tmp_path, config,
                         env={"PYTHON_KEYRING_BACKEND": SECRET_SERVICE}) as proxy,
          sync_playwright() as playwright):
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        answers: list[Any] = []
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 800},
                                          permissions=["clipboard-read", "clipboard-write"])
            page = context.new_page()
            page.on("response", lambda response: answers.append(response)
                    if "/admin/api/" in response.url else None)

            def in_config() -> dict[str, Any] | None:
                text = proxy.config.read_text()
                assert key not in text
                rows = (yaml.safe_load(text) or {}).get("providers") or []
                return next((row for row in rows if row.get("name") == name), None)

            def served() -> set[str]:
                ids = {m["id"] for m in proxy.get("/v1/models")["data"]}
                return {i.removeprefix(name + "/") for i in ids if i.startswith(name + "/")}

            page.goto(proxy.url + "/admin")
            expect(page.get_by_role("heading", name="Providers", exact=True)).to_be_visible()
            card = page.get_by_role("article", name=name, exact=True)
            expect(card).to_have_count(0)

            # Keyboard: the form opens on Enter with the focus inside, Escape closes it and
            # the focus goes back to the button that opened it.
            add = page.get_by_role("button", name="Add provider")
            add.focus()
            page.keyboard.press("Enter")
            expect(page.get_by_role("dialog", name="Add provider")).to_be_visible()
            expect(page.get_by_role("dialog").get_by_label("Preset")).to_be_focused()
            page.keyboard.press("Escape")
            expect(page.get_by_role("dialog")).to_have_count(0)
            expect(add).to_be_focused()

            # -- Add: the Custom preset, a refused port first (the API's message, the field
            # marked and focused), then the fake's.
            add.click()
            form = page.get_by_role("dialog", name="Add provider")
            expect(form.get_by_label("Preset")).to_be_focused()
            form.get_by_label("Preset").select_option(label="Custom")
            form.get_by_label("Name", exact=True).fill(name)
            form.get_by_label("Host", exact=True).fill("127.0.0.1")
            form.get_by_label("Protocol").select_option("http")
            form.get_by_label("Port", exact=True).fill("99999")
            form.get_by_label("Base path").fill("/v1")
            form.get_by_label("Format", exact=True).select_option("openai")
            expect(form.get_by_label("API key")).to_have_attribute("type", "password")
            expect(form.get_by_label("API key")).to_have_attribute("placeholder", "not set")
            form.get_by_label("API key").fill(key)
            form.get_by_role("button", name="Save").click()
            expect(form.get_by_role("alert")).to_contain_text("65535")
            port_field = form.get_by_label("Port", exact=True)
            expect(port_field).to_have_attribute("aria-invalid", "true")
            expect(port_field).to_be_focused()
            assert in_config() is None and keyring.get_password(SERVICE, name) is None
            port_field.fill(str(first.port))
            form.get_by_role("button", name="Save").click()
            expect(form).to_be_hidden()
            expect(add).to_be_focused()

            expect(card.get_by_text("connected", exact=True)).to_be_visible(timeout=WAIT)
            for model in first.models:
                expect(card.get_by_text(model, exact=True)).to_be_visible()
            saved = in_config()
            assert saved is not None
            # The file keeps only what differs from the preset (Custom: https, /v1, openai).
            assert saved["host"] == "127.0.0.1" and saved["port"] == first.port
            assert saved["protocol"] == "http" and saved.get("preset", "custom") == "custom"
            assert saved.get("base_path", "/v1") == "/v1"
            assert saved.get("format", "openai") == "openai"
            assert saved.get("enabled", True) is True
            assert keyring.get_password(SERVICE, name) == key
            assert served() == set(first.models)
            # The key went from the keychain to the provider.
            assert first.requests_to("/models")[-1].headers["authorization"] == f"Bearer {key}"

            # -- Models: grouped by provider, searchable, copied by their `use` id.
            models = page.get_by_role("region", name="Models", exact=True)
            models.get_by_label("Search models").fill("large")
            expect(models.get_by_role("button", name=f"Copy {name}/alpha-small")).to_be_hidden()
            models.get_by_role("button", name=f"Copy {name}/alpha-large").click()
            expect(models.get_by_text("Copied", exact=True)).to_be_visible()
            assert page.evaluate("navigator.clipboard.readText()") == f"{name}/alpha-large"
            models.get_by_label("Search models").fill("")
            models.get_by_label("Search models").blur()
            expect(models.get_by_role("button", name=f"Copy {name}/alpha-small")).to_be_visible()
            page.mouse.move(0, 0)  # no hover state in the screenshot
            screenshot(page, "admin-providers.png")

            # -- Edit: the same form, filled from the saved settings; the key write-only.
            card.get_by_role("button", name="Edit").click()
            form = page.get_by_role("dialog", name=f"Edit {name}")
            expect(form.get_by_label("Name", exact=True)).to_have_value(name)
            expect(form.get_by_label("Port", exact=True)).to_have_value(str(first.port))
            expect(form.get_by_label("API key")).to_have_value("")
            expect(form.get_by_label("API key")).to_have_attribute(
                "placeholder", "set — leave blank to keep")
            expect(form.get_by_label("Remove stored key")).not_to_be_checked()
            form.get_by_label("Port", exact=True).fill(str(second.port))
            screenshot(page, "admin-edit.png")
            form.get_by_role("button", name="Save").click()
            expect(form).to_be_hidden()
            expect(card.get_by_text("beta-one", exact=True)).to_be_visible(timeout=WAIT)
            expect(card.get_by_text("connected", exact=True)).to_be_visible(timeout=WAIT)
            expect(card.get_by_text("alpha-small", exact=True)).to_have_count(0)
            assert (in_config() or {}).get("port") == second.port
            assert keyring.get_password(SERVICE, name) == key  # blank kept it
            assert served() == {"beta-one"}
            assert second.requests_to("/models")[-1].headers["authorization"] == f"Bearer {key}"

            # -- Enabled off, then on again.
            switch = card.get_by_role("checkbox", name="Enabled")
            switch.uncheck()
            expect(card.get_by_text("disabled", exact=True)).to_be_visible(timeout=WAIT)
            expect(switch).to_be_focused()  # live updates re-render in place
            assert (in_config() or {}).get("enabled") is False
            assert served() == set()
            switch.check()
            expect(card.get_by_text("connected", exact=True)).to_be_visible(timeout=WAIT)
            assert (in_config() or {}).get("enabled", True) is True
            assert served() == {"beta-one"}

            # -- Test connection on the card: the saved settings and the stored key.
            card.get_by_role("button", name="Test connection").click()
            expect(card.get_by_text(re.compile(r"^Test: connected, 1 model$"))).to_be_visible(
                timeout=WAIT)

            # -- Delete, after a confirmation that names it and says the keychain goes too.
            card.get_by_role("button", name="Delete").click()
            confirm = page.get_by_role("dialog", name=f"Delete {name}?")
            expect(confirm).to_contain_text("keychain")
            expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
            confirm.get_by_role("button", name="Delete").click()
            expect(card).to_have_count(0, timeout=WAIT)
            assert in_config() is None
            assert keyring.get_password(SERVICE, name) is None
            assert served() == set()

            # The key never came back to the page: not in its DOM, not in any API answer.
            assert key not in page.content()
            bodies = [response.text() for response in answers]
            assert bodies and any(json.loads(b).get("providers") is not None for b in bodies
                                  if b.startswith("{"))
            for body in bodies:
                assert key not in body
        finally:
            browser.close()
            forget(SERVICE, name)


def screenshot(page: Any, name: str) -> None:
    folder = os.environ.get("MITMLLM_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name))
