"""The system Chromium (Debian's `chromium` package), driven by Playwright's Python package.

Playwright's own browser downloads are never used (`playwright install` is not run): the tests
drive the browser the machine has, so a missing one is reported with the apt-get line to fix it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

INSTALL_HINT = (
    "Chromium is needed for the browser tests: apt-get install chromium chromium-driver "
    "(`make test` does it when run as root)"
)
# Headless and quiet: on a machine without internet, background fetches (updates, sync, QUIC
# probes) otherwise make Chromium stall at start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class ChromiumMissing(RuntimeError):
    pass


DEBIAN_PATH = "/usr/bin/chromium"


def chromium_executable() -> str:
    for candidate in (shutil.which("chromium"), DEBIAN_PATH):
        if candidate and Path(candidate).exists():
            return candidate
    raise ChromiumMissing(INSTALL_HINT)


def launch(playwright):
    """A headless Chromium with a fresh, empty profile (Playwright makes a temporary one)."""
    return playwright.chromium.launch(
        executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS
    )
