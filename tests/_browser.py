"""Headless Chromium for tests that check a page really renders (the dashboard, the HTML report)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests._capabilities import require


def dump_dom(url: str, profile: Path, budget_ms: int = 15000) -> str:
    """The page's DOM after its scripts ran (``--virtual-time-budget``), as headless Chromium sees it."""
    require("chromium")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert browser is not None
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
