"""Recovery in a real headless Chromium: a real `sessionauth serve` mailing through a real SMTP
server (aiosmtpd), links followed from the mail received. Sign up with an address, confirm it,
forget the password, reset it from the mailed link (its token never in the address bar or a
Referer), and log in with the new password only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from tests.browser.browsing import Browsing, assert_no_script_and_styled, record
from tests.constants import PASSWORD
from tests.processes import (
    READY,
    SESSIONAUTH,
    Server,
    answers,
    cli_env,
    free_port,
    running,
)
from tests.smtp_server import SmtpServer

NEW_PASSWORD = "a brand new passphrase"


@contextmanager
def serving_mail() -> Iterator[tuple[Server, SmtpServer]]:
    """serve with mail on, through the SMTP server, its links under its own base URL (known
    before it starts, for PUBLIC_URL)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with SmtpServer() as smtp:
        env = cli_env(
            MAIL_URL=smtp.url(),
            MAIL_FROM="sessionauth@example.com",
            PUBLIC_URL=url,
            THROTTLE_SIGNUP_PER_ADDRESS="0",
            PURGE_INTERVAL="0",
        )
        with running(
            [SESSIONAUTH, "serve", "--host", "127.0.0.1", "--port", str(port)],
            name="sessionauth serve",
            ready=answers(url + READY),
            env=env,
        ) as process:
            yield Server(process, url), smtp


@pytest.fixture(scope="module")
def mail_server() -> Iterator[tuple[Server, SmtpServer]]:
    with serving_mail() as both:
        yield both


@pytest.fixture
def mailing(browser, mail_server) -> Iterator[tuple[Browsing, SmtpServer]]:
    server, smtp = mail_server
    context = browser.new_context()
    try:
        yield record(context, server.url), smtp
    finally:
        context.close()


def mailed_link(smtp: SmtpServer, to: str, page: str, base: str) -> str:
    """The link of the newest message to `to` that links to `page`, waiting for it to arrive."""
    pattern = re.compile(re.escape(f"{base}/ui/{page}?token=") + r"[A-Za-z0-9_-]+")

    def found() -> list[str]:
        links = []
        for message in smtp.messages:
            if message["To"] == to:
                links += pattern.findall(message.get_body(("plain",)).get_content())
        return links

    count = len(smtp.messages)
    while not found():
        count += 1
        smtp.wait_for(count)
    return found()[-1]


def test_confirm_the_address_then_reset_a_forgotten_password(mailing, username):
    browsing, smtp = mailing
    page, base = browsing.page, browsing.base
    address = f"{username}@example.com"

    page.goto(browsing.url("/ui/signup"))
    page.fill("#username", username)
    page.fill("#email", address)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    browsing.log_in(username)
    assert browsing.path() == "/ui/"
    assert page.inner_text("#email-status").lower() == "not verified"

    # The verification link, from the mail: the token leaves the address bar at once.
    verify_link = mailed_link(smtp, address, "verify-email", base)
    page.goto(verify_link)
    assert page.url == browsing.url("/ui/verify-email")
    assert_no_script_and_styled(browsing)
    page.click("main button >> text=Confirm this address")
    assert browsing.path() == "/ui/?notice=email-verified"
    assert page.inner_text(".notice") == "Email address verified."
    assert page.inner_text("#email-status").lower() == "verified"
    page.click("header button >> text=Log out")

    page.click("text=Forgot your password?")
    assert browsing.path() == "/ui/forgot-password"
    page.fill("#username", username)
    page.click("main button[type=submit]")
    assert browsing.path() == "/ui/forgot-password/sent"
    assert "a reset link is on its way" in page.inner_text("main")

    reset_link = mailed_link(smtp, address, "reset-password", base)
    token = urlsplit(reset_link).query.removeprefix("token=")
    with page.expect_response(lambda r: r.url == reset_link) as took:
        page.goto(reset_link)
    assert took.value.status == 303
    assert took.value.header_value("referrer-policy") == "no-referrer"
    assert took.value.header_value("cache-control") == "no-store"
    assert page.url == browsing.url("/ui/reset-password")  # the address bar has no token
    assert page.evaluate("location.href") == browsing.url("/ui/reset-password")
    assert token not in page.content()
    form_page = browsing.page_responses()[-2]  # the page (the stylesheet came after it)
    assert form_page.url == browsing.url("/ui/reset-password")
    assert form_page.header_value("referrer-policy") == "same-origin"
    cookie = next(c for c in browsing.context.cookies() if c["name"] == "session_id_reset")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/ui/reset-password"
    assert "session_id_reset" not in page.evaluate("document.cookie")

    page.fill("#new_password", "password123")  # refused: the link stays usable
    page.click("main button[type=submit]")
    assert page.inner_text("#form-error").startswith("Password is too common")
    page.fill("#new_password", NEW_PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("main button[type=submit]")
    # The form page's own policy lets its POST say where it came from: the defence lets it by.
    assert posted.value.request.all_headers()["origin"] == base
    assert posted.value.status == 303
    assert browsing.path() == "/ui/login?notice=password-reset"
    assert page.inner_text(".notice").startswith("Password changed. Log in with the new one")
    assert "session_id_reset" not in {c["name"] for c in browsing.context.cookies()}

    browsing.log_in(username, PASSWORD)  # the old password is dead
    assert page.inner_text("#form-error") == "Wrong username or password."
    browsing.log_in(username, NEW_PASSWORD)
    assert browsing.path() == "/ui/"

    # No request the browser made told anyone the token, in its URL past the link or a Referer.
    for response in browsing.responses:
        referer = response.request.all_headers().get("referer", "")
        assert token not in referer, response.url
        if response.url != reset_link:
            assert token not in response.url
    browsing.assert_clean()


def test_an_unknown_reset_link_shows_the_dead_link_page(mailing):
    browsing, _ = mailing
    page = browsing.page
    page.goto(browsing.url("/ui/reset-password?token=" + "A" * 43))
    assert page.url == browsing.url("/ui/reset-password")
    # Said at once, before a password is typed: there is no form to fill.
    assert "This password reset link is invalid or has expired." in page.inner_text("main")
    assert page.locator("#new_password").count() == 0
    page.click("text=Ask for a new link")
    assert browsing.path() == "/ui/forgot-password"
    browsing.assert_clean()
