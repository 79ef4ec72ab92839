"""The second factors' browser pages through the ASGI app: the Security page, the TOTP set-up
with its QR code, recovery codes shown once, the second login step with a TOTP code and a
recovery code, and the policy that lets the one script in and nothing inline.
tests/browser/test_passkey_browser.py registers a passkey and signs in with it in Chromium."""

import re
from urllib.parse import urlsplit

import pyotp
import pytest

from entrypoints.http.ui.middleware import CONTENT_SECURITY_POLICY
from tests.api.client import running_client
from tests.api.pages import error_message, logged_in, redirect_to, ui_log_in
from tests.api.responses import assert_html, assert_page_headers, set_cookie_attributes
from tests.constants import PASSWORD
from tests.fakes import FakeClock

WEBAUTHN_ON = {"public_url": "https://testserver"}


def totp_secret(page) -> str:
    match = re.search(r'<code id="totp-secret" class="secret">([A-Z2-7]+)</code>', page.text)
    assert match, page.text
    return match.group(1)


def recovery_codes(page) -> list[str]:
    return re.findall(r"<li><code>([a-z2-7-]+)</code></li>", page.text)


def code_at(secret: str, clock: FakeClock) -> str:
    return pyotp.TOTP(secret).at(clock.now())


async def with_totp(client, clock) -> tuple[str, list[str]]:
    """Log in through the forms and turn TOTP on from the Security page: the secret and the
    recovery codes shown."""
    await logged_in(client)
    setup = await client.post("/ui/security/totp", data={"current_password": PASSWORD})
    assert setup.status_code == 200, setup.text
    secret = totp_secret(setup)
    confirmed = await client.post(
        "/ui/security/totp/confirm", data={"code": code_at(secret, clock)}
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = recovery_codes(confirmed)
    assert len(codes) == 10
    clock.advance(seconds=30)  # the confirming code's step is spent
    return secret, codes


def test_the_pages_policy_allows_the_service_s_own_script_and_nothing_inline():
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"  # the script's requests: the service's own API
    assert directives["default-src"] == "'none'"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "unsafe-eval" not in CONTENT_SECURITY_POLICY
    assert "data:" not in CONTENT_SECURITY_POLICY


async def test_the_script_is_served_from_the_service_with_the_page_headers(client):
    response = await client.get("/ui/static/webauthn.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert "navigator.credentials.create" in response.text
    assert "navigator.credentials.get" in response.text
    assert_page_headers(response)


async def test_without_webauthn_the_login_page_loads_no_script_and_offers_no_passkey(client):
    page = await client.get("/ui/login")
    assert_html(page)
    assert "<script" not in page.text and "Sign in with a passkey" not in page.text


async def test_with_webauthn_the_login_page_loads_the_one_script_and_offers_a_passkey():
    async with running_client(**WEBAUTHN_ON) as client:
        page = await client.get("/ui/login")
    assert_html(page)
    assert page.text.count("<script") == 1
    assert '<script src="/ui/static/webauthn.js" defer></script>' in page.text
    assert 'data-webauthn="passkey-login"' in page.text
    assert 'data-options="/login/passkey/options"' in page.text
    assert 'data-finish="/login/passkey"' in page.text


async def test_the_account_page_links_to_the_security_page(client):
    await logged_in(client)
    home = await client.get("/ui/")
    assert 'href="/ui/security"' in home.text


async def test_the_security_page_needs_a_session(client):
    assert redirect_to(await client.get("/ui/security")) == "/ui/login"


async def test_the_security_page_shows_totp_off_and_no_recovery_codes(client):
    await logged_in(client)
    page = await client.get("/ui/security")
    assert page.status_code == 200
    assert_html(page)
    assert '<strong id="totp-status">off</strong>' in page.text
    assert 'action="/ui/security/totp"' in page.text
    assert "You get recovery codes with your first second factor." in page.text


async def test_totp_set_up_shows_the_qr_code_inline_and_the_recovery_codes_once(client, clock):
    await logged_in(client)
    wrong = await client.post("/ui/security/totp", data={"current_password": "not it"})
    assert wrong.status_code == 403
    assert error_message(wrong) == "That is not your current password."

    setup = await client.post("/ui/security/totp", data={"current_password": PASSWORD})
    assert setup.status_code == 200
    assert_html(setup)
    secret = totp_secret(setup)
    assert len(secret) >= 32  # 160 bits in base32
    # The QR code is inline SVG made on the server: no image request, no data: URL.
    assert re.search(r'<figure class="qr"><svg [^>]*class="segno"', setup.text)
    assert "<img" not in setup.text and "data:" not in setup.text
    assert 'action="/ui/security/totp/confirm"' in setup.text

    refused = await client.post("/ui/security/totp/confirm", data={"code": "000000"})
    if code_at(secret, clock) != "000000":
        assert refused.status_code == 422
        assert "That code is wrong" in error_message(refused)

    old_token = client.cookies["session_id"]
    confirmed = await client.post(
        "/ui/security/totp/confirm", data={"code": code_at(secret, clock)}
    )
    assert confirmed.status_code == 200
    assert_html(confirmed)
    codes = recovery_codes(confirmed)
    assert len(codes) == 10 and len(set(codes)) == 10
    # The factor change rotated the session: the page set the new cookie.
    assert set_cookie_attributes(confirmed)["value"] != old_token

    page = await client.get("/ui/security")
    assert page.status_code == 200
    assert '<strong id="totp-status">on</strong>' in page.text
    assert '<strong id="codes-left">10</strong>' in page.text
    assert not any(code in page.text for code in codes)  # shown once
    assert secret not in page.text


async def test_the_second_step_with_a_totp_code(client, clock):
    secret, _ = await with_totp(client, clock)
    await client.post("/ui/logout")

    response = await ui_log_in(client)
    to = redirect_to(response)
    assert urlsplit(to).path == "/ui/login/mfa"
    assert "session_id" not in response.cookies  # no session before the second step
    pending = set_cookie_attributes(response, name="session_id_mfa")
    assert "httponly" in pending and 0 < int(pending["max-age"]) <= 300
    assert secret not in to and pending["value"] not in to

    page = await client.get(to)
    assert page.status_code == 200
    assert_html(page)
    assert 'name="code"' in page.text and 'name="recovery_code"' in page.text

    wrong = await client.post("/ui/login/mfa", data={"code": "12345x"})
    assert wrong.status_code == 422
    assert error_message(wrong) == "That code is wrong or was used already."

    done = await client.post("/ui/login/mfa", data={"code": code_at(secret, clock)})
    assert redirect_to(done) == "/ui/"
    assert set_cookie_attributes(done, name="session_id_mfa")["max-age"] == "0"
    assert (await client.get("/ui/")).status_code == 200
    sessions = (await client.get("/sessions")).json()
    assert [s["aal"] for s in sessions if s["current"]] == [2]


async def test_the_second_step_with_a_recovery_code_which_then_is_spent(client, clock):
    _, codes = await with_totp(client, clock)
    await client.post("/ui/logout")

    redirect_to(await ui_log_in(client))
    done = await client.post("/ui/login/mfa", data={"recovery_code": codes[0].upper()})
    assert redirect_to(done) == "/ui/"
    page = await client.get("/ui/security")
    assert '<strong id="codes-left">9</strong>' in page.text

    await client.post("/ui/logout")
    redirect_to(await ui_log_in(client))
    again = await client.post("/ui/login/mfa", data={"recovery_code": codes[0]})
    assert again.status_code == 422


async def test_the_second_step_without_a_pending_login_goes_back_to_the_login_form(client):
    assert redirect_to(await client.get("/ui/login/mfa")) == "/ui/login"
    response = await client.post("/ui/login/mfa", data={"code": "123456"})
    assert redirect_to(response) == "/ui/login?notice=mfa-expired"


async def test_factor_changes_need_the_second_factor_too(client, clock):
    secret, codes = await with_totp(client, clock)
    without = await client.post("/ui/security/recovery-codes", data={"current_password": PASSWORD})
    assert without.status_code == 403
    assert "second factor" in error_message(without)

    renewed = await client.post(
        "/ui/security/recovery-codes",
        data={"current_password": PASSWORD, "code": code_at(secret, clock)},
    )
    assert renewed.status_code == 200
    fresh = recovery_codes(renewed)
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    clock.advance(seconds=30)

    off = await client.post(
        "/ui/security/totp/remove",
        data={"current_password": PASSWORD, "recovery_code": fresh[0]},
    )
    assert redirect_to(off) == "/ui/security?notice=totp-off"
    page = await client.get("/ui/security?notice=totp-off")
    assert '<strong id="totp-status">off</strong>' in page.text


@pytest.mark.parametrize(
    ("path", "field"),
    [("/ui/login/mfa", "webauthn"), ("/ui/security/totp", "webauthn")],
)
async def test_a_hidden_assertion_that_is_not_a_json_object_is_a_bad_request(client, path, field):
    await logged_in(client)
    client.cookies.set("session_id_mfa", "a" * 43)
    response = await client.post(path, data={"current_password": PASSWORD, field: "[1, 2]"})
    assert response.status_code == 400
    assert_page_headers(response)
