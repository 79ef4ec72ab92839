"""The browser pages under /ui/, through the ASGI app: statuses, redirects, cookies, headers,
messages and escaping. tests/browser/ drives the same pages in a real Chromium."""

import re

import httpx
import pytest
from dependency_injector import providers

from tests.api.client import running_client, sign_up
from tests.api.failing_adapters import DownStore, OverloadedHasher, client_for
from tests.api.pages import error_message, logged_in, redirect_to, ui_log_in, ui_sign_up
from tests.api.responses import assert_html, assert_page_headers, set_cookie_attributes
from tests.constants import PASSWORD

FORM = {"content-type": "application/x-www-form-urlencoded"}


async def me_status(client, token: str) -> int:
    """GET /getusers/me with only this token, outside the client's cookie jar."""
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(
        transport=transport, base_url="https://testserver", cookies={"session_id": token}
    ) as other:
        return (await other.get("/getusers/me")).status_code


def expires_session_cookie(response: httpx.Response) -> bool:
    return set_cookie_attributes(response).get("max-age") == "0"


@pytest.mark.parametrize("path", ["/ui/signup", "/ui/login"])
async def test_the_forms_are_html_pages_with_the_page_headers(client, path):
    response = await client.get(path)
    assert response.status_code == 200
    assert_html(response)
    assert 'method="post"' in response.text and 'type="password"' in response.text
    assert '<link rel="stylesheet" href="/ui/static/ui.css">' in response.text


async def test_the_stylesheet_is_served_with_the_page_headers(client):
    response = await client.get("/ui/static/ui.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
    assert "focus-visible" in response.text
    assert_page_headers(response)


async def test_the_pages_are_not_in_the_openapi_document(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/login" in paths
    assert not [p for p in paths if p.startswith("/ui")]


async def test_the_account_page_without_a_session_redirects_to_login_without_a_challenge(client):
    response = await client.get("/ui/")
    assert redirect_to(response) == "/ui/login"
    assert_page_headers(response)
    assert "set-cookie" not in response.headers


async def test_a_cookie_naming_no_session_is_expired_and_the_login_page_says_the_session_ended(
    client,
):
    response = await client.get("/ui/", headers={"cookie": "session_id=" + "a" * 43})
    assert redirect_to(response) == "/ui/login?notice=ended"
    assert expires_session_cookie(response)
    page = await client.get("/ui/login?notice=ended")
    assert "Your session has ended. Log in again to continue." in page.text


async def test_sign_up_log_in_and_the_account_page(client):
    response = await ui_sign_up(client, "Alice")
    assert redirect_to(response) == "/ui/login?notice=signed-up&username=Alice"
    assert "set-cookie" not in response.headers  # signing up does not log in

    page = await client.get(redirect_to(response))
    assert "Account created. Log in to start a session." in page.text
    assert 'value="Alice"' in page.text

    response = await ui_log_in(client, "ALICE")  # the same user, as with /login
    assert redirect_to(response) == "/ui/"
    session = set_cookie_attributes(response)
    assert {"httponly", "secure"} <= set(session) and session["path"] == "/"
    assert session["samesite"].lower() == "lax" and int(session["max-age"]) == 8 * 3600
    device = set_cookie_attributes(response, name="session_id_device")
    assert "httponly" in device and int(device["max-age"]) >= 30 * 24 * 3600

    home = await client.get("/ui/")
    assert home.status_code == 200
    assert_html(home)
    assert '<dd id="username">Alice</dd>' in home.text
    me = (await client.get("/getusers/me")).json()  # the JSON API knows the same session
    assert me["username"] == "Alice"
    assert f'<time datetime="{me["created_at"]}">' in home.text
    assert home.text.count('class="card session') == 1 and "This session" in home.text
    assert PASSWORD not in home.text and session["value"] not in home.text


async def test_a_login_form_revokes_the_session_the_browser_presented(client):
    old = await logged_in(client)
    response = await ui_log_in(client)
    assert response.cookies["session_id"] != old
    assert await me_status(client, old) == 401


async def test_log_out_ends_the_session_and_expires_the_cookie(client):
    token = await logged_in(client)
    response = await client.post("/ui/logout")
    assert redirect_to(response) == "/ui/login?notice=logged-out"
    assert expires_session_cookie(response)
    assert all(
        not h.startswith("session_id_device=") for h in response.headers.get_list("set-cookie")
    )
    assert "You have logged out." in (await client.get("/ui/login?notice=logged-out")).text
    assert await me_status(client, token) == 401


async def test_log_out_without_a_session_goes_to_the_login_page(client):
    response = await client.post("/ui/logout")
    assert redirect_to(response) == "/ui/login"
    assert_page_headers(response)


async def test_an_expired_session_sends_the_browser_back_to_log_in(clock):
    async with running_client(clock=clock, session_idle_timeout=60) as client:
        token = await logged_in(client)
        clock.advance(seconds=61)
        for request in (
            client.build_request("GET", "/ui/"),
            client.build_request("POST", "/ui/logout"),
        ):
            client.cookies.set("session_id", token)  # a page left open: the browser still has it
            response = await client.send(request)
            assert redirect_to(response) == "/ui/login?notice=expired"
            assert expires_session_cookie(response)
            assert_page_headers(response)
        page = await client.get("/ui/login?notice=expired")
        assert "Your session expired. Log in again to continue." in page.text


async def test_another_session_is_listed_and_can_be_revoked(client):
    await sign_up(client)
    api_login = await client.post(
        "/login", auth=("alice", PASSWORD), headers={"user-agent": "curl/8.0"}
    )
    other_token = api_login.cookies["session_id"]
    client.cookies.clear()
    await ui_log_in(client)

    home = await client.get("/ui/")
    assert home.text.count('class="card session') == 2
    assert "curl/8.0" in home.text
    assert "1 other session)" in home.text
    other_id = next(s["id"] for s in (await client.get("/sessions")).json() if not s["current"])
    assert f'action="/ui/sessions/{other_id}/revoke"' in home.text

    response = await client.post(f"/ui/sessions/{other_id}/revoke")
    assert redirect_to(response) == "/ui/?notice=revoked"
    assert "set-cookie" not in response.headers
    assert "That session has ended." in (await client.get("/ui/?notice=revoked")).text
    assert await me_status(client, other_token) == 401
    assert (await client.get("/getusers/me")).status_code == 200

    again = await client.post(f"/ui/sessions/{other_id}/revoke")
    assert again.status_code == 404
    assert_html(again)
    assert "That session is not active any more." in again.text


async def test_revoking_the_current_session_logs_out(client):
    await logged_in(client)
    current = (await client.get("/sessions")).json()[0]["id"]
    response = await client.post(f"/ui/sessions/{current}/revoke")
    assert redirect_to(response) == "/ui/login?notice=logged-out"
    assert expires_session_cookie(response)


async def test_end_all_other_sessions(client):
    await sign_up(client)
    others = []
    for _ in range(2):
        client.cookies.clear()  # else the next login revokes the session the jar presents
        others.append((await client.post("/login", auth=("alice", PASSWORD))).cookies["session_id"])
    client.cookies.clear()
    await ui_log_in(client)
    assert "2 other sessions)" in (await client.get("/ui/")).text

    response = await client.post("/ui/sessions/others/revoke")
    assert redirect_to(response) == "/ui/?notice=others-revoked"
    home = await client.get("/ui/?notice=others-revoked")
    assert "Every other session has ended." in home.text
    assert home.text.count('class="card session') == 1 and "End all other sessions" not in home.text
    for token in others:
        assert await me_status(client, token) == 401


async def test_a_taken_username_is_409_with_the_form_again(client):
    await ui_sign_up(client, "alice")
    response = await ui_sign_up(client, "ALICE")
    assert response.status_code == 409
    assert_html(response)
    assert error_message(response) == "That username is taken. Choose another one."
    assert 'value="ALICE"' in response.text and 'aria-invalid="true"' in response.text


@pytest.mark.parametrize(
    ("username", "password", "field", "message"),
    [
        ("al", PASSWORD, "username", "Username must be 3 to 64 characters long"),
        ("alice", "short", "password", "Password must be at least 8 characters"),
        (
            "alice",
            "password123",
            "password",
            "Password is too common; choose one that is harder to guess",
        ),
        ("", "", "username", "Username must be 3 to 64 characters long"),
    ],
)
async def test_a_policy_violation_is_422_naming_the_field(
    client, username, password, field, message
):
    response = await ui_sign_up(client, username, password)
    assert response.status_code == 422
    assert_html(response)
    assert error_message(response) == message
    invalid = re.search(r'<input id="(\w+)"[^>]*aria-invalid="true"', response.text)
    assert invalid and invalid.group(1) == field
    assert not re.search(r'<input id="password"[^>]*value=', response.text)  # never sent back


async def test_a_failed_login_is_a_422_form_alike_for_every_cause_and_never_a_challenge(client):
    await ui_sign_up(client)
    answers = [
        await ui_log_in(client, "alice", "wrong password"),
        await ui_log_in(client, "nobody", PASSWORD),
        await ui_log_in(client, "no:colon", PASSWORD),
        await ui_log_in(client, "alice", "x" * 2000),
        await client.post("/ui/login", content=b"", headers=FORM),
    ]
    for response in answers:
        assert response.status_code == 422
        assert_html(response)
        assert error_message(response) == "Wrong username or password."
        assert "set-cookie" not in response.headers
    assert "wrong password" not in answers[0].text and 'value="alice"' in answers[0].text


async def test_a_throttled_login_says_when_to_try_again():
    async with running_client(throttle_login_per_address=2, throttle_window=600) as client:
        await ui_sign_up(client)
        for _ in range(2):
            assert (await ui_log_in(client, password="wrong password")).status_code == 422
        response = await ui_log_in(client)  # the right password, still refused
        assert response.status_code == 429
        assert_html(response)
        retry_after = int(response.headers["retry-after"])
        assert 0 < retry_after <= 600
        assert re.fullmatch(
            r"Too many attempts\. Try again in \d+ (seconds|minutes)\.", error_message(response)
        )
        assert "set-cookie" not in response.headers


async def test_a_throttled_sign_up_is_429():
    async with running_client(throttle_signup_per_address=1) as client:
        await ui_sign_up(client, "first")
        response = await ui_sign_up(client, "second")
        assert response.status_code == 429 and response.headers["retry-after"].isdigit()
        assert error_message(response).startswith("Too many attempts. Try again in ")


async def test_a_down_store_gives_503_pages_with_retry_after():
    app, client = await client_for(lambda c: c.store.override(providers.Singleton(DownStore)))
    async with app.router.lifespan_context(app), client:
        forms = [await ui_sign_up(client), await ui_log_in(client)]
        for response in forms:
            assert response.status_code == 503 and response.headers["retry-after"] == "5"
            assert_html(response)
            assert (
                error_message(response)
                == "The service is unavailable right now. Try again in a few seconds."
            )
        cookie = {"cookie": "session_id=" + "a" * 43}
        pages = [
            await client.get("/ui/", headers=cookie),
            await client.post("/ui/logout", headers=cookie),
        ]
        for response in pages:
            assert response.status_code == 503 and response.headers["retry-after"] == "5"
            assert_html(response)
            assert "The service is unavailable right now." in response.text


async def test_hashing_overload_gives_a_503_form():
    app, client = await client_for(
        lambda c: c.hasher.override(providers.Object(OverloadedHasher()))
    )
    async with app.router.lifespan_context(app), client:
        response = await ui_sign_up(client)
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert error_message(response) == "The service is busy. Try again in a moment."


async def test_what_the_pages_show_from_a_request_is_escaped(client):
    script = "<script>alert(1)</script>"
    response = await ui_sign_up(client, script)
    assert response.status_code == 422
    assert (
        script not in response.text
        and 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in response.text
    )

    quoted = '"><script>alert(1)</script>'
    login_page = await client.get("/ui/login", params={"username": quoted, "notice": script})
    assert "<script" not in login_page.text and "&#34;&gt;&lt;script&gt;" in login_page.text

    await ui_sign_up(client)
    await ui_log_in(client, **{"user-agent": script})
    home = await client.get("/ui/")
    assert script not in home.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in home.text


async def test_a_non_ascii_username_signs_up_and_shows_through_the_forms(client):
    assert (
        redirect_to(await ui_sign_up(client, "jürgen"))
        == "/ui/login?notice=signed-up&username=j%C3%BCrgen"
    )
    assert redirect_to(await ui_log_in(client, "JÜRGEN")) == "/ui/"
    assert '<dd id="username">jürgen</dd>' in (await client.get("/ui/")).text


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"content-type": "multipart/form-data; boundary=x"}, b"--x--", 415),
        ({"content-type": "application/json"}, b'{"username": "a"}', 415),
        (FORM, b"username=%FF%FE&password=x", 400),
        (FORM, b"\xff\xfe", 400),
        (FORM, b"&".join(b"f%d=1" % i for i in range(40)), 400),
        (FORM, b"x" * (64 * 1024 + 1), 413),
    ],
)
async def test_a_malformed_form_gets_an_html_error_page_never_a_500(client, headers, body, status):
    for path in ("/ui/signup", "/ui/login"):
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == status
        assert_html(response)


async def test_an_unknown_page_and_a_wrong_method_are_html_pages(client):
    missing = await client.get("/ui/nothing-here")
    assert missing.status_code == 404
    assert_html(missing)
    wrong_method = await client.get("/ui/logout")
    assert wrong_method.status_code == 405
    assert_html(wrong_method)
    assert (await client.get("/nothing-here")).json() == {
        "detail": "Not Found"
    }  # the API stays JSON


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
        {"origin": "https://testserver:8443", "sec-fetch-site": "same-site"},
    ],
)
async def test_a_form_posted_from_another_origin_is_refused_and_the_session_survives(
    client, headers
):
    await logged_in(client)
    for path in ("/ui/logout", "/ui/sessions/others/revoke"):
        response = await client.post(path, headers=headers)
        assert response.status_code == 403
        assert_html(response)
        assert "This request came from another site, so it was refused." in response.text
        assert "set-cookie" not in response.headers
    refused_login = await ui_log_in(client, **headers)
    assert refused_login.status_code == 403 and "set-cookie" not in refused_login.headers
    assert (await client.get("/ui/")).status_code == 200


async def test_a_form_posted_from_the_same_origin_passes(client):
    await logged_in(client)
    headers = {"origin": "https://testserver", "sec-fetch-site": "same-origin"}
    assert (
        redirect_to(await client.post("/ui/logout", headers=headers))
        == "/ui/login?notice=logged-out"
    )


async def test_the_account_page_names_each_device_and_keeps_the_header_as_its_title(client):
    chrome = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/126.0.0.0 Safari/537.36"
    )
    await ui_sign_up(client)
    await ui_log_in(client, **{"user-agent": chrome})
    home = await client.get("/ui/")
    assert f'<p class="agent" title="{chrome}">Chrome 126 on Linux</p>' in home.text


async def test_a_hostile_user_agent_is_escaped_in_the_title_and_named_as_unknown(client):
    hostile = 'x" onmouseover="alert(1)"><script>alert(2)</script>'
    await ui_sign_up(client)
    await ui_log_in(client, **{"user-agent": hostile})
    home = await client.get("/ui/")
    assert "<script>alert(2)" not in home.text and 'onmouseover="alert' not in home.text
    assert (
        '<p class="agent" title="x&#34; onmouseover=&#34;alert(1)&#34;&gt;&lt;script&gt;alert(2)'
        '&lt;/script&gt;">Unknown browser</p>'
    ) in home.text
