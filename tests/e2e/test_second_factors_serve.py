"""Second factors through real `sessionauth serve` processes, as a client sees them: TOTP and
recovery codes, a passkey made by the tests' software authenticator, and the assurance level at
/auth/verify. On Postgres two instances share the database, and a code used on one is refused on
the other; on the in-memory store the same flow runs on one instance."""

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest

from tests.processes import Server, run_cli, serving, serving_many
from tests.webauthn_authenticator import SoftwareAuthenticator, b64url_decode

PASSWORD = "correct horse battery staple"
RP_ID, ORIGIN = "auth.example", "https://auth.example"
SECRETS_KEY = base64.b64encode(bytes(range(32))).decode()
SETTINGS = {
    "WEBAUTHN_RP_ID": RP_ID,
    "WEBAUTHN_ORIGINS": ORIGIN,
    "SECRETS_KEY": SECRETS_KEY,
    "SESSION_COOKIE_SECURE": "false",
}


@contextmanager
def instances(store: str, database_url: str | None) -> Iterator[list[Server]]:
    if store == "postgres":
        with serving_many(2, DATABASE_URL=database_url or "", **SETTINGS) as servers:
            yield servers
    else:
        with serving(DATABASE_URL="memory:", **SETTINGS) as server:
            yield [server, server]


def cookie(response: httpx.Response, name: str = "session_id") -> dict[str, str]:
    """The Cookie header that sends back the named cookie the response set."""
    value = response.cookies.get(name)
    assert value, f"no {name} cookie in {response.status_code} {response.text}"
    return {"cookie": f"{name}={value}"}


def code_at(secret: str, moment: datetime) -> str:
    return pyotp.TOTP(secret).at(moment)


@pytest.fixture(params=["postgres", "memory"])
def store(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_totp_recovery_codes_passkeys_and_the_assurance_level(store, request):
    database_url = request.getfixturevalue("database_url") if store == "postgres" else None
    with instances(store, database_url) as (one, other):
        a, b = httpx.Client(base_url=one.url), httpx.Client(base_url=other.url)
        body = {"username": "mfa-alice", "password": PASSWORD}
        assert a.post("/signup", json=body).status_code == 201

        # A password alone: level 1, which a proxy demanding level 2 refuses.
        first = a.post("/login", auth=("mfa-alice", PASSWORD))
        assert first.status_code == 200 and first.json()["aal"] == 1
        session = cookie(first)
        verify = a.get("/auth/verify", headers=session)
        assert verify.status_code == 200 and verify.headers["X-Auth-AAL"] == "1"
        demand = a.get("/auth/verify", params={"aal": "2"}, headers=session)
        assert demand.status_code == 403
        assert demand.json() == {"detail": "Second factor required"}

        # TOTP set-up, confirmed with the previous step's code (accepted, and it leaves the
        # current step free for the login below).
        started = a.post("/mfa/totp", json={"current_password": PASSWORD}, headers=session)
        assert started.status_code == 200, started.text
        secret = started.json()["secret"]
        assert started.json()["otpauth_uri"].startswith("otpauth://totp/")
        confirmed = None
        for _ in range(3):  # a step boundary between reading the clock and the check: again
            earlier = code_at(secret, datetime.now(UTC) - timedelta(seconds=30))
            confirmed = a.post("/mfa/totp/confirm", json={"code": earlier}, headers=session)
            if confirmed.status_code == 200:
                break
        assert confirmed is not None and confirmed.status_code == 200, confirmed.text
        codes = confirmed.json()["recovery_codes"]
        assert len(codes) == 10 and len(set(codes)) == 10
        session = cookie(confirmed)  # the token was rotated
        assert a.get("/getusers/me", headers=session).status_code == 200

        # Now a right password is only half a login, on either instance.
        pending = [c.post("/login", auth=("mfa-alice", PASSWORD)) for c in (a, b)]
        for answer in pending:
            assert answer.status_code == 202, answer.text
            assert answer.json()["message"] == "Second factor required"
            assert "totp" in answer.json()["methods"]
            assert "session_id" not in answer.cookies
        # The current step's code at both instances at once: one session, one refusal.
        now_code = code_at(secret, datetime.now(UTC))

        def second_step(pair: tuple[httpx.Client, httpx.Response]) -> httpx.Response:
            client, answer = pair
            return client.post(
                "/login/mfa", json={"code": now_code}, headers=cookie(answer, "session_id_mfa")
            )

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(second_step, zip((a, b), pending, strict=True)))
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 401], [r.text for r in results]
        winner = next(r for r in results if r.status_code == 200)
        assert winner.json()["aal"] == 2
        loser = next(r for r in results if r.status_code == 401)
        assert loser.json() == {"detail": "Invalid code"}
        strong = cookie(winner)
        for client in (a, b):
            verified = client.get("/auth/verify", params={"aal": "2"}, headers=strong)
            assert verified.status_code == 200 and verified.headers["X-Auth-AAL"] == "2"

        # A recovery code works once, on any instance.
        again = b.post("/login", auth=("mfa-alice", PASSWORD))
        used = b.post(
            "/login/mfa",
            json={"recovery_code": codes[0].upper()},
            headers=cookie(again, "session_id_mfa"),
        )
        assert used.status_code == 200 and used.json()["aal"] == 2
        once_more = a.post("/login", auth=("mfa-alice", PASSWORD))
        replayed = a.post(
            "/login/mfa",
            json={"recovery_code": codes[0]},
            headers=cookie(once_more, "session_id_mfa"),
        )
        assert replayed.status_code == 401

        # A passkey, registered with a re-auth body (password and a recovery code) ...
        session = cookie(used)
        reauth = {"current_password": PASSWORD, "recovery_code": codes[1]}
        options = a.post("/webauthn/register/options", json=reauth, headers=session)
        assert options.status_code == 200, options.text
        created = options.json()
        assert created["rp"]["id"] == RP_ID
        authenticator = SoftwareAuthenticator()
        credential = authenticator.register(
            b64url_decode(created["challenge"]),
            rp_id=RP_ID,
            origin=ORIGIN,
            user_id=b64url_decode(created["user"]["id"]),
        )
        registered = a.post(
            "/webauthn/register",
            json={"credential": credential, "name": "Laptop"},
            headers=session,
        )
        assert registered.status_code == 201, registered.text
        assert registered.json()["name"] == "Laptop"
        session = cookie(registered)
        listed = a.get("/webauthn/credentials", headers=session).json()
        assert [c["name"] for c in listed] == ["Laptop"]

        # ... signs in alone on the other instance, without a username: level 2.
        start = b.post("/login/passkey/options")
        assert start.status_code == 200, start.text
        request_options = start.json()
        assert request_options.get("allowCredentials") in (None, [])
        assert request_options["userVerification"] == "required"
        assertion = authenticator.assert_(
            b64url_decode(request_options["challenge"]), rp_id=RP_ID, origin=ORIGIN
        )
        passkey = b.post(
            "/login/passkey",
            json={"credential": assertion},
            headers=cookie(start, "session_id_passkey"),
        )
        assert passkey.status_code == 200, passkey.text
        assert passkey.json()["aal"] == 2
        verified = a.get("/auth/verify", params={"aal": "2"}, headers=cookie(passkey))
        assert verified.status_code == 200 and verified.headers["X-Auth-AAL"] == "2"

        # The same assertion again (its challenge is used) is refused.
        replay = b.post(
            "/login/passkey",
            json={"credential": assertion},
            headers=cookie(start, "session_id_passkey"),
        )
        assert replay.status_code == 401

        if store == "postgres":  # the operator's reset, for a user who lost every factor
            reset = run_cli("reset-factors", "MFA-Alice", DATABASE_URL=database_url or "")
            assert reset.returncode == 0, reset.stderr
            assert reset.stdout.startswith("removed every second factor of MFA-Alice, revoked ")
            assert a.get("/getusers/me", headers=cookie(passkey)).status_code == 401
            plain = b.post("/login", auth=("mfa-alice", PASSWORD))
            assert plain.status_code == 200 and plain.json()["aal"] == 1
        a.close()
        b.close()
        assert one.stop() == 0
        log = one.output() + (other.output() if other is not one else "")

    events = [json.loads(line) for line in log.splitlines() if '"audit": true' in line]
    names = {e["event"] for e in events}
    assert {"mfa_required", "factor_enrolled", "factor_used", "login_succeeded"} <= names
    for secret_text in (PASSWORD, secret, *codes):  # (a 6-digit code could be in any number)
        assert secret_text not in log
