"""The assurance level in answers (spec: "Assurance level"): the login answer and every
`GET /sessions` item carry `aal` (and the items `methods`); `GET /auth/verify` adds `X-Auth-AAL`,
and `?aal=2` refuses a valid session of level 1 with 403 "Second factor required". On both
stores, through the fast path and through the full stack (which must answer alike)."""

import secrets
import uuid
from datetime import timedelta

import pytest

from domain.session import AuthMethod, Session, hash_token
from tests.api.client import log_in, running_client, sign_up
from tests.fakes import FakeClock
from tests.postgres_provider import truncate_all

TOTP = AuthMethod.PASSWORD | AuthMethod.TOTP
SECOND_FACTOR_REQUIRED = {"detail": "Second factor required"}


@pytest.fixture(params=["memory", "postgres"])
def database_url(request):
    if request.param == "memory":
        return None
    return request.getfixturevalue("migrated_database_url")


@pytest.fixture(params=[True, False], ids=["fast-path", "full-stack"])
async def client(request, database_url):
    if database_url is not None:
        await truncate_all(database_url)
    clock = FakeClock()
    async with running_client(clock=clock, fast_path=request.param, database_url=database_url) as c:
        c.clock = clock
        yield c


async def session_with(client, methods: AuthMethod, username="alice") -> str:
    """A session of the user reached by `methods`, stored as a login would store it (the second
    step's routes come with the factor flow; the level travels with the stored session)."""
    store = client.app.state.container.store()
    user = await store.users.get_by_username(username)
    token = secrets.token_urlsafe(32)
    now = client.clock.now()
    session = Session(
        id=str(uuid.uuid4()),
        user_id=user.id,
        token_hash=hash_token(token),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=8),
        user_agent="second device",
        methods=methods,
    )
    assert await store.sessions.add(session, password_hash=user.password_hash)
    return token


def as_(token):
    return {"cookie": f"session_id={token}"}


async def test_a_password_login_answers_level_one(client):
    await sign_up(client)
    assert (await log_in(client)).json()["aal"] == 1


async def test_sessions_list_each_ones_level_and_methods(client):
    await sign_up(client)
    password_only = (await log_in(client)).cookies["session_id"]
    client.cookies.clear()
    client.clock.advance(seconds=1)
    with_totp = await session_with(client, TOTP)

    listed = (await client.get("/sessions", headers=as_(password_only))).json()

    by_device = {s["user_agent"]: s for s in listed}
    assert by_device["second device"]["aal"] == 2
    assert by_device["second device"]["methods"] == ["password", "totp"]
    current = next(s for s in listed if s["current"])
    assert (current["aal"], current["methods"]) == (1, ["password"])
    await session_with(client, AuthMethod.PASSKEY)
    listed = (await client.get("/sessions", headers=as_(with_totp))).json()
    assert sorted((s["aal"], tuple(s["methods"])) for s in listed) == [
        (1, ("password",)),
        (2, ("passkey",)),
        (2, ("password", "totp")),
    ]


async def test_verify_tells_the_level_and_aal_2_refuses_a_level_one_session(client):
    await sign_up(client)
    level_one = (await log_in(client)).cookies["session_id"]
    client.cookies.clear()
    level_two = await session_with(client, TOTP)

    plain = await client.get("/auth/verify", headers=as_(level_one))
    assert plain.status_code == 200 and plain.headers["x-auth-aal"] == "1"
    assert (await client.get("/auth/verify?aal=1", headers=as_(level_one))).status_code == 200

    refused = await client.get("/auth/verify?aal=2", headers=as_(level_one))
    assert refused.status_code == 403
    assert refused.json() == SECOND_FACTOR_REQUIRED
    assert refused.headers["x-auth-aal"] == "1"  # how a proxy tells it from the cross-site 403
    assert "x-auth-user-id" not in refused.headers
    assert "set-cookie" not in refused.headers  # the session is fine: the cookie stays

    for query in ("", "?aal=1", "?aal=2", "?aal=1&aal=2", "?other=x&aal=2"):
        allowed = await client.get(f"/auth/verify{query}", headers=as_(level_two))
        assert allowed.status_code == 200, query
        assert allowed.headers["x-auth-aal"] == "2"
        assert allowed.headers["x-auth-user-id"]
    # Repeated, the last one counts (as Starlette reads a query parameter).
    assert (await client.get("/auth/verify?aal=2&aal=1", headers=as_(level_one))).status_code == 200
    assert (await client.get("/auth/verify?aal=1&aal=2", headers=as_(level_one))).status_code == 403


async def test_without_a_valid_session_aal_2_still_answers_401(client):
    assert (await client.get("/auth/verify?aal=2")).status_code == 401
    bogus = (await client.get("/auth/verify?aal=2", headers=as_("x" * 43))).status_code
    assert bogus == 401


@pytest.mark.parametrize("value", ["3", "0", "two", "", "-1"])
async def test_any_other_aal_is_a_422_naming_the_parameter(client, value):
    await sign_up(client)
    token = (await log_in(client)).cookies["session_id"]
    response = await client.get(f"/auth/verify?aal={value}", headers=as_(token))
    assert response.status_code == 422
    [issue] = response.json()["detail"]
    assert issue["loc"] == ["query", "aal"]
