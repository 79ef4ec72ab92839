"""Graceful shutdown and crashes: nothing in flight is lost, nothing is left half made, and behind
a load balancer no request is refused while the endpoint is being removed (SHUTDOWN_DELAY)."""

import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import argon2
import asyncpg
import httpx
import pytest

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


# Behind a load balancer: SHUTDOWN_DELAY and SHUTDOWN_TIMEOUT.

DELAY = 5  # seconds: long enough for the checks below to happen within it on a busy machine
# Requests sent this long after the signal must all be served: the server's delay starts when its
# signal handler runs (a worker's, once the supervisor has passed the signal on), a little after
# the test sent the signal, and a request must connect before the delay ends.
SURELY_WITHIN = DELAY - 2


@dataclass(frozen=True)
class Answer:
    sent: float  # time.monotonic()
    answered: float
    status: int | None  # None: refused, or cut
    closes: bool  # the response said Connection: close


def keep_asking(url: str, stop: threading.Event, keep_alive: bool) -> list[Answer]:
    """GET /healthz again and again until `stop`: each on a new connection, or all on one
    keep-alive client (which opens another when a response says Connection: close)."""
    answers = []
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                if keep_alive:
                    response = client.get(url + "/healthz")
                else:
                    response = httpx.get(url + "/healthz", timeout=10)
            except httpx.TransportError:
                answers.append(Answer(sent, time.monotonic(), None, False))
            else:
                closes = response.headers.get("connection") == "close"
                answers.append(Answer(sent, time.monotonic(), response.status_code, closes))
            time.sleep(0.02)
    return answers


def log_lines(server, message: str) -> list[dict]:
    """The JSON log lines of `server` whose message starts with `message`."""
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    return [line for line in lines if line["message"].startswith(message)]


def wait_until(condition, what: str, timeout: float = 30) -> float:
    """Polls `condition` until it holds, and returns the time.monotonic() it was seen at."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {timeout} s"
        time.sleep(0.05)
    return time.monotonic()


@pytest.mark.parametrize("workers", [1, 2])
def test_after_sigterm_readyz_says_503_while_every_request_is_served_for_the_delay(
    database_url, workers
):
    with serving(
        "--workers", str(workers), DATABASE_URL=database_url, SHUTDOWN_DELAY=str(DELAY)
    ) as server:
        stop = threading.Event()
        with ThreadPoolExecutor(2) as pool:
            fresh = pool.submit(keep_asking, server.url, stop, keep_alive=False)
            kept = pool.submit(keep_asking, server.url, stop, keep_alive=True)
            time.sleep(0.5)
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            # Every worker logs it once its readiness is marked.
            all_draining = wait_until(
                lambda: len(log_lines(server, "draining: /readyz answers 503")) == workers,
                "every worker draining",
            )
            # New connections, spread over the workers: every /readyz says 503, while the
            # rest is still served.
            readyz = [httpx.get(server.url + "/readyz", timeout=10) for _ in range(10)]
            still_served = httpx.get(server.url + "/healthz", timeout=10)
            checked = time.monotonic()
            assert server.process.wait(DELAY + 10 + 30) == 0  # the delay, SHUTDOWN_TIMEOUT, margin
            stop.set()
            answers = fresh.result() + kept.result()
            keep_alive_answers = kept.result()
        log = server.output()
        stopped = log_lines(server, "stopped accepting")
        complete = log_lines(server, "shutdown complete")

    assert checked < signalled + SURELY_WITHIN, "too slow to check within the delay"
    assert [r.status_code for r in readyz] == [503] * 10
    assert all(r.json() == {"status": "draining"} for r in readyz)
    assert still_served.status_code == 200
    within = [a for a in answers if signalled <= a.sent <= signalled + SURELY_WITHIN]
    assert len(within) > 20, len(within)  # both clients kept asking through the delay
    assert [a for a in within if a.status != 200] == []  # none refused, none failed
    assert all(a.status == 200 for a in answers if a.sent < signalled)
    # Keep-alive connections are let go of while the server still accepts new ones.
    assert not any(a.closes for a in keep_alive_answers if a.answered < signalled)
    assert all(a.closes for a in keep_alive_answers if all_draining <= a.sent and a.status)
    assert len(stopped) == len(complete) == workers
    assert "Traceback" not in log


def test_a_worker_started_in_place_of_a_dead_one_drains_too(database_url):
    def worker_pids() -> list[int]:
        lines = log_lines(server, "Started server process")
        return [int(line["message"].rsplit("[", 1)[1].rstrip("]")) for line in lines]

    with serving("--workers", "2", DATABASE_URL=database_url, SHUTDOWN_DELAY="1") as server:
        started = "Application startup complete"
        wait_until(lambda: len(log_lines(server, started)) == 2, "both workers serving")
        dead, survivor = worker_pids()
        os.kill(dead, signal.SIGKILL)
        wait_until(lambda: len(worker_pids()) == 3, "a worker started in place of the dead one")
        replacement = worker_pids()[2]
        wait_until(lambda: len(log_lines(server, started)) == 3, "the new worker serving")
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(40) == 0
        draining = log_lines(server, "draining: /readyz answers 503")
    assert sorted(line["pid"] for line in draining) == sorted([survivor, replacement])


async def test_a_request_still_running_at_the_shutdown_timeout_gets_503(database_url):
    settings = {
        "DATABASE_TIMEOUT": "120",  # the login below waits for the lock, not for a time-out
        "SHUTDOWN_DELAY": "2",  # the request surely arrives before the server stops accepting
        "SHUTDOWN_TIMEOUT": "1",
    }
    with (
        serving(DATABASE_URL=database_url, **settings) as server,
        ThreadPoolExecutor(1) as pool,
    ):
        blocker = await asyncpg.connect(database_url)
        try:
            async with blocker.transaction():
                # A login reads users: it waits behind this lock for as long as the test holds it.
                await blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                stuck = pool.submit(
                    httpx.post, server.url + "/login", auth=("someone", PASSWORD), timeout=120
                )
                server.process.send_signal(signal.SIGTERM)
                response = stuck.result()
        finally:
            await blocker.close()
        assert server.process.wait(60) == 0
        log = server.output()
    assert response.status_code == 503
    assert response.json() == {"detail": "The server is shutting down; retry the request"}
    assert response.headers["connection"] == "close"
    assert response.headers["retry-after"].isdigit()
    assert "Traceback" not in log
