"""Several `sessionauth serve` processes on one database: shared users, sessions, revocations, limits."""

import asyncio
import time
from collections import Counter

import asyncpg
import httpx

from tests.postgres_provider import truncate_all
from tests.processes import serving_many

PASSWORD = "correct horse battery staple"
PROPAGATION = 0.1  # seconds: the goal for a revocation to reach every instance


def refused_within(url: str, cookie: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, headers={"cookie": f"session_id={cookie}"}) as client:
        while True:
            if client.get("/protected").status_code == 401:
                return True
            if time.monotonic() > deadline:
                return False


async def test_three_instances_share_users_sessions_and_revocations(database_url):
    # started together: each applies migrations under the lock; all three must come up
    with serving_many(3, DATABASE_URL=database_url) as servers:
        a, b, c = servers

        connection = await asyncpg.connect(database_url)
        try:
            versions = await connection.fetch("SELECT version FROM schema_migrations")
            assert len(versions) == len({v["version"] for v in versions}) >= 4
        finally:
            await connection.close()

        with httpx.Client(base_url=a.url) as client:
            assert (
                client.post(
                    "/signup", json={"username": "shared", "password": PASSWORD}
                ).status_code
                == 201
            )
        with httpx.Client(base_url=b.url) as client:
            login = client.post("/login", auth=("shared", PASSWORD))
            assert login.status_code == 200
        cookie = login.cookies["session_id"]
        for server in servers:  # every instance knows the session (and caches it)
            with httpx.Client(
                base_url=server.url, headers={"cookie": f"session_id={cookie}"}
            ) as client:
                assert client.get("/protected").status_code == 200

        with httpx.Client(base_url=c.url, headers={"cookie": f"session_id={cookie}"}) as client:
            assert client.post("/logout").status_code == 200
        for server in (a, b):
            assert refused_within(server.url, cookie, PROPAGATION)

        # a revocation of all sessions from one instance's API, seen by the others at once
        with httpx.Client(base_url=a.url) as client:
            first = client.post("/login", auth=("shared", PASSWORD)).cookies["session_id"]
        with httpx.Client(base_url=b.url) as client:
            second = client.post("/login", auth=("shared", PASSWORD)).cookies["session_id"]
        for server in servers:
            with httpx.Client(
                base_url=server.url, headers={"cookie": f"session_id={first}"}
            ) as client:
                assert client.get("/protected").status_code == 200
        with httpx.Client(base_url=c.url, headers={"cookie": f"session_id={second}"}) as client:
            assert client.delete("/sessions").json() == {"revoked": 1}
        for server in servers:
            assert refused_within(server.url, first, PROPAGATION)


async def test_two_instances_share_the_throttle_limits_under_concurrency(database_url):
    limits = {"THROTTLE_LOGIN_PER_ADDRESS": "3", "THROTTLE_SIGNUP_PER_ADDRESS": "3"}
    with serving_many(2, DATABASE_URL=database_url, **limits) as servers:
        await truncate_all(database_url)  # the module's other test counted from this address too
        async with httpx.AsyncClient(timeout=30) as client:
            signups = await asyncio.gather(
                *(
                    client.post(
                        f"{servers[i % 2].url}/signup",
                        json={"username": f"user{i}", "password": PASSWORD},
                    )
                    for i in range(12)
                )
            )
            logins = await asyncio.gather(
                *(
                    client.post(f"{servers[i % 2].url}/login", auth=("user0", "wrong password"))
                    for i in range(20)
                )
            )
    assert Counter(r.status_code for r in signups) == {201: 3, 429: 9}
    assert Counter(r.status_code for r in logins) == {401: 3, 429: 17}
