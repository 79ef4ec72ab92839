"""Second factors through the HTTP API (spec: "Second factors: TOTP, recovery codes and
passkeys"): the two-step login, TOTP set-up and removal, recovery codes, re-auth bodies, a reset
with a factor; every failure status of these endpoints, hostile input, and no secret in a log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pyotp
import pytest

from domain.mail import MailKind
from tests.api.client import AppClient, log_in, running_client, sign_up
from tests.constants import PASSWORD
from tests.fakes import FakeClock
from tests.mail_links import last_token
from tests.postgres_provider import truncate_all
from tests.service_log import service_log

COOKIE = "session_id"
MFA_COOKIE = "session_id_mfa"
MAIL_ON = {"mail_url": "console:", "public_url": "https://auth.example"}
STEP = timedelta(seconds=30)


@pytest.fixture(params=["memory", "postgres"])
async def database_url(request):
    if request.param == "memory":
        return None
    url = request.getfixturevalue("migrated_database_url")
    await truncate_all(url)
    return url


@pytest.fixture
async def client(database_url, clock) -> AsyncIterator[AppClient]:
    async with running_client(clock=clock, database_url=database_url) as client:
        yield client


class Totp:
    def __init__(self, secret: str, clock: FakeClock) -> None:
        self.totp = pyotp.TOTP(secret)
        self.clock = clock

    def code(self, offset: int = 0) -> str:
        return self.totp.at(self.clock.now() + offset * STEP)


async def enrol(client: AppClient, clock: FakeClock) -> tuple[Totp, list[str]]:
    """Alice signed up, logged in, TOTP active; the clock a step past the enrolment's code."""
    await sign_up(client)
    await log_in(client)
    started = await client.post("/mfa/totp", json={"current_password": PASSWORD})
    assert started.status_code == 200, started.text
    totp = Totp(started.json()["secret"], clock)
    confirmed = await client.post("/mfa/totp/confirm", json={"code": totp.code()})
    assert confirmed.status_code == 200, confirmed.text
    clock.advance(seconds=30)
    return totp, confirmed.json()["recovery_codes"]


async def pend(client: AppClient) -> None:
    client.cookies.delete(COOKIE)
    response = await client.post("/login", auth=("alice", PASSWORD))
    assert response.status_code == 202, response.text
    assert response.json() == {
        "message": "Second factor required",
        "methods": ["totp", "recovery_code"],
    }


def set_cookie(response, name: str) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


async def test_the_whole_flow(client, clock):
    totp, codes = await enrol(client, clock)
    assert len(codes) == 10
    factors = await client.get("/mfa")
    assert factors.json() == {"totp": True, "webauthn": [], "recovery_codes_left": 10}

    client.cookies.delete(COOKIE)
    login = await client.post("/login", auth=("alice", PASSWORD))
    assert login.status_code == 202
    pending = set_cookie(login, MFA_COOKIE).lower()
    assert "httponly" in pending and "max-age=300" in pending and "secure" in pending
    assert not any(h.startswith(f"{COOKIE}=") for h in login.headers.get_list("set-cookie"))
    assert (await client.get("/getusers/me")).status_code == 401

    second = await client.post("/login/mfa", json={"code": totp.code()})
    assert second.status_code == 200, second.text
    assert second.json()["aal"] == 2 and second.json()["user"]["username"] == "alice"
    assert "max-age=0" in set_cookie(second, MFA_COOKIE).lower()
    assert set_cookie(second, COOKIE)
    assert (await client.get("/getusers/me")).status_code == 200

    # The recovery codes: renewed with a re-auth body, the old set dead.
    clock.advance(seconds=30)
    renewed = await client.post(
        "/mfa/recovery-codes", json={"current_password": PASSWORD, "code": totp.code()}
    )
    assert renewed.status_code == 200, renewed.text
    assert set_cookie(renewed, COOKIE)  # rotated
    assert (await client.get("/getusers/me")).status_code == 200
    fresh = renewed.json()["recovery_codes"]
    assert len(fresh) == 10 and set(fresh).isdisjoint(codes)

    await pend(client)
    assert (await client.post("/login/mfa", json={"recovery_code": codes[0]})).status_code == 401
    used = await client.post("/login/mfa", json={"recovery_code": fresh[0]})
    assert used.status_code == 200 and used.json()["aal"] == 2

    # Removing TOTP: the login is one step again.
    clock.advance(seconds=30)
    removed = await client.request(
        "DELETE", "/mfa/totp", json={"current_password": PASSWORD, "code": totp.code()}
    )
    assert removed.status_code == 204, removed.text
    assert set_cookie(removed, COOKIE)
    assert (await client.get("/mfa")).json() == {
        "totp": False,
        "webauthn": [],
        "recovery_codes_left": 0,
    }
    client.cookies.delete(COOKIE)
    again = await client.post("/login", auth=("alice", PASSWORD))
    assert again.status_code == 200 and again.json()["aal"] == 1


async def test_enrolling_ends_the_other_sessions(client, clock):
    await sign_up(client)
    other = (await log_in(client)).cookies[COOKIE]
    client.cookies.delete(COOKIE)
    await log_in(client)
    assert len((await client.get("/sessions")).json()) == 2
    await enrol_existing(client, clock)
    assert (await client.get("/getusers/me")).status_code == 200  # the rotated cookie
    assert len((await client.get("/sessions")).json()) == 1
    client.cookies.delete(COOKIE)
    response = await client.get("/getusers/me", headers={"cookie": f"{COOKIE}={other}"})
    assert response.status_code == 401


async def enrol_existing(client: AppClient, clock: FakeClock) -> Totp:
    started = await client.post("/mfa/totp", json={"current_password": PASSWORD})
    totp = Totp(started.json()["secret"], clock)
    assert (await client.post("/mfa/totp/confirm", json={"code": totp.code()})).status_code == 200
    clock.advance(seconds=30)
    return totp


async def test_the_failures_of_each_endpoint(client, clock):
    await sign_up(client)
    await log_in(client)
    assert (await client.post("/mfa/totp/confirm", json={"code": "123456"})).json() == {
        "detail": "No TOTP set-up pending"
    }
    no_codes = await client.post("/mfa/recovery-codes", json={"current_password": PASSWORD})
    assert no_codes.status_code == 409
    no_totp = await client.request("DELETE", "/mfa/totp", json={"current_password": PASSWORD})
    assert no_totp.status_code == 404
    wrong_password = await client.post("/mfa/totp", json={"current_password": "not it"})
    assert wrong_password.status_code == 403

    started = await client.post("/mfa/totp", json={"current_password": PASSWORD})
    totp = Totp(started.json()["secret"], clock)
    wrong = await client.post("/mfa/totp/confirm", json={"code": totp.code(3)})
    assert wrong.status_code == 422
    assert wrong.json() == {
        "detail": [{"loc": ["body", "code"], "msg": "Wrong code", "type": "wrong_code"}]
    }
    assert (await client.post("/mfa/totp/confirm", json={"code": totp.code()})).status_code == 200
    clock.advance(seconds=30)

    again = await client.post("/mfa/totp", json={"current_password": PASSWORD, "code": totp.code()})
    assert again.status_code == 409
    required = await client.post("/mfa/recovery-codes", json={"current_password": PASSWORD})
    assert required.status_code == 403 and required.json() == {"detail": "Second factor required"}
    bad = await client.post(
        "/mfa/recovery-codes", json={"current_password": PASSWORD, "code": totp.code(5)}
    )
    assert bad.status_code == 403 and bad.json() == {"detail": "Second factor is wrong"}

    # The second step.
    client.cookies.delete(COOKIE)
    none = await client.post("/login/mfa", json={"code": totp.code()})
    assert none.status_code == 401 and none.json() == {"detail": "Not authenticated"}
    await pend(client)
    invalid = await client.post("/login/mfa", json={"code": totp.code(5)})
    assert invalid.status_code == 401 and invalid.json() == {"detail": "Invalid code"}
    assert (await client.get("/mfa")).status_code == 401
    assert (await client.post("/mfa/totp", json={"current_password": PASSWORD})).status_code == 401


async def test_the_pending_login_ends_after_five_failures_and_its_ttl(client, clock):
    totp, _ = await enrol(client, clock)
    await pend(client)
    for _ in range(5):
        response = await client.post("/login/mfa", json={"code": "abcdef"})
        assert response.status_code == 401 and response.json()["detail"] == "Invalid code"
    gone = await client.post("/login/mfa", json={"code": totp.code()})
    assert gone.json() == {"detail": "Not authenticated"}
    assert "max-age=0" in set_cookie(gone, MFA_COOKIE).lower()

    await pend(client)
    clock.advance(seconds=300)
    late = await client.post("/login/mfa", json={"code": totp.code()})
    assert late.json() == {"detail": "Not authenticated"}


async def test_the_second_step_is_throttled_with_the_password(database_url, clock):
    limits = {  # with or without the device cookie, 3 failures of the account
        "throttle_login_per_address": 3,
        "throttle_login_per_account": 3,
        "throttle_login_per_device": 3,
    }
    async with running_client(clock=clock, database_url=database_url, **limits) as client:
        totp, _ = await enrol(client, clock)
        await pend(client)
        for _ in range(2):
            assert (await client.post("/login/mfa", json={"code": "000000"})).status_code == 401
        await pend(client)  # the stolen password again does not reset the count
        assert (await client.post("/login/mfa", json={"code": "000000"})).status_code == 401
        throttled = await client.post("/login/mfa", json={"code": totp.code()})
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": "123456", "recovery_code": "aaaa"},
        {"code": "1" * 65},
        {"code": 123456},
        {"recovery_code": None, "webauthn": "no"},
        {"code": "\u0000"},
    ],
    ids=["none", "two", "huge", "number", "webauthn not an object", "nul"],
)
async def test_hostile_second_steps_are_422(client, clock, body):
    await enrol(client, clock)
    await pend(client)
    response = await client.post("/login/mfa", json=body)
    assert response.status_code == 422, response.text
    assert "detail" in response.json()


@pytest.mark.parametrize("code", ["１２３４５６", "12 34 56x", "-1", "ÿÿÿÿÿÿ", ""])
async def test_odd_codes_are_invalid_codes(client, clock, code):
    await enrol(client, clock)
    await pend(client)
    response = await client.post("/login/mfa", json={"code": code})
    assert response.status_code == 401 and response.json() == {"detail": "Invalid code"}


@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        ("POST", "/password", {"new_password": "a brand new passphrase"}),
        ("DELETE", "/account", {}),
        ("POST", "/mfa/totp", {}),
        ("DELETE", "/mfa/totp", {}),
        ("POST", "/mfa/recovery-codes", {}),
    ],
)
async def test_a_reauth_body_with_two_factors_is_422(client, clock, method, path, extra):
    totp, codes = await enrol(client, clock)
    body = {"current_password": PASSWORD, "code": totp.code(), "recovery_code": codes[0], **extra}
    response = await client.request(method, path, json=body)
    assert response.status_code == 422, response.text


async def test_sensitive_changes_need_the_factor(client, clock):
    totp, codes = await enrol(client, clock)
    change = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    refused = await client.post("/password", json=change)
    assert refused.status_code == 403 and refused.json() == {"detail": "Second factor required"}
    changed = await client.post("/password", json={**change, "recovery_code": codes[0]})
    assert changed.status_code == 200, changed.text
    deleted = await client.request(
        "DELETE",
        "/account",
        json={"current_password": "a brand new passphrase", "code": totp.code()},
    )
    assert deleted.status_code == 204, deleted.text


async def test_the_same_code_on_two_instances_at_once_opens_one_session(database_url, clock):
    async with (
        running_client(clock=clock, database_url=database_url) as one,
        running_client(clock=clock, database_url=database_url) as other,
    ):
        # On memory each app has its own store: both requests go to one app, at once.
        two = other if database_url is not None else one
        totp, _ = await enrol(one, clock)
        await pend(one)
        pending = {"cookie": f"{MFA_COOKIE}={one.cookies[MFA_COOKIE]}"}
        one.cookies.clear()
        code = totp.code()
        answers = await asyncio.gather(
            one.post("/login/mfa", json={"code": code}, headers=pending),
            two.post("/login/mfa", json={"code": code}, headers=pending),
        )
        assert sorted(a.status_code for a in answers) == [200, 401]


async def test_no_secret_or_code_in_logs_or_answers_but_where_the_spec_says(database_url, clock):
    with service_log(level="debug") as stream:
        async with running_client(clock=clock, database_url=database_url) as client:
            totp, codes = await enrol(client, clock)
            await pend(client)
            pending = client.cookies[MFA_COOKIE]
            code = totp.code()
            await client.post("/login/mfa", json={"code": "000000" if code != "000000" else "1"})
            await client.post("/login/mfa", json={"code": code})
            await client.post("/mfa/recovery-codes", json={"current_password": PASSWORD})
    log = stream.getvalue()
    assert "factor_used" in log and "mfa_required" in log  # the audit is in the stream
    for secret in (totp.totp.secret, code, pending, *codes, PASSWORD):
        assert secret not in log


async def test_a_reset_needs_the_factor():
    clock = FakeClock()
    async with running_client(clock=clock, **MAIL_ON) as client:
        await sign_up(client)
        await log_in(client)
        await client.put(
            "/email", json={"email": "alice@example.com", "current_password": PASSWORD}
        )
        store = client.app.state.container.store()
        verify = last_token(store, MailKind.VERIFY_EMAIL)
        assert (await client.post("/email/verify", json={"token": verify})).status_code == 200
        totp = await enrol_existing(client, clock)
        await client.post("/password/forgot", json={"username": "alice"})
        await client.app.state.container.forgot_password().settle()
        token = last_token(store, MailKind.PASSWORD_RESET)
        body = {"token": token, "new_password": "a brand new passphrase"}

        required = await client.post("/password/reset", json=body)
        assert required.status_code == 403 and required.json() == {
            "detail": "Second factor required"
        }
        wrong = await client.post("/password/reset", json={**body, "code": totp.code(5)})
        assert wrong.status_code == 403 and wrong.json() == {"detail": "Second factor is wrong"}
        two = await client.post("/password/reset", json={**body, "code": "1", "recovery_code": "2"})
        assert two.status_code == 422
        done = await client.post("/password/reset", json={**body, "code": totp.code()})
        assert done.status_code == 200, done.text
