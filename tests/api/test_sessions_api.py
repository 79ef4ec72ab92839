"""GET/DELETE /sessions and POST /password over HTTP."""

import re

import pytest

from tests.api.client import log_in, running_client, sign_up
from tests.api.responses import ISO_Z, set_cookie_attributes
from tests.constants import PASSWORD

NEW_PASSWORD = "a brand new passphrase"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def token_of(client, username="alice", user_agent="phone"):
    """Log in as a separate device would: no cookie sent, the token kept out of the jar."""
    client.cookies.clear()
    response = await client.post(
        "/login", auth=(username, PASSWORD), headers={"user-agent": user_agent}
    )
    client.cookies.clear()
    return set_cookie_attributes(response)["value"]


async def own_session_id(client, token):
    return next(
        s["id"] for s in (await client.get("/sessions", headers=as_(token))).json() if s["current"]
    )


@pytest.fixture
async def alice(client):
    await sign_up(client)
    return await token_of(client, user_agent="laptop")


def as_(token):
    return {"cookie": f"session_id={token}"}


async def test_sessions_lists_public_ids_newest_first_with_the_current_marked(client, clock, alice):
    clock.advance(seconds=1)
    phone = await token_of(client)
    response = await client.get("/sessions", headers=as_(alice))

    assert response.status_code == 200
    listed = response.json()
    assert [s["user_agent"] for s in listed] == ["phone", "laptop"]
    assert [s["current"] for s in listed] == [False, True]
    for s in listed:
        assert set(s) == {
            "id",
            "created_at",
            "last_seen_at",
            "expires_at",
            "idle_expires_at",
            "user_agent",
            "device",
            "ip",
            "current",
            "aal",
            "methods",
        }
        assert UUID.fullmatch(s["id"]) and s["ip"] == "192.0.2.10"
        assert all(
            ISO_Z.fullmatch(s[k])
            for k in ("created_at", "last_seen_at", "expires_at", "idle_expires_at")
        )
    assert alice not in response.text and phone not in response.text
    assert response.headers["cache-control"] == "no-store"


async def test_delete_one_session(client, alice):
    phone = await token_of(client)
    phone_id = await own_session_id(client, phone)

    response = await client.delete(f"/sessions/{phone_id}", headers=as_(alice))
    assert response.status_code == 204 and response.content == b""
    assert "set-cookie" not in response.headers
    assert (await client.get("/getusers/me", headers=as_(phone))).status_code == 401
    assert (await client.get("/getusers/me", headers=as_(alice))).status_code == 200


async def test_deleting_the_current_session_expires_the_cookie(client, alice):
    own_id = await own_session_id(client, alice)
    response = await client.delete(f"/sessions/{own_id}", headers=as_(alice))
    assert response.status_code == 204
    assert set_cookie_attributes(response)["max-age"] == "0"
    assert (await client.get("/getusers/me", headers=as_(alice))).status_code == 401


async def test_unknown_foreign_and_revoked_ids_all_get_the_same_404(client, alice):
    phone = await token_of(client)
    phone_id = await own_session_id(client, phone)
    await client.delete(f"/sessions/{phone_id}", headers=as_(alice))
    await sign_up(client, "bob")
    bob = await token_of(client, "bob")
    bob_id = await own_session_id(client, bob)

    answers = [
        await client.delete(f"/sessions/{session_id}", headers=as_(alice))
        for session_id in (
            phone_id,
            bob_id,
            "00000000-0000-0000-0000-000000000000",
            "not-a-uuid",
            "%00",
        )
    ]
    assert {(r.status_code, r.text) for r in answers} == {(404, '{"detail":"Session not found"}')}
    assert (await client.get("/getusers/me", headers=as_(bob))).status_code == 200


async def test_delete_all_other_sessions(client, alice):
    phones = [await token_of(client) for _ in range(2)]
    response = await client.delete("/sessions", headers=as_(alice))
    assert response.status_code == 200 and response.json() == {"revoked": 2}
    for phone in phones:
        assert (await client.get("/getusers/me", headers=as_(phone))).status_code == 401
    assert len((await client.get("/sessions", headers=as_(alice))).json()) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/sessions"),
        ("DELETE", "/sessions"),
        ("DELETE", "/sessions/x"),
        ("POST", "/password"),
    ],
)
async def test_session_management_needs_a_session(client, method, path):
    response = await client.request(method, path, headers=as_("a" * 43))
    assert response.status_code == 401
    assert set_cookie_attributes(response)["max-age"] == "0"


async def test_password_change_rotates_the_cookie_and_ends_other_sessions(client, alice):
    phone = await token_of(client)
    response = await client.post(
        "/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=as_(alice),
    )
    assert response.status_code == 200 and set(response.json()) == {"message"}
    cookie = set_cookie_attributes(response)
    assert cookie["value"] != alice and "httponly" in cookie and "secure" in cookie
    assert 0 < int(cookie["max-age"]) <= 28800
    assert NEW_PASSWORD not in response.text and PASSWORD not in response.text

    for old in (alice, phone):
        assert (await client.get("/getusers/me", headers=as_(old))).status_code == 401
    assert (await client.get("/getusers/me", headers=as_(cookie["value"]))).status_code == 200
    client.cookies.clear()
    assert (await client.post("/login", auth=("alice", PASSWORD))).status_code == 401
    assert (await client.post("/login", auth=("alice", NEW_PASSWORD))).status_code == 200


async def test_a_wrong_current_password_is_403(client, alice):
    response = await client.post(
        "/password",
        json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
        headers=as_(alice),
    )
    assert response.status_code == 403 and response.json() == {
        "detail": "Current password is wrong"
    }
    assert (await client.get("/getusers/me", headers=as_(alice))).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"current_password": PASSWORD, "new_password": "password123"}, "new_password"),
        ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
        ({"current_password": PASSWORD}, "new_password"),
        ({"current_password": 5, "new_password": NEW_PASSWORD}, "current_password"),
    ],
)
async def test_an_invalid_new_password_or_body_is_422(client, alice, body, field):
    response = await client.post("/password", json=body, headers=as_(alice))
    assert response.status_code == 422
    assert [issue["loc"] for issue in response.json()["detail"]] == [["body", field]]
    assert PASSWORD not in response.text


async def test_wrong_current_passwords_are_throttled_with_logins():
    async with running_client(throttle_login_per_address=2) as client:
        await sign_up(client)
        token = set_cookie_attributes(await log_in(client))["value"]
        client.cookies.clear()
        for _ in range(2):
            response = await client.post(
                "/password",
                json={"current_password": "wrong one!", "new_password": NEW_PASSWORD},
                headers=as_(token),
            )
            assert response.status_code == 403
        throttled = await client.post(
            "/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=as_(token),
        )
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
        assert (await client.post("/login", auth=("alice", PASSWORD))).status_code == 429


async def test_sessions_name_the_device_beside_the_raw_header(client, alice):
    firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
    await token_of(client, user_agent=firefox)
    listed = (await client.get("/sessions", headers=as_(alice))).json()
    assert {(s["user_agent"], s["device"]) for s in listed} == {
        (firefox, "Firefox 128 on Windows"),
        ("laptop", "Unknown browser"),
    }
