"""The account pages under /ui/ through the ASGI app, mail on (the in-memory outbox holds what
was sent): forgot and reset password, verify and change the email address, resend the link,
delete the account; the mailed link's token moved out of the address bar into a cookie, used
only by a POST; and, with mail off, none of the mail pages."""

import re
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest

from domain.mail import MailKind
from tests.api.client import AppClient, running_client
from tests.api.pages import error_message, logged_in, redirect_to, ui_log_in
from tests.api.responses import assert_html, set_cookie_attributes
from tests.constants import PASSWORD
from tests.fakes import FakeClock
from tests.mail_links import last_token, queued
from tests.service_log import json_lines, service_log

MAIL_ON = {"mail_url": "console:", "public_url": "https://auth.example"}
NEW = "a brand new passphrase"
EVIL = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
DEAD_LINK = "This password reset link is invalid or has expired."


@pytest.fixture
async def client() -> AsyncIterator[AppClient]:
    async with running_client(**MAIL_ON) as client:
        yield client


def access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "sessionauth.access"]


def store(client: AppClient):
    return client.app.state.container.store()


async def settle(client: AppClient) -> None:
    await client.app.state.container.forgot_password().settle()


def notice(response: httpx.Response) -> str:
    match = re.search(r'<p class="notice" role="status">(.*?)</p>', response.text)
    assert match, response.text
    return match.group(1)


async def verified_account(client, username="alice", email="alice@example.com") -> None:
    """Signed up through the form with an address, verified through the API."""
    response = await client.post(
        "/ui/signup", data={"username": username, "email": email, "password": PASSWORD}
    )
    assert redirect_to(response).startswith("/ui/login?notice=signed-up")
    token = last_token(store(client), MailKind.VERIFY_EMAIL, to=email)
    assert (await client.post("/email/verify", json={"token": token})).status_code == 200


async def reset_token(client, username="alice") -> str:
    response = await client.post("/ui/forgot-password", data={"username": username, "email": ""})
    assert redirect_to(response) == "/ui/forgot-password/sent"
    await settle(client)
    return last_token(store(client), MailKind.PASSWORD_RESET)


async def open_link(client, page: str, token: str) -> httpx.Response:
    """What a browser does with the mailed link: GET it, keep the cookie, follow the 303."""
    response = await client.get(f"/ui/{page}", params={"token": token})
    assert redirect_to(response) == f"/ui/{page}"
    return response


@pytest.mark.parametrize("path", ["/ui/signup", "/ui/login"])
async def test_the_forms_render_with_mail_on(client, path):
    response = await client.get(path)
    assert response.status_code == 200
    assert_html(response)


async def test_the_sign_up_form_asks_for_an_optional_address(client):
    form = await client.get("/ui/signup")
    field = re.search(r'<input id="email"[^>]*>', form.text)
    assert field and 'type="email"' in field.group(0) and "required" not in field.group(0)
    refused = await client.post(
        "/ui/signup", data={"username": "alice", "email": "not an address", "password": PASSWORD}
    )
    assert refused.status_code == 422
    assert 'value="not an address"' in refused.text
    assert re.search(r'<input id="email"[^>]*aria-invalid="true"', refused.text)
    no_address = await client.post(
        "/ui/signup", data={"username": "alice", "email": "", "password": PASSWORD}
    )
    assert redirect_to(no_address).startswith("/ui/login?notice=signed-up")
    assert queued(store(client)) == []


# forgot password


async def test_the_login_form_links_to_forgot_password(client):
    assert 'href="/ui/forgot-password"' in (await client.get("/ui/login")).text


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "alice", "email": ""},
        {"username": "nobody", "email": ""},
        {"username": "", "email": "alice@example.com"},
        {"username": "", "email": "nobody@example.com"},
    ],
)
async def test_forgot_password_answers_the_same_page_whoever_is_named(client, fields):
    await verified_account(client)
    form = await client.get("/ui/forgot-password")
    assert form.status_code == 200
    assert_html(form)
    response = await client.post("/ui/forgot-password", data=fields)
    assert redirect_to(response) == "/ui/forgot-password/sent"
    assert "set-cookie" not in response.headers
    sent = await client.get("/ui/forgot-password/sent")
    assert sent.status_code == 200
    assert_html(sent)
    assert (
        "If that account exists and has a verified email address, a reset link is on its way"
        in sent.text
    )
    await settle(client)
    mailed = queued(store(client), MailKind.PASSWORD_RESET)
    assert len(mailed) == (0 if "nobody" in str(fields) else 1)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"username": "", "email": ""}, "username"),
        ({"username": "alice", "email": "alice@example.com"}, "username"),
        ({"username": "", "email": "not an address"}, "email"),
    ],
)
async def test_forgot_password_without_exactly_one_usable_field_is_a_422_form(
    client, fields, field
):
    response = await client.post("/ui/forgot-password", data=fields)
    assert response.status_code == 422
    assert_html(response)
    invalid = re.search(r'<input id="(\w+)"[^>]*aria-invalid="true"', response.text)
    assert invalid and invalid.group(1) == field
    if fields["username"]:
        assert f'value="{fields["username"]}"' in response.text  # what was typed is kept


async def test_forgot_password_throttled_says_how_long_to_wait():
    async with running_client(**MAIL_ON, throttle_reset_per_address=1) as client:
        await client.post("/ui/forgot-password", data={"username": "alice"})
        response = await client.post("/ui/forgot-password", data={"username": "alice"})
        assert response.status_code == 429 and response.headers["retry-after"].isdigit()
        assert_html(response)
        assert re.fullmatch(
            r"Too many attempts\. Try again in \d+ (seconds|minutes)\.", error_message(response)
        )


# reset password


async def test_the_reset_link_moves_its_token_to_a_cookie_and_redirects_to_a_clean_url(client):
    await verified_account(client)
    token = await reset_token(client)
    response = await client.get("/ui/reset-password", params={"token": token})
    assert response.headers["location"] == "/ui/reset-password"
    assert response.status_code == 303
    assert response.headers["referrer-policy"] == "no-referrer"  # one policy, not two
    assert response.headers.get_list("referrer-policy") == ["no-referrer"]
    assert response.headers["cache-control"] == "no-store"
    cookie = set_cookie_attributes(response, name="session_id_reset")
    assert cookie["value"] == token
    assert {"httponly", "secure"} <= set(cookie) and "domain" not in cookie
    assert cookie["path"] == "/ui/reset-password" and cookie["samesite"].lower() == "lax"
    assert 0 < int(cookie["max-age"]) <= 900  # PASSWORD_RESET_TTL's default
    assert token not in response.text

    page = await client.get("/ui/reset-password")
    assert page.status_code == 200
    assert_html(page)  # the form page itself: Referrer-Policy same-origin, for its own POST
    assert page.headers["cache-control"] == "no-store"
    assert token not in page.text and 'id="new_password"' in page.text


async def test_reset_through_the_pages_then_log_in_with_the_new_password_only(client):
    await verified_account(client)
    await logged_in_session(client)
    token = await reset_token(client)
    await open_link(client, "reset-password", token)
    # The GET may be repeated (a mail scanner, a reload): only the POST uses the token.
    await open_link(client, "reset-password", token)
    assert (await client.get("/ui/reset-password")).status_code == 200

    refused = await client.post("/ui/reset-password", data={"new_password": "password123"})
    assert refused.status_code == 422
    assert_html(refused)
    assert error_message(refused) == "Password is too common; choose one that is harder to guess"
    assert "password123" not in refused.text
    assert "set-cookie" not in refused.headers  # the token stays, and stays usable

    response = await client.post("/ui/reset-password", data={"new_password": NEW})
    assert redirect_to(response) == "/ui/login?notice=password-reset"
    assert set_cookie_attributes(response, name="session_id_reset")["max-age"] == "0"
    login = await client.get(redirect_to(response))
    assert notice(login) == "Password changed. Log in with the new one; every session has ended."
    assert (await client.get("/ui/")).headers["location"] == "/ui/login?notice=ended"

    assert (await ui_log_in(client, "alice", PASSWORD)).status_code == 422
    assert redirect_to(await ui_log_in(client, "alice", NEW)) == "/ui/"

    # The link is spent: opened again, its page says so and offers a new one.
    await open_link(client, "reset-password", token)
    again = await client.post("/ui/reset-password", data={"new_password": "another passphrase"})
    assert again.status_code == 400
    assert_html(again)
    assert DEAD_LINK in again.text and 'href="/ui/forgot-password"' in again.text
    assert set_cookie_attributes(again, name="session_id_reset")["max-age"] == "0"
    assert redirect_to(await ui_log_in(client, "alice", NEW)) == "/ui/"


async def logged_in_session(client) -> None:
    response = await ui_log_in(client)
    assert redirect_to(response) == "/ui/"


@pytest.mark.parametrize("token", ["", "short", "x" * 44, "é" * 43, "a;b=c" * 9])
async def test_a_malformed_link_drops_its_token_and_shows_the_dead_link_page(client, token):
    response = await client.get("/ui/reset-password", params={"token": token})
    assert redirect_to(response) == "/ui/reset-password"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert set_cookie_attributes(response, name="session_id_reset")["max-age"] == "0"
    page = await client.get("/ui/reset-password")
    assert page.status_code == 400
    assert_html(page)
    assert DEAD_LINK in page.text


async def test_the_reset_page_without_a_link_and_an_unknown_token_show_the_dead_link_page(client):
    assert DEAD_LINK in (await client.get("/ui/reset-password")).text
    posted = await client.post("/ui/reset-password", data={"new_password": NEW})
    assert posted.status_code == 400 and DEAD_LINK in posted.text
    await open_link(client, "reset-password", "A" * 43)  # well formed, never issued
    shown = await client.get("/ui/reset-password")  # said before a password is typed
    assert shown.status_code == 400 and DEAD_LINK in shown.text
    await open_link(client, "reset-password", "A" * 43)
    unknown = await client.post("/ui/reset-password", data={"new_password": NEW})
    assert unknown.status_code == 400 and DEAD_LINK in unknown.text


async def test_the_reset_page_says_a_link_is_dead_before_a_password_is_typed():
    clock = FakeClock()
    async with running_client(clock=clock, **MAIL_ON) as client:
        await verified_account(client)
        token = await reset_token(client)
        await open_link(client, "reset-password", token)
        for _ in range(2):  # showing the form uses nothing
            page = await client.get("/ui/reset-password")
            assert page.status_code == 200 and 'name="new_password"' in page.text
        clock.advance(seconds=900)  # PASSWORD_RESET_TTL's default: dead at its expiry instant
        expired = await client.get("/ui/reset-password")
        assert expired.status_code == 400 and DEAD_LINK in expired.text

        used = await reset_token(client)
        reset = await client.post("/password/reset", json={"token": used, "new_password": NEW})
        assert reset.status_code == 200
        await open_link(client, "reset-password", used)
        again = await client.get("/ui/reset-password")
        assert again.status_code == 400 and DEAD_LINK in again.text


async def test_the_verification_page_says_a_link_is_dead_before_it_is_confirmed(client):
    await open_link(client, "verify-email", "A" * 43)  # well formed, never issued
    page = await client.get("/ui/verify-email")
    assert page.status_code == 400
    assert "This verification link is invalid or has expired." in page.text


async def test_a_reset_posted_from_another_site_is_refused_and_the_link_still_works(client):
    await verified_account(client)
    token = await reset_token(client)
    await open_link(client, "reset-password", token)
    refused = await client.post("/ui/reset-password", data={"new_password": NEW}, headers=EVIL)
    assert refused.status_code == 403
    assert_html(refused)
    assert (await ui_log_in(client, "alice", NEW)).status_code == 422  # nothing changed
    response = await client.post("/ui/reset-password", data={"new_password": NEW})
    assert redirect_to(response) == "/ui/login?notice=password-reset"


# verify email


async def test_sign_up_with_an_address_and_confirm_it_through_its_link(client):
    response = await client.post(
        "/ui/signup",
        data={"username": "alice", "email": "Alice@Example.com", "password": PASSWORD},
    )
    assert redirect_to(response).startswith("/ui/login?notice=signed-up")
    token = last_token(store(client), MailKind.VERIFY_EMAIL)
    await logged_in_session(client)
    home = await client.get("/ui/")
    assert "Alice@example.com" in home.text
    assert '<span class="status" id="email-status">not verified</span>' in home.text
    assert 'action="/ui/email/resend"' in home.text

    link = await open_link(client, "verify-email", token)
    assert link.headers.get_list("referrer-policy") == ["no-referrer"]
    cookie = set_cookie_attributes(link, name="session_id_verify")
    assert cookie["value"] == token and cookie["path"] == "/ui/verify-email"
    assert "httponly" in cookie and 0 < int(cookie["max-age"]) <= 900
    page = await client.get("/ui/verify-email")
    assert page.status_code == 200
    assert_html(page)
    assert "Confirm this address" in page.text and token not in page.text
    # Opening the link used nothing: the address is not verified until the button is pressed.
    assert "not verified" in (await client.get("/ui/")).text

    response = await client.post("/ui/verify-email")
    assert redirect_to(response) == "/ui/?notice=email-verified"  # logged in: the account page
    assert set_cookie_attributes(response, name="session_id_verify")["max-age"] == "0"
    home = await client.get(redirect_to(response))
    assert notice(home) == "Email address verified."
    assert '<span class="status" id="email-status">verified</span>' in home.text
    assert 'action="/ui/email/resend"' not in home.text

    await open_link(client, "verify-email", token)
    spent = await client.post("/ui/verify-email")
    assert spent.status_code == 400
    assert "This verification link is invalid or has expired." in spent.text


async def test_confirming_without_a_session_leads_to_the_login_form(client):
    await ui_sign_up_with_email(client, "alice", "alice@example.com")
    await open_link(client, "verify-email", last_token(store(client), MailKind.VERIFY_EMAIL))
    response = await client.post("/ui/verify-email")
    assert redirect_to(response) == "/ui/login?notice=email-verified"


async def ui_sign_up_with_email(client, username: str, email: str) -> None:
    response = await client.post(
        "/ui/signup", data={"username": username, "email": email, "password": PASSWORD}
    )
    assert redirect_to(response).startswith("/ui/login?notice=signed-up")


async def test_an_address_another_account_verified_is_a_409_page(client):
    await ui_sign_up_with_email(client, "bob", "shared@example.com")
    bobs = last_token(store(client), MailKind.VERIFY_EMAIL)
    await verified_account(client, "alice", "shared@example.com")
    await open_link(client, "verify-email", bobs)
    response = await client.post("/ui/verify-email")
    assert response.status_code == 409
    assert_html(response)
    assert "Another account has already verified this email address." in response.text


async def test_a_confirmation_posted_from_another_site_is_refused(client):
    await ui_sign_up_with_email(client, "alice", "alice@example.com")
    await open_link(client, "verify-email", last_token(store(client), MailKind.VERIFY_EMAIL))
    assert (await client.post("/ui/verify-email", headers=EVIL)).status_code == 403
    assert redirect_to(await client.post("/ui/verify-email")).endswith("notice=email-verified")


# change the address, resend the link


async def test_change_the_address_with_the_current_password(client):
    await verified_account(client)
    await logged_in_session(client)
    form = await client.get("/ui/email")
    assert form.status_code == 200
    assert_html(form)
    assert "alice@example.com" in form.text and 'id="current_password"' in form.text

    wrong = await client.post(
        "/ui/email", data={"email": "new@example.com", "current_password": "not it at all"}
    )
    assert wrong.status_code == 403
    assert_html(wrong)
    assert error_message(wrong) == "That is not your current password."
    assert 'value="new@example.com"' in wrong.text and "not it at all" not in wrong.text

    malformed = await client.post(
        "/ui/email", data={"email": "not an address", "current_password": PASSWORD}
    )
    assert malformed.status_code == 422
    assert re.search(r'<input id="email"[^>]*aria-invalid="true"', malformed.text)

    response = await client.post(
        "/ui/email", data={"email": "new@example.com", "current_password": PASSWORD}
    )
    assert redirect_to(response) == "/ui/?notice=email-set"
    home = await client.get("/ui/?notice=email-set")
    assert notice(home) == "Email address saved. Follow the link mailed to it to verify it."
    assert "new@example.com" in home.text and "not verified" in home.text
    assert queued(store(client), MailKind.VERIFY_EMAIL, to="new@example.com")
    assert queued(store(client), MailKind.EMAIL_CHANGED, to="alice@example.com")

    before = len(queued(store(client), MailKind.VERIFY_EMAIL, to="new@example.com"))
    resent = await client.post("/ui/email/resend")
    assert redirect_to(resent) == "/ui/?notice=verification-sent"
    assert len(queued(store(client), MailKind.VERIFY_EMAIL, to="new@example.com")) == before + 1


async def test_resending_for_a_verified_address_is_a_409_page(client):
    await verified_account(client)
    await logged_in_session(client)
    response = await client.post("/ui/email/resend")
    assert response.status_code == 409
    assert_html(response)
    assert "Your address is verified already." in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/ui/email"),
        ("POST", "/ui/email"),
        ("POST", "/ui/email/resend"),
        ("GET", "/ui/account/delete"),
        ("POST", "/ui/account/delete"),
    ],
)
async def test_the_account_pages_without_a_session_redirect_to_log_in(client, method, path):
    response = await client.request(method, path, data={} if method == "POST" else None)
    assert redirect_to(response) == "/ui/login"


# delete the account


async def test_delete_the_account_with_the_current_password(client):
    token = await logged_in(client)
    home = await client.get("/ui/")
    assert 'href="/ui/account/delete"' in home.text
    page = await client.get("/ui/account/delete")
    assert page.status_code == 200
    assert_html(page)
    assert "cannot be undone" in page.text

    wrong = await client.post("/ui/account/delete", data={"current_password": "not it at all"})
    assert wrong.status_code == 403
    assert error_message(wrong) == "That is not your current password."
    assert "not it at all" not in wrong.text

    response = await client.post("/ui/account/delete", data={"current_password": PASSWORD})
    assert redirect_to(response) == "/ui/login?notice=account-deleted"
    assert set_cookie_attributes(response)["max-age"] == "0"
    assert notice(await client.get(redirect_to(response))) == (
        "Your account has been deleted, with its sessions."
    )
    client.cookies.set("session_id", token)
    assert redirect_to(await client.get("/ui/")) == "/ui/login?notice=ended"
    assert (await ui_log_in(client)).status_code == 422


async def test_deleting_from_another_site_is_refused(client):
    await logged_in(client)
    response = await client.post(
        "/ui/account/delete", data={"current_password": PASSWORD}, headers=EVIL
    )
    assert response.status_code == 403
    assert (await client.get("/ui/")).status_code == 200


# mail off


MAIL_PAGES = [
    ("GET", "/ui/forgot-password"),
    ("POST", "/ui/forgot-password"),
    ("GET", "/ui/forgot-password/sent"),
    ("GET", "/ui/reset-password?token=" + "A" * 43),
    ("POST", "/ui/reset-password"),
    ("GET", "/ui/verify-email?token=" + "A" * 43),
    ("POST", "/ui/verify-email"),
    ("GET", "/ui/email"),
    ("POST", "/ui/email"),
    ("POST", "/ui/email/resend"),
]


async def test_with_mail_off_the_mail_pages_are_not_found_and_not_offered():
    async with running_client() as client:
        await logged_in(client)
        for method, path in MAIL_PAGES:
            response = await client.request(method, path, data={} if method == "POST" else None)
            assert response.status_code == 404, path
            assert_html(response)
            assert "set-cookie" not in response.headers
        home = await client.get("/ui/")
        assert "/ui/email" not in home.text and 'id="email"' not in home.text
        assert 'href="/ui/account/delete"' in home.text  # deletion needs no mail
        assert (await client.get("/ui/account/delete")).status_code == 200
        client.cookies.clear()
        assert "forgot-password" not in (await client.get("/ui/login")).text
        assert 'id="email"' not in (await client.get("/ui/signup")).text


# the access log


async def test_the_access_log_never_holds_a_links_token():
    with service_log() as stream:
        async with running_client(**MAIL_ON) as client:
            await verified_account(client)
            reset = await reset_token(client)
            await ui_sign_up_with_email(client, "bob", "bob@example.com")
            verify = last_token(store(client), MailKind.VERIFY_EMAIL, to="bob@example.com")
            await open_link(client, "reset-password", reset)
            await client.get("/ui/reset-password")
            await open_link(client, "verify-email", verify)
            await client.post("/ui/verify-email")
            await client.post("/ui/reset-password", data={"new_password": NEW})
            client.app.observer.access_log.flush()  # the lines waiting, written now
        text = stream.getvalue()
        lines = access_lines(json_lines(stream))
    for token in (reset, verify, quote(reset), quote(verify)):
        assert token not in text
    routes = [(line["method"], line["route"], line["status"]) for line in lines]
    assert ("GET", "/ui/reset-password", 303) in routes
    assert ("GET", "/ui/verify-email", 303) in routes
    assert ("POST", "/ui/reset-password", 303) in routes
    assert all("?" not in line["route"] for line in lines)
