"""Cookie settings, expiry through HTTP, and what every response carries."""

import pytest

from entrypoints.container import build_container
from entrypoints.settings import ConfigError, load_settings
from tests.api.client import log_in, sign_up
from tests.api.responses import set_cookie_attributes
from tests.constants import FAST_ARGON2, PASSWORD


async def test_cookie_settings_shape_the_cookie(make_client):
    async with make_client(
        session_cookie_name="sid",
        session_cookie_secure=False,
        session_cookie_samesite="strict",
        session_cookie_domain="example.com",
        session_idle_timeout=60,  # never longer than the absolute timeout
        session_absolute_timeout=120,
    ) as client:
        await sign_up(client)
        cookie = set_cookie_attributes(await log_in(client), name="sid")
    assert "secure" not in cookie and "httponly" in cookie
    assert cookie["samesite"].lower() == "strict"
    assert cookie["domain"] == "example.com"
    assert cookie["max-age"] == "120"


async def test_a_host_prefixed_cookie_works(make_client):
    async with make_client(session_cookie_name="__Host-sid") as client:
        await sign_up(client)
        cookie = set_cookie_attributes(await log_in(client), name="__Host-sid")
        assert "secure" in cookie and cookie["path"] == "/" and "domain" not in cookie
        assert (await client.get("/getusers/me")).status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [
        {"session_cookie_name": "__Host-sid", "session_cookie_secure": False},
        {"session_cookie_name": "__Host-sid", "session_cookie_domain": "example.com"},
    ],
)
def test_a_host_prefixed_cookie_with_broken_rules_is_refused(overrides):
    with pytest.raises(ConfigError, match="SESSION_COOKIE_NAME"):
        load_settings(**overrides)


async def test_idle_expiry_through_http_expires_the_cookie(make_client, clock):
    async with make_client(clock=clock, session_idle_timeout=60) as client:
        await sign_up(client)
        await log_in(client)
        clock.advance(seconds=59)
        assert (await client.get("/protected")).status_code == 200
        clock.advance(seconds=60)
        response = await client.get("/protected")
        assert response.status_code == 401 and response.json() == {"detail": "Session expired"}
        assert set_cookie_attributes(response)["max-age"] == "0"


async def test_absolute_expiry_through_http(make_client, clock):
    async with make_client(
        clock=clock, session_idle_timeout=60, session_absolute_timeout=100
    ) as client:
        await sign_up(client)
        login = (await log_in(client)).json()
        for _ in range(3):
            clock.advance(seconds=33)
            assert (await client.get("/protected")).status_code == 200
        clock.advance(seconds=1)  # 100 s after login
        assert (await client.get("/protected")).status_code == 401
    assert login["expires_at"] == "2026-01-01T00:01:40Z"
    assert login["idle_expires_at"] == "2026-01-01T00:01:00Z"


async def test_every_response_has_nosniff_and_no_store(client):
    responses = [
        await client.get("/healthz"),
        await client.get("/nope"),
        await client.post("/signup", content=b"x" * 70_000),
        await client.post("/login"),
        await client.get("/getusers/me"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"


async def test_openapi_describes_cookie_and_basic_security_and_common_answers(client):
    document = (await client.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["sessionCookie"] == {"type": "apiKey", "in": "cookie", "name": "session_id"}
    assert schemes["basicAuth"]["scheme"] == "basic"
    paths = document["paths"]
    assert {"sessionCookie": []} in paths["/getusers/me"]["get"]["security"]
    assert {"basicAuth": []} in paths["/login"]["post"]["security"]
    for path in ("/signup", "/login", "/getusers/me", "/protected", "/logout"):
        for operation in paths[path].values():
            assert {"400", "403", "413", "503"} <= set(operation["responses"]), path
    assert "401" in paths["/login"]["post"]["responses"]
    assert "409" in paths["/signup"]["post"]["responses"]


async def test_no_response_contains_the_password_or_token(client):
    bodies = [(await client.post("/signup", json={"username": "alice", "password": PASSWORD})).text]
    login = await client.post("/login", auth=("alice", PASSWORD))
    token = set_cookie_attributes(login)["value"]
    bodies += [
        login.text,
        (await client.get("/getusers/me")).text,
        (await client.get("/protected")).text,
    ]
    bodies += [(await client.post("/logout")).text]
    for body in bodies:
        assert PASSWORD not in body and token not in body and "$argon2" not in body


@pytest.mark.parametrize(("value", "share"), [(None, 4), ("", 4), ("3", 3), ("0", 16)])
def test_the_hashing_share_per_address_defaults_to_a_quarter_of_the_queue(value, share):
    overrides = {} if value is None else {"hash_share_per_address": value}
    settings = load_settings(
        database_url=None, hash_concurrency=2, hash_queue_size=14, **FAST_ARGON2, **overrides
    )
    hasher = build_container(settings).hasher()
    try:
        assert hasher._per_owner == share  # 0: no cap, any address may take all 16 places
    finally:
        hasher.close()


def test_failures_per_address_across_accounts_default_to_100():
    assert (
        build_container(load_settings(database_url=None)).throttle_policy().failures_per_address
        == 100
    )
    policy = build_container(
        load_settings(database_url=None, throttle_failures_per_address="0")
    ).throttle_policy()
    assert policy.failures_per_address == 0
