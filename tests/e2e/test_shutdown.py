"""Graceful shutdown and crashes: nothing in flight is lost, nothing is left half made."""

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import httpx

from tests.e2e.server import serving

PASSWORD = "correct horse battery staple"
# A real argon2 cost, so that sign-ups are still in flight when the signal arrives.
SLOW_HASHING = {"ARGON2_TIME_COST": "2", "ARGON2_MEMORY_COST": "32768", "HASH_QUEUE_SIZE": "64", "HASH_QUEUE_TIMEOUT": "30"}


def sign_up(url: str, name: str) -> int | None:
    try:
        return httpx.post(url + "/signup", json={"username": name, "password": PASSWORD}, timeout=30).status_code
    except httpx.TransportError:
        return None  # refused or cut: the client knows it did not succeed


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

    with serving(DATABASE_URL=database_url, **SLOW_HASHING) as server:
        with ThreadPoolExecutor(len(names)) as pool:
            answers = [pool.submit(timed_sign_up, name) for name in names]
            time.sleep(0.3)  # every request sent; most wait for their hash
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            results = dict(zip(names, (a.result() for a in answers)))
        assert server.process.wait(30) == 0
    stored = await usernames(database_url)
    created = {name for name, (status, _) in results.items() if status == 201}
    finished_after_signal = [name for name, (status, at) in results.items() if status == 201 and at > signalled]
    assert finished_after_signal, results  # requests were in flight when the signal came, and finished
    assert created <= stored  # no success that was lost
    assert stored <= set(names)


async def test_kill_9_leaves_no_half_made_state(database_url):
    names = [f"crash{i}" for i in range(20)]
    with serving(DATABASE_URL=database_url, **SLOW_HASHING) as server:
        with ThreadPoolExecutor(len(names)) as pool:
            answers = [pool.submit(sign_up, server.url, name) for name in names]
            time.sleep(0.5)
            server.process.kill()
            statuses = dict(zip(names, (a.result() for a in answers)))
    created = {name for name, status in statuses.items() if status == 201}
    connection = await asyncpg.connect(database_url)
    try:
        users = await connection.fetch("SELECT username, password_hash FROM users WHERE username LIKE 'crash%'")
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
