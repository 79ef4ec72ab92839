"""A Chromium context on the UI that records what the browser did, and the checks that the
browser tests share."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from entrypoints.http.ui.middleware import CONTENT_SECURITY_POLICY
from tests.constants import PASSWORD


@dataclass
class Browsing:
    """A fresh browser context (its own cookies) and page, with what it saw."""

    context: object
    page: object
    base: str
    ui: str = "/ui/"  # where the pages are: /auth/ui/ in an app that embeds sessionauth at /auth
    responses: list = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def path(self) -> str:
        parts = urlsplit(self.page.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def sign_up(self, username: str, password: str = PASSWORD) -> None:
        self.page.goto(self.url(f"{self.ui}signup"))
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("button[type=submit] >> text=Create account")

    def log_in(self, username: str, password: str = PASSWORD) -> None:
        if not self.path().startswith(f"{self.ui}login"):
            self.page.goto(self.url(f"{self.ui}login"))
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("main button[type=submit]")

    def page_responses(self) -> list:
        return [r for r in self.responses if urlsplit(r.url).path.startswith(self.ui)]

    def assert_clean(self) -> None:
        """What every test ends with: no Basic challenge was ever seen, every /ui/ answer had the
        page headers, and the browser reported no Content-Security-Policy violation."""
        assert self.page_responses(), f"no {self.ui} response was recorded"
        for response in self.responses:
            headers = response.all_headers()
            assert response.status != 401 and "www-authenticate" not in headers, response.url
        for response in self.page_responses():
            headers = response.all_headers()
            assert headers.get("content-security-policy") == CONTENT_SECURITY_POLICY, response.url
            assert headers.get("x-frame-options") == "DENY", response.url
        violations = [m for m in self.console if "Content Security Policy" in m]
        assert violations == []


def record(context, base: str, ui: str = "/ui/") -> Browsing:
    page = context.new_page()
    browsing = Browsing(context=context, page=page, base=base, ui=ui)
    # A lambda, not the bound method: Playwright refuses built-in methods as handlers.
    context.on("response", lambda response: browsing.responses.append(response))  # noqa: PLW0108
    page.on("console", lambda message: browsing.console.append(message.text))
    return browsing


def assert_no_script_and_styled(browsing: Browsing) -> None:
    found = browsing.page.evaluate(NO_SCRIPT_ON_THE_PAGE)
    assert found == {"scripts": 0, "handlers": 0, "inlineStyles": 0, "stylesheetLoaded": True}, (
        browsing.path()
    )


def api_status(base: str, token: str) -> int:
    return httpx.get(base + "/getusers/me", cookies={"session_id": token}).status_code


NO_SCRIPT_ON_THE_PAGE = """() => ({
    scripts: document.scripts.length,
    handlers: [...document.querySelectorAll('*')].flatMap(
        e => [...e.attributes].map(a => a.name)).filter(n => n.startsWith('on') || n === 'style').length,
    inlineStyles: document.querySelectorAll('style').length,
    stylesheetLoaded: getComputedStyle(document.body).margin === '0px',
})"""
