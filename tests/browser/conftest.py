"""Fixtures for the browser tests: one headless Chromium per module, a real `sessionauth serve`,
and a page that records every response and console message it sees."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from entrypoints.http.ui.middleware import CONTENT_SECURITY_POLICY
from tests.browser.chromium import ChromiumMissing, launch
from tests.e2e.server import Server, serving

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # a dev dependency: never skip, say how to get it
        pytest.fail(
            "Playwright's Python package is missing: pip install -e '.[dev]' (or make install)"
        )
    with sync_playwright() as playwright:
        try:
            browser = launch(playwright)
        except ChromiumMissing as missing:
            pytest.fail(str(missing))
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    # Many sign-ups come from 127.0.0.1 in one module: the per-address sign-up limit is off here.
    with serving(THROTTLE_SIGNUP_PER_ADDRESS="0", PURGE_INTERVAL="0") as server:
        yield server


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
    context.on("response", browsing.responses.append)
    page.on("console", lambda message: browsing.console.append(message.text))
    return browsing


@pytest.fixture
def browsing(browser, server) -> Iterator[Browsing]:
    context = browser.new_context()
    try:
        yield record(context, server.url)
    finally:
        context.close()


@pytest.fixture
def username() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"
