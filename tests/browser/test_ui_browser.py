"""The /ui/ pages in a real headless Chromium against a real `sessionauth serve`."""

from __future__ import annotations

import time

import httpx
import pytest

from entrypoints.http.ui.middleware import CONTENT_SECURITY_POLICY
from tests.browser.browsing import Browsing, api_status, assert_no_script_and_styled, record
from tests.browser.other_origin import serving_page
from tests.constants import PASSWORD
from tests.processes import serving


def api_login(base: str, username: str, user_agent: str) -> str:
    response = httpx.post(
        base + "/login", auth=(username, PASSWORD), headers={"user-agent": user_agent}
    )
    assert response.status_code == 200
    return response.cookies["session_id"]


def test_the_whole_flow(browsing, username):
    page = browsing.page
    browsing.sign_up(username)
    assert browsing.path() == f"/ui/login?notice=signed-up&username={username}"
    assert page.inner_text(".notice") == "Account created. Log in to start a session."
    assert page.input_value("#username") == username
    assert_no_script_and_styled(browsing)

    browsing.log_in(username, "not the password")
    assert page.inner_text("#form-error") == "Wrong username or password."
    browsing.log_in(username)
    assert browsing.path() == "/ui/"
    assert page.inner_text("#username") == username
    assert page.locator("time").first.get_attribute("datetime").endswith("Z")
    assert page.locator(".session").count() == 1
    assert page.inner_text(".session.current .badge").lower() == "this session"
    assert_no_script_and_styled(browsing)

    other = api_login(browsing.base, username, "curl/8.5.0 (the other session)")
    page.reload()
    assert page.locator(".session").count() == 2
    # The card names the device; the raw header is its title (a tooltip).
    other_card = page.locator(
        ".session", has=page.locator('.agent[title="curl/8.5.0 (the other session)"]')
    )
    assert other_card.locator(".agent").inner_text() == "curl 8"
    other_card.locator("button", has_text="End session").click()
    assert browsing.path() == "/ui/?notice=revoked"
    assert page.inner_text(".notice") == "That session has ended."
    assert page.locator(".session").count() == 1
    assert api_status(browsing.base, other) == 401

    page.click("header button >> text=Log out")
    assert browsing.path() == "/ui/login?notice=logged-out"
    assert page.inner_text(".notice") == "You have logged out."
    page.goto(browsing.url("/ui/"))
    assert browsing.path() == "/ui/login"
    browsing.assert_clean()


def test_the_session_cookie_is_httponly_out_of_reach_of_script(browsing, username):
    browsing.sign_up(username)
    browsing.log_in(username)
    assert browsing.path() == "/ui/"
    cookies = {c["name"]: c for c in browsing.context.cookies()}
    assert cookies["session_id"]["httpOnly"] and cookies["session_id_device"]["httpOnly"]
    assert cookies["session_id"]["sameSite"] == "Lax"
    visible = browsing.page.evaluate("document.cookie")
    assert "session_id" not in visible and cookies["session_id"]["value"] not in visible
    browsing.assert_clean()


def _attack_page(target: str) -> str:
    return (
        f'<!doctype html><form method="post" action="{target}">'
        '<button id="go" type="submit">Win a prize</button></form>'
    )


@pytest.mark.parametrize(
    ("host", "cookie_sent"),
    [
        ("localhost", False),  # another site: SameSite=Lax keeps the cookie back as well
        ("127.0.0.1", True),  # same site, another origin (port): the cookie goes along
    ],
)
def test_a_form_posted_from_another_origin_is_refused_by_the_server(
    browsing, username, host, cookie_sent
):
    browsing.sign_up(username)
    browsing.log_in(username)
    assert browsing.path() == "/ui/"

    for action in ("/ui/logout", "/ui/sessions/others/revoke"):
        with serving_page(_attack_page(browsing.url(action))) as port:
            browsing.page.goto(f"http://{host}:{port}/")
            with browsing.page.expect_response(
                lambda r, action=action: r.url.endswith(action)
            ) as answer:
                browsing.page.click("#go")
        response = answer.value
        sent = response.request.all_headers()
        assert sent["origin"] == f"http://{host}:{port}"
        # The refusal is the server's: where the browser sent the cookie along, the session was
        # there to end, and the answer is still 403.
        assert ("session_id=" in sent.get("cookie", "")) is cookie_sent
        assert response.status == 403
        assert response.header_value("content-security-policy") == CONTENT_SECURITY_POLICY
        assert (
            "This request came from another site, so it was refused."
            in browsing.page.inner_text("main")
        )

    browsing.page.goto(browsing.url("/ui/"))
    assert browsing.path() == "/ui/"  # still logged in
    assert browsing.page.inner_text("#username") == username
    browsing.assert_clean()


def test_the_same_form_from_the_app_itself_passes(browsing, username):
    """The other half of the test above: the attack page's form, served by the app's origin,
    is obeyed, so the refusal above is about the origin and nothing else."""
    browsing.sign_up(username)
    browsing.log_in(username)
    with browsing.page.expect_response(lambda r: r.url.endswith("/ui/logout")) as answer:
        browsing.page.click("header button >> text=Log out")
    assert answer.value.status == 303
    assert answer.value.request.all_headers()["origin"] == browsing.base
    assert browsing.path() == "/ui/login?notice=logged-out"


def test_an_expired_session_sends_the_user_back_to_log_in(browser, username):
    idle = 2
    with serving(SESSION_IDLE_TIMEOUT=str(idle), PURGE_INTERVAL="0") as server:
        context = browser.new_context()
        try:
            browsing = record(context, server.url)
            page = browsing.page
            browsing.sign_up(username)
            browsing.log_in(username)
            assert browsing.path() == "/ui/"

            time.sleep(idle + 1.5)  # the page stays open; the session runs out behind it
            page.click("header button >> text=Log out")
            assert browsing.path() == "/ui/login?notice=expired"
            assert page.inner_text(".notice") == "Your session expired. Log in again to continue."
            assert "session_id" not in {c["name"] for c in context.cookies()}  # expired with it

            browsing.log_in(username)  # still usable: the form works at once
            assert browsing.path() == "/ui/"
            time.sleep(idle + 1.5)
            page.reload()
            assert browsing.path() == "/ui/login?notice=expired"
            browsing.assert_clean()
        finally:
            context.close()


def _tab_to(browsing: Browsing, description: str, limit: int = 25) -> dict:
    """Press Tab until the focused element matches `description` (an id, or a button's text)."""
    for _ in range(limit):
        browsing.page.keyboard.press("Tab")
        focused = browsing.page.evaluate(
            """() => { const e = document.activeElement;
                return {id: e.id, tag: e.tagName, text: e.innerText || '',
                        outline: getComputedStyle(e).outlineStyle}; }"""
        )
        if description in (focused["id"], focused["text"].strip()):
            return focused
    raise AssertionError(f"Tab never reached {description!r} on {browsing.path()}")


def _enter(browsing: Browsing) -> None:
    """Press Enter on what has focus, and wait for the page it leads to."""
    with browsing.page.expect_navigation():
        browsing.page.keyboard.press("Enter")


def _focused_id(browsing: Browsing) -> str:
    """The focused element's id, once something has focus: Chromium applies `autofocus` at a
    rendering update after the load event, so a look right after a navigation can come first."""
    browsing.page.wait_for_function(
        "document.activeElement !== null && document.activeElement !== document.body",
        timeout=10_000,
    )
    return browsing.page.evaluate("document.activeElement.id")


def test_the_whole_flow_with_the_keyboard_alone(browsing, username):
    page = browsing.page
    page.goto(browsing.url("/ui/login"))
    assert _focused_id(browsing) == "username"  # autofocus: ready to type
    focused = _tab_to(browsing, "Sign up")
    assert focused["tag"] == "A" and focused["outline"] == "solid"  # focus is visible
    _enter(browsing)
    assert browsing.path() == "/ui/signup"

    assert _focused_id(browsing) == "username"
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    assert _focused_id(browsing) == "password"
    page.keyboard.type(PASSWORD)
    _enter(browsing)
    assert browsing.path().startswith("/ui/login?notice=signed-up")

    assert _focused_id(browsing) == "password"  # the username is filled in already
    page.keyboard.type(PASSWORD)
    _enter(browsing)
    assert browsing.path() == "/ui/"
    assert page.inner_text("#username") == username

    other = api_login(browsing.base, username, "keyboard-test-other-device")
    page.reload()
    focused = _tab_to(browsing, "End session")
    assert focused["tag"] == "BUTTON" and focused["outline"] == "solid"
    _enter(browsing)
    assert browsing.path() == "/ui/?notice=revoked"
    assert api_status(browsing.base, other) == 401

    _tab_to(browsing, "Log out")
    _enter(browsing)
    assert browsing.path() == "/ui/login?notice=logged-out"
    browsing.assert_clean()


def test_the_csp_check_sees_a_violation_when_there_is_one(browser):
    """assert_clean's console check is not blind: a page with the same policy and an inline
    script makes Chromium report the violation."""
    html = "<!doctype html><p>x</p><script>document.title = 'ran'</script>"
    with serving_page(html, {"content-security-policy": CONTENT_SECURITY_POLICY}) as port:
        context = browser.new_context()
        try:
            browsing = record(context, f"http://127.0.0.1:{port}")
            browsing.page.goto(browsing.url("/"))
            assert browsing.page.title() != "ran"
            deadline = time.monotonic() + 10
            while not browsing.console and time.monotonic() < deadline:
                browsing.page.wait_for_timeout(50)
            assert any("Content Security Policy" in m for m in browsing.console), browsing.console
        finally:
            context.close()
