"""Save a screenshot of each /ui/ page under docs/ (shown in docs/ui.md).

    .venv/bin/python -m tests.browser.screenshots

Not part of the test suite, so the committed PNGs change only when this is run on purpose. It
drives a real `sessionauth serve` in the system Chromium, as the browser tests do.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import httpx

from tests.browser.chromium import ChromiumMissing, launch
from tests.browser.other_origin import serving_page
from tests.constants import PASSWORD
from tests.processes import serving

DOCS = Path(__file__).resolve().parents[2] / "docs"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1"
)


def main() -> int:
    from playwright.sync_api import sync_playwright

    DOCS.mkdir(exist_ok=True)
    # Mail on, printed by the server (`console:`): the links are read off its output.
    mail = {"MAIL_URL": "console:", "PUBLIC_URL": "http://127.0.0.1"}
    with serving(**mail) as server, sync_playwright() as playwright:
        try:
            browser = launch(playwright)
        except ChromiumMissing as missing:
            print(missing, file=sys.stderr)
            return 1
        context = browser.new_context(
            viewport={"width": 900, "height": 640}, user_agent=DESKTOP, color_scheme="light"
        )
        page = context.new_page()

        def shoot(name: str) -> None:
            page.evaluate("document.activeElement && document.activeElement.blur()")
            page.screenshot(path=str(DOCS / name), full_page=True)
            print(f"docs/{name}")

        page.goto(server.url + "/ui/signup")
        shoot("ui-signup.png")

        page.fill("#username", "Alice")
        page.fill("#email", "alice@example.com")
        page.fill("#password", "password123")
        page.click("main button[type=submit]")
        shoot("ui-signup-error.png")

        page.fill("#password", PASSWORD)
        page.click("main button[type=submit]")
        shoot("ui-login.png")

        httpx.post(server.url + "/login", auth=("alice", PASSWORD), headers={"user-agent": PHONE})
        page.fill("#password", PASSWORD)
        page.click("main button[type=submit]")
        shoot("ui-home.png")

        attack = f'<form method="post" action="{server.url}/ui/logout"><button id="go">Win</button></form>'
        with serving_page(attack) as port:
            page.goto(f"http://localhost:{port}/")
            page.click("#go")
            shoot("ui-refused.png")

        page.goto(server.url + "/ui/verify-email?token=" + mailed_token(server, "verify-email"))
        page.click("main button[type=submit]")
        page.click("header button >> text=Log out")
        page.click("text=Forgot your password?")
        page.fill("#username", "alice")
        shoot("ui-forgot.png")
        page.click("main button[type=submit]")

        page.goto(server.url + "/ui/reset-password?token=" + mailed_token(server, "reset-password"))
        shoot("ui-reset.png")
        context.clear_cookies()  # the link's cookie gone: the page of a dead link
        page.goto(server.url + "/ui/reset-password")
        shoot("ui-dead-link.png")
        browser.close()
    return 0


def mailed_token(server, page: str) -> str:
    """The token of the newest link to `page` the server printed, waiting a while for it."""
    pattern = re.compile(rf"/ui/{page}\?token=([A-Za-z0-9_-]+)")
    deadline = time.monotonic() + 30
    while not (found := pattern.findall(server.output())):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {page} link was printed")
        time.sleep(0.2)
    return found[-1]


if __name__ == "__main__":
    sys.exit(main())
