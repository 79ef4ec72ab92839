"""Fixtures for the browser tests: one headless Chromium per module, a real `sessionauth serve`,
and a page that records every response and console message it sees."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.browser.browsing import Browsing, record
from tests.browser.chromium import ChromiumMissing, launch
from tests.processes import Server, serving


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
