"""A passkey registered and used in a real Chromium against a real `sessionauth serve`, through
the DevTools protocol's virtual authenticator (CTAP2, internal transport, resident keys, user
verification): the pages' one script runs the ceremonies under the pages' policy.

WebAuthn needs a secure context and a relying party id matching the page's host: the pages are
opened at http://localhost (a secure context for browsers) and PUBLIC_URL names that origin, so
that the relying party id is "localhost"."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.browser.browsing import Browsing, record
from tests.constants import PASSWORD
from tests.processes import Server, free_port, serving


@pytest.fixture(scope="module")
def passkey_server() -> Iterator[Server]:
    port = free_port()
    with serving(
        port=port,
        PUBLIC_URL=f"http://localhost:{port}",
        THROTTLE_SIGNUP_PER_ADDRESS="0",
        PURGE_INTERVAL="0",
    ) as server:
        yield server


@pytest.fixture
def passkey_browsing(browser, passkey_server) -> Iterator[Browsing]:
    context = browser.new_context()
    try:
        yield record(context, f"http://localhost:{passkey_server.port}")
    finally:
        context.close()


def add_virtual_authenticator(browsing: Browsing) -> object:
    """The CDP session holding the authenticator: the caller keeps it for the test's length."""
    cdp = browsing.context.new_cdp_session(browsing.page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp


def session_levels(browsing: Browsing) -> list[int]:
    """The aal of the browser's current session, read from GET /sessions with its cookie."""
    token = next(c["value"] for c in browsing.context.cookies() if c["name"] == "session_id")
    response = httpx.get(browsing.url("/sessions"), cookies={"session_id": token})
    assert response.status_code == 200, response.text
    return [s["aal"] for s in response.json() if s["current"]]


def test_register_a_passkey_and_sign_in_with_it(passkey_browsing, username):
    browsing = passkey_browsing
    page = browsing.page
    authenticator = add_virtual_authenticator(browsing)

    browsing.sign_up(username)
    browsing.log_in(username)
    assert browsing.path() == "/ui/"
    page.click("#security-link")
    assert browsing.path() == "/ui/security"

    form = page.locator("#passkey-add-form")
    form.wait_for(state="visible")  # shown by the script: WebAuthn is there
    page.fill("#passkey-name", "Virtual key")
    page.fill("#passkey-current_password", PASSWORD)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    # The first factor comes with recovery codes, shown once.
    assert page.locator("#recovery-codes li").count() == 10
    page.click("text=I have saved them")
    assert page.locator(".credential-name").all_inner_texts() == ["Virtual key"]

    page.click("header button >> text=Log out")
    assert browsing.path() == "/ui/login?notice=logged-out"
    button = page.locator("#passkey-login")
    button.wait_for(state="visible")
    with page.expect_navigation(url="**/ui/"):
        button.click()
    assert page.inner_text("#username") == username
    assert session_levels(browsing) == [2]

    browsing.assert_clean()  # no CSP violation in the console, among the rest
    assert authenticator is not None
    for response in browsing.page_responses():
        assert "script-src 'self'" in response.all_headers()["content-security-policy"]
