"""The /ui/ pages of an embedded sessionauth, in a real headless Chromium: the notes example
(`python -m examples.notes_app`, sessionauth installed at /auth) serves them at /auth/ui/, and the
browser never leaves that prefix, loads the stylesheet under its CSP, and posts its forms."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.browser.browsing import api_status, assert_no_script_and_styled, record
from tests.processes import notes_app as served_notes_app

UI = "/auth/ui/"


@pytest.fixture(scope="module")
def notes_app() -> Iterator[str]:
    with served_notes_app() as (base, _):
        yield base


def test_the_whole_flow_under_the_prefix(browser, notes_app, username):
    context = browser.new_context()
    try:
        browsing = record(context, notes_app, ui=UI)
        page = browsing.page
        browsing.sign_up(username)
        assert browsing.path() == f"{UI}login?notice=signed-up&username={username}"
        assert_no_script_and_styled(browsing)

        browsing.log_in(username)
        assert browsing.path() == UI
        assert page.inner_text("#username") == username
        assert_no_script_and_styled(browsing)
        assert (
            context.request.get(f"{notes_app}/notes").status == 200
        )  # the host's route, same cookie

        token = next(c["value"] for c in context.cookies() if c["name"] == "session_id")
        page.locator(".session.current button", has_text="Log out").click()
        assert browsing.path() == f"{UI}login?notice=logged-out"
        assert page.inner_text(".notice") == "You have logged out."
        assert api_status(f"{notes_app}/auth", token) == 401

        page.click("header a >> text=Sign up")
        assert browsing.path() == f"{UI}signup"
        page.goto(browsing.url(UI))
        assert browsing.path() == f"{UI}login"

        browsing.assert_clean()
        assert [r.url for r in browsing.responses if not urlsplit(r.url).path.startswith(UI)] == []
        assert any(urlsplit(r.url).path == f"{UI}static/ui.css" for r in browsing.responses)
    finally:
        context.close()
