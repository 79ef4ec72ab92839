"""Login failures: one answer for every way credentials can be wrong."""

import base64

import pytest

from tests.api.client import sign_up
from tests.constants import PASSWORD

CHALLENGE = 'Basic realm="sessionauth", charset="UTF-8"'


def comparable(response):
    # The request id is made anew for each request, whatever its outcome.
    headers = {
        k: v
        for k, v in response.headers.items()
        if k not in ("date", "content-length", "x-request-id")
    }
    return response.status_code, response.content, headers


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("bob", PASSWORD),  # unknown user
        ("alice", "not the password"),  # wrong password
        ("a b", PASSWORD),  # breaks the username rules
        ("аlice", PASSWORD),  # mixed-script look-alike
        ("alice", "x" * 1025),  # over the length limit
    ],
)
async def test_every_bad_credential_gets_the_same_basic_answer(client, username, password):
    await sign_up(client)
    reference = await client.post("/login", auth=("alice", "wrong password"))
    response = await client.post("/login", auth=(username, password))

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid credentials"}
    assert response.headers["www-authenticate"] == CHALLENGE
    assert comparable(response) == comparable(reference)


async def test_json_login_failures_carry_no_basic_challenge(client):
    await sign_up(client)
    wrong = await client.post("/login", json={"username": "alice", "password": "wrong password"})
    unknown = await client.post("/login", json={"username": "nobody", "password": "wrong password"})
    assert wrong.status_code == unknown.status_code == 401
    assert "www-authenticate" not in wrong.headers
    assert comparable(wrong) == comparable(unknown)


async def test_a_request_without_credentials_is_challenged(client):
    response = await client.post("/login")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE


def basic(raw: bytes) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Basic"},
        {"authorization": "Basic !!!notbase64!!!"},
        {"authorization": "Basic YWxpY2U"},  # bad padding
        basic(b"no-colon-here"),
        basic(b"alice:\xff\xfe not utf-8"),
        {"authorization": "Bearer abc.def.ghi"},
        {"authorization": "Digest username=alice"},
    ],
    ids=["empty", "not-base64", "bad-padding", "no-colon", "not-utf8", "bearer", "digest"],
)
async def test_a_malformed_authorization_header_is_400(client, headers):
    response = await client.post("/login", headers=headers)
    assert response.status_code == 400
    assert isinstance(response.json()["detail"], str)
