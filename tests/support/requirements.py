"""What a test needs from the machine (Chromium, nginx, a Secret Service, the agent CLIs):
missing on a developer's machine, the test is skipped with what to install; missing on CI,
which installs all of it (.ci/run), the test fails, so a skip is never counted as a pass.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, NoReturn

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def missing(message: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def need_browser(test: str) -> Any:
    """Playwright's sync API, with Debian's Chromium at `CHROMIUM` (no browser download)."""
    absent = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        absent.append("the playwright package (pip install playwright)")
    if not Path(CHROMIUM).exists():
        absent.append("Chromium (apt install chromium)")
    if absent:
        missing(f"{test} needs " + " and ".join(absent))
    return sync_playwright
