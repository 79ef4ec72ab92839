"""Account security through a real `sessionauth serve`, on both stores."""

import json
import time

import asyncpg
import httpx
import pytest

from tests.processes import run_cli, serving

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(params=["memory", "postgres"])
def store_settings(request):
    if request.param == "memory":
        return {}
    return {"DATABASE_URL": request.getfixturevalue("database_url")}


def login(server, username="alice", password=PASSWORD, **headers):
    with httpx.Client(base_url=server.url) as c:
        return c.post("/login", auth=(username, password), headers=headers)


def as_(response):
    return {"cookie": f"session_id={response.cookies['session_id']}"}


def test_sessions_password_change_throttling_and_audit(store_settings):
    with serving(THROTTLE_LOGIN_PER_ADDRESS="3", **store_settings) as server:
        with httpx.Client(base_url=server.url) as c:
            assert (
                c.post("/signup", json={"username": "alice", "password": PASSWORD}).status_code
                == 201
            )
        laptop = login(server, **{"user-agent": "laptop"})
        phone = login(server, **{"user-agent": "phone"})
        assert laptop.cookies["session_id_device"]

        with httpx.Client(base_url=server.url, headers=as_(laptop)) as c:
            listed = c.get("/sessions").json()
            assert [s["user_agent"] for s in listed] == ["phone", "laptop"] and listed[1]["current"]
            assert listed[0]["ip"] == "127.0.0.1"
            assert (
                c.post("/signup", json={}, headers={"origin": "https://evil.example"}).status_code
                == 403
            )
            changed = c.post(
                "/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
            )
            assert changed.status_code == 200
        with httpx.Client(base_url=server.url) as c:
            assert c.get("/getusers/me", headers=as_(phone)).status_code == 401
            assert c.get("/getusers/me", headers=as_(changed)).status_code == 200

        for _ in range(3):
            assert login(server, password="wrong password").status_code == 401
        throttled = login(server, password=NEW_PASSWORD)
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
        device = {"cookie": f"session_id_device={laptop.cookies['session_id_device']}"}
        with httpx.Client(base_url=server.url) as c:  # the owner's browser is not locked out
            assert c.post("/login", auth=("alice", NEW_PASSWORD), headers=device).status_code == 200
        assert server.stop() == 0
        log = server.output()

    events = [
        json.loads(line)
        for line in log.splitlines()
        if line.startswith("{") and '"audit": true' in line
    ]
    names = {e["event"] for e in events}
    assert {"signup", "login_succeeded", "login_failed", "throttled", "password_changed"} <= names
    for secret in (
        PASSWORD,
        NEW_PASSWORD,
        laptop.cookies["session_id"],
        changed.cookies["session_id"],
        "$argon2",
    ):
        assert secret not in log


def test_revoke_sessions_from_the_command_line(database_url):
    with serving(DATABASE_URL=database_url) as server:
        with httpx.Client(base_url=server.url) as c:
            c.post("/signup", json={"username": "Incident", "password": PASSWORD})
        sessions = [login(server, "incident") for _ in range(2)]

        revoked = run_cli("revoke-sessions", "INCIDENT", DATABASE_URL=database_url)
        assert revoked.returncode == 0, revoked.stderr
        assert revoked.stdout.strip() == "revoked 2 sessions"
        with httpx.Client(base_url=server.url) as c:
            for s in sessions:
                assert c.get("/getusers/me", headers=as_(s)).status_code == 401

        unknown = run_cli("revoke-sessions", "nobody", DATABASE_URL=database_url)
        assert unknown.returncode == 1 and "nobody" in unknown.stderr
    assert run_cli("revoke-sessions", "alice").returncode == 2  # no DATABASE_URL


async def count_sessions(database_url: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval("SELECT count(*) FROM sessions")
    finally:
        await connection.close()


async def stored_hash(database_url: str) -> str:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(
            "SELECT password_hash FROM users WHERE username_canonical = 'rehash'"
        )
    finally:
        await connection.close()


async def test_two_instances_purge_in_the_background_without_fighting(database_url):
    settings = {"DATABASE_URL": database_url, "SESSION_IDLE_TIMEOUT": "1", "PURGE_INTERVAL": "1"}
    with serving(**settings) as first, serving(**settings) as second:
        with httpx.Client(base_url=first.url) as c:
            c.post("/signup", json={"username": "purger", "password": PASSWORD})
        for _ in range(3):
            assert login(second, "purger").status_code == 200
        deadline = time.monotonic() + 30
        while await count_sessions(database_url) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert await count_sessions(database_url) == 0
        logs = first.output() + second.output()
    assert "Traceback" not in logs and "purge of expired sessions failed" not in logs


async def test_a_login_rehashes_after_the_argon2_cost_changes_and_keeps_sessions(database_url):
    with serving(DATABASE_URL=database_url, ARGON2_TIME_COST="1") as server:
        with httpx.Client(base_url=server.url) as c:
            c.post("/signup", json={"username": "rehash", "password": PASSWORD})
        kept = login(server, "rehash")
    assert ",t=1," in await stored_hash(database_url)

    with serving(DATABASE_URL=database_url, ARGON2_TIME_COST="2") as server:
        assert login(server, "rehash").status_code == 200
        with httpx.Client(base_url=server.url) as c:
            assert c.get("/getusers/me", headers=as_(kept)).status_code == 200
        log = server.output()
    assert ",t=2," in await stored_hash(database_url)
    assert '"event": "password_rehashed"' in log
