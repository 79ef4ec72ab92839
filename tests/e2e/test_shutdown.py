"""Graceful shutdown and crashes: nothing in flight is lost, nothing is left half made."""

import signal
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import argon2
import asyncpg
import httpx

from tests.processes import serving

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a brand new passphrase 42"
# A real argon2 cost, so that sign-ups are still in flight when the signal arrives.
# Every client here is 127.0.0.1: HASH_SHARE_PER_ADDRESS=0 lets it queue as many hashes as these
# tests keep in flight, instead of its share of the queue.
SLOW_HASHING = {
    "ARGON2_TIME_COST": "2",
    "ARGON2_MEMORY_COST": "32768",
    "HASH_QUEUE_SIZE": "64",
    "HASH_QUEUE_TIMEOUT": "30",
    "HASH_SHARE_PER_ADDRESS": "0",
}


def sign_up(url: str, name: str) -> int | None:
    try:
        return httpx.post(
            url + "/signup", json={"username": name, "password": PASSWORD}, timeout=30
        ).status_code
    except httpx.TransportError:
        return None  # refused or cut: the client knows it did not succeed


def wait_for_hashes_in_flight(url: str, at_least: int, timeout: float = 30) -> None:
    """Until the server's hashing queue holds `at_least` requests (its /metrics gauge)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
            if (
                line.startswith("sessionauth_hash_queue_depth ")
                and float(line.split()[-1]) >= at_least
            ):
                return
        time.sleep(0.01)
    raise AssertionError(f"fewer than {at_least} sign-ups reached the hashing queue in {timeout} s")


async def usernames(database_url: str) -> set[str]:
    connection = await asyncpg.connect(database_url)
    try:
        return {r["username"] for r in await connection.fetch("SELECT username FROM users")}
    finally:
        await connection.close()


async def test_sigterm_finishes_in_flight_sign_ups_and_exits_0(database_url):
    names = [f"inflight{i}" for i in range(12)]

    def timed_sign_up(name: str) -> tuple[int | None, float]:
        status = sign_up(server.url, name)
        return status, time.monotonic()

    with (
        serving(DATABASE_URL=database_url, **SLOW_HASHING) as server,
        ThreadPoolExecutor(len(names)) as pool,
    ):
        answers = [pool.submit(timed_sign_up, name) for name in names]
        # Signal once sign-ups are really in flight (waiting for, or in, their hash). A fixed
        # sleep was not enough on a loaded machine: the client threads had not connected yet,
        # so the closed socket refused them all and nothing was in flight to finish.
        wait_for_hashes_in_flight(server.url, at_least=3)
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        results = dict(zip(names, (a.result() for a in answers), strict=True))
        assert server.process.wait(30) == 0
    stored = await usernames(database_url)
    created = {name for name, (status, _) in results.items() if status == 201}
    finished_after_signal = [
        name for name, (status, at) in results.items() if status == 201 and at > signalled
    ]
    # requests were in flight when the signal came, and finished
    assert finished_after_signal, results
    assert created <= stored  # no success that was lost
    assert stored <= set(names)


async def test_kill_9_leaves_no_half_made_state(database_url):
    names = [f"crash{i}" for i in range(20)]
    with (
        serving(DATABASE_URL=database_url, **SLOW_HASHING) as server,
        ThreadPoolExecutor(len(names)) as pool,
    ):
        answers = [pool.submit(sign_up, server.url, name) for name in names]
        time.sleep(0.5)
        server.process.kill()
        statuses = dict(zip(names, (a.result() for a in answers), strict=True))
    created = {name for name, status in statuses.items() if status == 201}
    connection = await asyncpg.connect(database_url)
    try:
        users = await connection.fetch(
            "SELECT username, password_hash FROM users WHERE username LIKE 'crash%'"
        )
        orphans = await connection.fetchval(
            "SELECT count(*) FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE u.id IS NULL"
        )
    finally:
        await connection.close()
    assert created <= {u["username"] for u in users}
    assert all(u["password_hash"].startswith("$argon2id$") for u in users)  # whole, or not there
    assert orphans == 0
    # and the next start serves every user that exists
    with serving(DATABASE_URL=database_url) as server:
        for user in users:
            response = httpx.post(server.url + "/login", auth=(user["username"], PASSWORD))
            assert response.status_code == 200


def log_in(url: str, name: str) -> httpx.Cookies | None:
    try:
        response = httpx.post(url + "/login", auth=(name, PASSWORD), timeout=30)
    except httpx.TransportError:
        return None
    return response.cookies if response.status_code == 200 else None


def change_password(url: str, cookies: httpx.Cookies) -> int | None:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    try:
        return httpx.post(url + "/password", json=body, cookies=cookies, timeout=30).status_code
    except httpx.TransportError:
        return None


async def test_kill_9_amid_logins_and_password_changes_leaves_each_change_whole(database_url):
    settings = {
        **SLOW_HASHING,
        "SESSION_COOKIE_SECURE": "false",
        "THROTTLE_SIGNUP_PER_ADDRESS": "0",
    }
    changers = [f"changer{i}" for i in range(8)]
    loginers = [f"loginer{i}" for i in range(8)]
    with serving(DATABASE_URL=database_url, **settings) as server:
        for name in changers + loginers:
            assert sign_up(server.url, name) == 201
        # Three sessions per changer: a change ends the two others and rotates the one it came with.
        current = {name: [log_in(server.url, name) for _ in range(3)][-1] for name in changers}
    with (
        serving(DATABASE_URL=database_url, **settings) as server,
        ThreadPoolExecutor(len(changers) + len(loginers)) as pool,
    ):
        changes = {
            name: pool.submit(change_password, server.url, current[name]) for name in changers
        }
        logins = [pool.submit(log_in, server.url, name) for name in loginers]
        # Killed as soon as the first change has answered: the others are still hashing.
        first = next(as_completed(changes.values(), timeout=60))
        server.process.kill()
        assert first.result() == 200
        changed = {name: answer.result() for name, answer in changes.items()}
        [answer.result() for answer in logins]
    assert None in changed.values() and 200 in changed.values(), changed  # the kill came mid-way

    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT u.username, u.password_hash, count(s.id) AS sessions FROM users u"
            " LEFT JOIN sessions s ON s.user_id = u.id WHERE u.username LIKE 'changer%' GROUP BY u.id"
        )
        orphans = await connection.fetchval(
            "SELECT count(*) FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE u.id IS NULL"
        )
    finally:
        await connection.close()
    assert orphans == 0
    verifier = argon2.PasswordHasher()
    for row in rows:
        try:
            new = verifier.verify(row["password_hash"], NEW_PASSWORD)
        except argon2.exceptions.VerifyMismatchError:
            new = False
        if new:  # the change happened, with its revocations: only the rotated session is left
            assert row["sessions"] == 1, dict(row)
        else:  # or not at all: the old password and all three sessions
            assert verifier.verify(row["password_hash"], PASSWORD)
            assert row["sessions"] == 3, dict(row)
            assert changed[row["username"]] != 200, dict(row)  # never a success that was lost
