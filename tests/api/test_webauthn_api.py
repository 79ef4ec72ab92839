"""Security keys and passkeys through the HTTP API (spec: "Second factors: TOTP, recovery codes
and passkeys"), on both stores, with the tests' software authenticator: every WebAuthn route's
statuses, the routes absent when WebAuthn is off, hostile bodies, and no secret in the logs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.api.client import AppClient, log_in, running_client, sign_up
from tests.constants import PASSWORD
from tests.postgres_provider import truncate_all
from tests.service_log import service_log
from tests.webauthn_authenticator import SoftwareAuthenticator, b64url_decode

COOKIE = "session_id"
MFA_COOKIE = "session_id_mfa"
PASSKEY_COOKIE = "session_id_passkey"
RP_ID = "auth.example"
ORIGIN = "https://auth.example"
WEBAUTHN_ON = {"webauthn_rp_id": RP_ID, "webauthn_origins": ORIGIN}


@pytest.fixture(params=["memory", "postgres"])
async def database_url(request):
    if request.param == "memory":
        return None
    url = request.getfixturevalue("migrated_database_url")
    await truncate_all(url)
    return url


@pytest.fixture
async def client(database_url, clock) -> AsyncIterator[AppClient]:
    async with running_client(clock=clock, database_url=database_url, **WEBAUTHN_ON) as client:
        yield client


def set_cookie(response, name: str) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def challenge(options: dict) -> bytes:
    return b64url_decode(options["challenge"])


async def register(
    client: AppClient,
    authenticator: SoftwareAuthenticator,
    reauth: dict | None = None,
    name: str = "Laptop",
):
    """A key registered by the signed-in client; the 201 answer."""
    options = await client.post(
        "/webauthn/register/options", json=reauth or {"current_password": PASSWORD}
    )
    assert options.status_code == 200, options.text
    created = options.json()
    credential = authenticator.register(
        challenge(created), rp_id=RP_ID, origin=ORIGIN, user_id=b64url_decode(created["user"]["id"])
    )
    registered = await client.post(
        "/webauthn/register", json={"credential": credential, "name": name}
    )
    assert registered.status_code == 201, registered.text
    return registered


async def with_key(client: AppClient, username: str = "alice"):
    """`username` signed up and in, with a key: (its authenticator, its recovery codes)."""
    await sign_up(client, username)
    await log_in(client, username)
    authenticator = SoftwareAuthenticator()
    registered = await register(client, authenticator)
    return authenticator, registered.json()["recovery_codes"]


async def passkey_start(client: AppClient):
    start = await client.post("/login/passkey/options")
    assert start.status_code == 200, start.text
    return start


async def test_registering_listing_and_removing_a_key(client):
    await sign_up(client)
    await log_in(client)
    assert (await client.get("/webauthn/credentials")).json() == []
    authenticator = SoftwareAuthenticator()
    registered = await register(client, authenticator, name=" Laptop ")
    body = registered.json()
    assert body["name"] == "Laptop" and body["passkey"] is True and body["last_used_at"] is None
    assert len(body["recovery_codes"]) == 10
    assert set_cookie(registered, COOKIE)  # rotated
    listed = (await client.get("/webauthn/credentials")).json()
    assert [(c["id"], c["name"]) for c in listed] == [(body["id"], "Laptop")]
    assert "recovery_codes" not in listed[0] and "public_key" not in listed[0]
    assert (await client.get("/mfa")).json()["webauthn"][0]["id"] == body["id"]

    # A second key: no new codes; its re-auth needs a factor.
    reauth = {"current_password": PASSWORD, "recovery_code": body["recovery_codes"][0]}
    second = await register(client, SoftwareAuthenticator(), reauth, name="Phone")
    assert "recovery_codes" not in second.json()

    # Removed, with the key itself as the proof.
    options = (await client.post("/reauth/webauthn/options")).json()
    assert len(options["allowCredentials"]) == 2
    assertion = authenticator.assert_(challenge(options), rp_id=RP_ID, origin=ORIGIN)
    removed = await client.request(
        "DELETE",
        f"/webauthn/credentials/{body['id']}",
        json={"current_password": PASSWORD, "webauthn": assertion},
    )
    assert removed.status_code == 204, removed.text
    assert set_cookie(removed, COOKIE)
    assert [c["name"] for c in (await client.get("/webauthn/credentials")).json()] == ["Phone"]


async def test_the_registration_routes_failures(client):
    # 401 without a session, on every route that needs one.
    for method, path in [
        ("POST", "/webauthn/register/options"),
        ("POST", "/webauthn/register"),
        ("GET", "/webauthn/credentials"),
        ("DELETE", "/webauthn/credentials/abc"),
        ("POST", "/reauth/webauthn/options"),
    ]:
        body = {"current_password": PASSWORD, "credential": {"id": "x"}, "name": "x"}
        response = await client.request(method, path, json=None if method == "GET" else body)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json() == {"detail": "Not authenticated"}

    await sign_up(client)
    await log_in(client)
    wrong = await client.post("/webauthn/register/options", json={"current_password": "not it"})
    assert wrong.status_code == 403
    authenticator = SoftwareAuthenticator()
    stray = authenticator.register(b"\x01" * 32, rp_id=RP_ID, origin=ORIGIN, user_id=b"x")
    none = await client.post("/webauthn/register", json={"credential": stray, "name": "Laptop"})
    assert none.status_code == 400 and set(none.json()) == {"detail"}

    options = (
        await client.post("/webauthn/register/options", json={"current_password": PASSWORD})
    ).json()
    evil = authenticator.register(
        challenge(options), rp_id=RP_ID, origin="https://evil.example", user_id=b"x"
    )
    refused = await client.post("/webauthn/register", json={"credential": evil, "name": "Laptop"})
    assert refused.status_code == 400 and "origin" not in refused.text.lower()

    await register(client, authenticator)
    # Now a factor is needed in the re-auth body.
    required = await client.post("/webauthn/register/options", json={"current_password": PASSWORD})
    assert required.status_code == 403 and required.json() == {"detail": "Second factor required"}
    for name in ("\x07bell", "", "x" * 65):
        bad_name = await client.post(
            "/webauthn/register", json={"credential": {"id": "x"}, "name": name}
        )
        assert bad_name.status_code == 422, bad_name.text
        assert bad_name.json()["detail"][0]["loc"][-1] == "name", bad_name.text


async def test_registration_options_are_throttled_with_wrong_passwords(database_url, clock):
    limits = {  # with or without the device cookie: 2 wrong passwords
        "throttle_login_per_address": 2,
        "throttle_login_per_account": 2,
        "throttle_login_per_device": 2,
        **WEBAUTHN_ON,
    }
    async with running_client(clock=clock, database_url=database_url, **limits) as client:
        await sign_up(client)
        await log_in(client)
        for _ in range(2):
            wrong = await client.post(
                "/webauthn/register/options", json={"current_password": "not it"}
            )
            assert wrong.status_code == 403
        throttled = await client.post(
            "/webauthn/register/options", json={"current_password": PASSWORD}
        )
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0


async def test_removing_an_unknown_or_foreign_key_is_404_alike(client):
    await with_key(client, "bob")
    bobs = (await client.get("/webauthn/credentials")).json()[0]["id"]
    client.cookies.clear()
    _, codes = await with_key(client, "alice")
    answers = []
    for target in ("unknown", bobs, "x" * 65):
        body = {"current_password": PASSWORD, "recovery_code": codes.pop()}
        answers.append(await client.request("DELETE", f"/webauthn/credentials/{target}", json=body))
    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1
    wrong = await client.request(
        "DELETE", f"/webauthn/credentials/{bobs}", json={"current_password": "not it"}
    )
    assert wrong.status_code == 403
    no_factor = await client.request(
        "DELETE", f"/webauthn/credentials/{bobs}", json={"current_password": PASSWORD}
    )
    assert no_factor.status_code == 403 and no_factor.json() == {"detail": "Second factor required"}


async def test_a_passkey_signs_in_and_every_failure_is_invalid_credentials(client):
    authenticator, _ = await with_key(client)
    client.cookies.clear()

    start = await passkey_start(client)
    options = start.json()
    assert options.get("allowCredentials") in (None, [])
    assert options["userVerification"] == "required" and options["rpId"] == RP_ID
    cookie = set_cookie(start, PASSKEY_COOKIE).lower()
    assert "httponly" in cookie and "secure" in cookie and "max-age=300" in cookie
    assertion = authenticator.assert_(challenge(options), rp_id=RP_ID, origin=ORIGIN)
    login = await client.post("/login/passkey", json={"credential": assertion})
    assert login.status_code == 200, login.text
    assert login.json()["aal"] == 2 and login.json()["user"]["username"] == "alice"
    assert "max-age=0" in set_cookie(login, PASSKEY_COOKIE).lower()
    assert set_cookie(login, COOKIE)
    [session] = [s for s in (await client.get("/sessions")).json() if s["current"]]
    assert session["aal"] == 2 and session["methods"] == ["passkey"]

    failures = []
    # The same assertion again: its challenge is used up (the cookie is gone, then present).
    failures.append(await client.post("/login/passkey", json={"credential": assertion}))
    replay = {"cookie": f"{PASSKEY_COOKIE}={start.cookies[PASSKEY_COOKIE]}"}
    failures.append(
        await client.post("/login/passkey", json={"credential": assertion}, headers=replay)
    )
    # No user verification.
    authenticator.verifies_user = False
    start = await passkey_start(client)
    unverified = authenticator.assert_(challenge(start.json()), rp_id=RP_ID, origin=ORIGIN)
    failures.append(await client.post("/login/passkey", json={"credential": unverified}))
    authenticator.verifies_user = True
    # Another browser's challenge.
    theirs = (await client.post("/login/passkey/options", headers={"cookie": ""})).json()
    await passkey_start(client)
    other = authenticator.assert_(challenge(theirs), rp_id=RP_ID, origin=ORIGIN)
    failures.append(await client.post("/login/passkey", json={"credential": other}))
    # A key the service does not know, and junk.
    stranger = SoftwareAuthenticator()
    stranger.register(b"\x03" * 32, rp_id=RP_ID, origin=ORIGIN, user_id=b"x")
    start = await passkey_start(client)
    unknown = stranger.assert_(challenge(start.json()), rp_id=RP_ID, origin=ORIGIN)
    failures.append(await client.post("/login/passkey", json={"credential": unknown}))
    await passkey_start(client)
    failures.append(await client.post("/login/passkey", json={"credential": {"id": "!!"}}))
    for failure in failures:
        assert failure.status_code == 401, failure.text
        assert failure.json() == {"detail": "Invalid credentials"}


async def test_passkey_logins_are_throttled_per_address(database_url, clock):
    # Each ceremony started counts, and each failed login: 2 x 2 reach a limit of 4.
    settings = {"throttle_failures_per_address": 4, **WEBAUTHN_ON}
    async with running_client(clock=clock, database_url=database_url, **settings) as client:
        authenticator, _ = await with_key(client)
        client.cookies.clear()
        for _ in range(2):
            await passkey_start(client)
            failed = await client.post("/login/passkey", json={"credential": {"id": "x"}})
            assert failed.status_code == 401
        throttled = await client.post("/login/passkey/options")
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
        assertion = authenticator.assert_(b"\x00" * 32, rp_id=RP_ID, origin=ORIGIN)
        late = await client.post("/login/passkey", json={"credential": assertion})
        assert late.status_code == 429


async def test_the_second_step_with_a_key(client):
    authenticator, _ = await with_key(client)
    client.cookies.delete(COOKIE)
    none = await client.post("/login/mfa/webauthn/options")
    assert none.status_code == 401 and none.json() == {"detail": "Not authenticated"}
    bogus = await client.post("/login/mfa/webauthn/options", headers={"cookie": f"{MFA_COOKIE}=x"})
    assert bogus.status_code == 401

    pending = await client.post("/login", auth=("alice", PASSWORD))
    assert pending.status_code == 202 and "webauthn" in pending.json()["methods"]
    options = await client.post("/login/mfa/webauthn/options")
    assert options.status_code == 200, options.text
    assertion = authenticator.assert_(challenge(options.json()), rp_id=RP_ID, origin=ORIGIN)
    done = await client.post("/login/mfa", json={"webauthn": assertion})
    assert done.status_code == 200, done.text
    assert done.json()["aal"] == 2
    [session] = [s for s in (await client.get("/sessions")).json() if s["current"]]
    assert session["methods"] == ["password", "webauthn"]


async def test_the_routes_are_absent_when_webauthn_is_off(database_url, clock):
    async with running_client(clock=clock, database_url=database_url) as client:
        await sign_up(client)
        await log_in(client)
        for method, path in [
            ("POST", "/webauthn/register/options"),
            ("POST", "/webauthn/register"),
            ("GET", "/webauthn/credentials"),
            ("DELETE", "/webauthn/credentials/abc"),
            ("POST", "/login/passkey/options"),
            ("POST", "/login/passkey"),
            ("POST", "/login/mfa/webauthn/options"),
            ("POST", "/reauth/webauthn/options"),
        ]:
            response = await client.request(method, path)
            assert response.status_code == 404, (method, path, response.status_code)
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert not [p for p in paths if "webauthn" in p or "passkey" in p]
    async with running_client(clock=clock, database_url=database_url, **WEBAUTHN_ON) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert "/login/passkey" in paths and "/webauthn/credentials/{credential_id}" in paths


MEGABYTE = "a" * (1 << 20)
HOSTILE_CREDENTIALS = [
    None,
    "a string",
    [],
    123,
    {},
    {"id": MEGABYTE},
    {"id": "***", "rawId": "%%%", "type": "public-key", "response": {"clientDataJSON": "@@"}},
    {"id": "AA", "rawId": "AA", "type": "public-key", "response": {"attestationObject": "AA"}},
    {"id": 1, "rawId": None, "type": [], "response": "no"},
    {f"k{i}": i for i in range(17)},
    {str(i): i for i in range(10000)},
]
HOSTILE_IDS = [
    "null",
    "string",
    "list",
    "number",
    "empty",
    "1MB",
    "base64 junk",
    "short",
    "types",
    "17 keys",
    "10000 keys",
]


@pytest.mark.parametrize("credential", HOSTILE_CREDENTIALS, ids=HOSTILE_IDS)
async def test_hostile_registrations_are_4xx_json(client, credential):
    await sign_up(client)
    await log_in(client)
    await client.post("/webauthn/register/options", json={"current_password": PASSWORD})
    response = await client.post("/webauthn/register", json={"credential": credential, "name": "k"})
    assert 400 <= response.status_code < 500, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize("credential", HOSTILE_CREDENTIALS, ids=HOSTILE_IDS)
async def test_hostile_passkey_logins_are_4xx_json(client, credential):
    await passkey_start(client)
    response = await client.post("/login/passkey", json={"credential": credential})
    assert 400 <= response.status_code < 500, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"credential": {}},
        {"name": "x"},
        {"credential": {"id": "x"}, "name": MEGABYTE},
        {"credential": {"id": "x"}, "name": 5},
        {"credential": {"id": "x"}, "name": "x" * 257},
        "not an object",
    ],
    ids=["empty", "no name", "no credential", "1MB name", "number name", "257 name", "string"],
)
async def test_hostile_registration_bodies_are_4xx_json(client, body):
    await sign_up(client)
    await log_in(client)
    response = await client.post("/webauthn/register", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert "detail" in response.json()


async def test_hostile_reauth_webauthn_proofs_are_4xx_json(client):
    await with_key(client)
    for proof in ({"id": "x"}, {str(i): i for i in range(10000)}, "junk", {"id": MEGABYTE}):
        await client.post("/reauth/webauthn/options")
        response = await client.request(
            "DELETE",
            "/webauthn/credentials/whatever",
            json={"current_password": PASSWORD, "webauthn": proof},
        )
        assert 400 <= response.status_code < 500, response.text
        assert "detail" in response.json()


async def test_no_secret_in_logs_or_answers(database_url, clock):
    with service_log(level="debug") as stream:
        async with running_client(clock=clock, database_url=database_url, **WEBAUTHN_ON) as client:
            authenticator, codes = await with_key(client)
            session = client.cookies[COOKIE]
            client.cookies.clear()
            start = await passkey_start(client)
            passkey_key = client.cookies[PASSKEY_COOKIE]
            assertion = authenticator.assert_(challenge(start.json()), rp_id=RP_ID, origin=ORIGIN)
            login = await client.post("/login/passkey", json={"credential": assertion})
            assert login.status_code == 200
            new_session = client.cookies[COOKIE]
            replay = await client.post(
                "/login/passkey",
                json={"credential": assertion},
                headers={"cookie": f"{PASSKEY_COOKIE}={passkey_key}"},
            )
            assert replay.status_code == 401
            assert passkey_key not in login.text and new_session not in login.text
    log = stream.getvalue()
    assert "factor_enrolled" in log and "factor_used" in log and "login_failed" in log
    secrets = [session, passkey_key, new_session, PASSWORD, *codes]
    secrets += [assertion["response"]["signature"], start.json()["challenge"]]
    for secret in secrets:
        assert secret not in log
