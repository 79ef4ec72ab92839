"""DELETE /account over HTTP: users delete their own account with the current password."""

import pytest

from tests.api.client import running_client, sign_up
from tests.api.responses import set_cookie_attributes
from tests.constants import PASSWORD
from tests.postgres_provider import truncate_all


async def token_of(client, username="alice"):
    """Log in as a separate device would: no cookie sent, the token kept out of the jar."""
    client.cookies.clear()
    response = await client.post("/login", auth=(username, PASSWORD))
    client.cookies.clear()
    return set_cookie_attributes(response)["value"]


def as_(token):
    return {"cookie": f"session_id={token}"}


async def delete_account(client, token, body):
    return await client.request("DELETE", "/account", json=body, headers=as_(token))


@pytest.fixture
async def alice(client):
    await sign_up(client)
    return await token_of(client)


async def test_deleting_the_account_answers_204_expires_the_cookie_and_ends_every_session(
    client, alice
):
    other_device = await token_of(client)
    response = await delete_account(client, alice, {"current_password": PASSWORD})
    assert response.status_code == 204 and response.content == b""
    cookie = set_cookie_attributes(response)
    assert cookie["max-age"] == "0" and cookie["value"] in ("", '""')
    assert response.headers["cache-control"] == "no-store"
    for token in (alice, other_device):
        assert (await client.get("/getusers/me", headers=as_(token))).status_code == 401
    login = await client.post("/login", auth=("alice", PASSWORD))
    assert login.status_code == 401 and login.json() == {"detail": "Invalid credentials"}
    # the name is free again
    assert (
        await client.post("/signup", json={"username": "alice", "password": PASSWORD})
    ).status_code == 201


async def test_a_wrong_current_password_is_403_and_deletes_nothing(client, alice):
    response = await delete_account(client, alice, {"current_password": "not it at all"})
    assert response.status_code == 403
    assert response.json() == {"detail": "Current password is wrong"}
    assert "set-cookie" not in response.headers
    assert (await client.get("/getusers/me", headers=as_(alice))).status_code == 200


async def test_wrong_current_passwords_are_throttled_with_logins():
    async with running_client(throttle_login_per_address=2) as client:
        await sign_up(client)
        token = await token_of(client)
        for _ in range(2):
            wrong = await delete_account(client, token, {"current_password": "wrong one!"})
            assert wrong.status_code == 403
        throttled = await delete_account(client, token, {"current_password": PASSWORD})
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
        assert (await client.post("/login", auth=("alice", PASSWORD))).status_code == 429
        assert (await client.get("/getusers/me", headers=as_(token))).status_code == 200


@pytest.mark.parametrize("token", [None, "x" * 43], ids=["no cookie", "unknown cookie"])
async def test_without_a_valid_session_it_is_401(client, alice, token):
    headers = {} if token is None else as_(token)
    response = await client.request(
        "DELETE", "/account", json={"current_password": PASSWORD}, headers=headers
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}
    assert (await client.get("/getusers/me", headers=as_(alice))).status_code == 200


@pytest.mark.parametrize(
    "body", [{}, {"current_password": 5}, {"current_password": None}, ["x"], "x"]
)
async def test_a_malformed_body_is_422_naming_the_field(client, alice, body):
    response = await delete_account(client, alice, body)
    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert set(issue) == {"loc", "msg", "type"} and issue["loc"][0] == "body"
    assert (await client.get("/getusers/me", headers=as_(alice))).status_code == 200


async def test_a_cross_site_delete_is_refused(client, alice):
    response = await client.request(
        "DELETE",
        "/account",
        json={"current_password": PASSWORD},
        headers={**as_(alice), "origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert (await client.get("/getusers/me", headers=as_(alice))).status_code == 200


async def test_the_deletion_is_audited_and_counted(client, alice):
    await delete_account(client, alice, {"current_password": "wrong one!"})
    await delete_account(client, alice, {"current_password": PASSWORD})
    metrics = (await client.get("/metrics")).text
    assert 'sessionauth_account_deletions_total{outcome="invalid"} 1.0' in metrics
    assert 'sessionauth_account_deletions_total{outcome="success"} 1.0' in metrics
    assert 'sessionauth_sessions_revoked_total{scope="deleted"} 1.0' in metrics


async def test_the_openapi_document_describes_it(client):
    operation = (await client.get("/openapi.json")).json()["paths"]["/account"]["delete"]
    assert {"204", "401", "403", "422", "429"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].endswith("/AccountDeletion")


async def test_on_postgres_with_the_session_cache_the_account_and_its_sessions_go(
    migrated_database_url,
):
    await truncate_all(migrated_database_url)
    async with running_client(database_url=migrated_database_url, session_cache=True) as client:
        await sign_up(client)
        token, other_device = await token_of(client), await token_of(client)
        for _ in range(2):  # cached now
            assert (await client.get("/getusers/me", headers=as_(other_device))).status_code == 200
        response = await delete_account(client, token, {"current_password": PASSWORD})
        assert response.status_code == 204
        for gone in (token, other_device):
            assert (await client.get("/getusers/me", headers=as_(gone))).status_code == 401
        assert (await client.post("/login", auth=("alice", PASSWORD))).status_code == 401
