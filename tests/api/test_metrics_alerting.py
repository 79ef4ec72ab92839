"""The metrics that docs/alerts.yaml alerts on: 503 answers by the store's cause (each counted
once, whichever path answered it), hashing refusals by reason and the hashing capacity, the
database pool, the session cache and its listener, the last purge; every one in the metrics
table of docs/operations.md. Several workers: tests/integration/test_prometheus_multiprocess.py."""

import asyncio
import re
import threading
import time
from pathlib import Path

import pytest
from dependency_injector import providers

from adapters.postgres import apply_migrations
from domain.errors import OutageCause
from domain.throttle import address_group
from tests.api.client import log_in, running_client, sign_up
from tests.api.failing_adapters import DownStore, client_for
from tests.api.scraping import families, moved, scrape, value
from tests.constants import PASSWORD
from tests.postgres_provider import fresh_database

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
CLIENT_ADDRESS = "192.0.2.10"  # what running_client's transport presents
STALE_COOKIE = {"cookie": "session_id=" + "a" * 43}
POOL_AND_CACHE = {
    "sessionauth_database_pool_size",
    "sessionauth_database_pool_in_use",
    "sessionauth_database_pool_acquire_seconds",
    "sessionauth_session_cache_hits",
    "sessionauth_session_cache_misses",
    "sessionauth_session_cache_listener_up",
}


def documented_metrics() -> set[str]:
    """The names in the metrics table, as `families` gives them (counters without _total)."""
    names = re.findall(r"^\| `(sessionauth_[a-z_]+)` \|", OPERATIONS.read_text(), re.M)
    return {name.removesuffix("_total") for name in names}


async def eventually(check, what: str, within: float = 30.0):
    """Polls `check()` (a coroutine function) until it returns something true; fails after
    `within` seconds (generous: the listener and the purge run beside the requests)."""
    deadline = time.monotonic() + within
    while not (result := await check()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)
    return result


async def test_each_503_of_a_store_outage_is_counted_once_by_its_cause():
    app, client = await client_for(
        lambda c: c.store.override(providers.Singleton(DownStore, OutageCause.POOL_EXHAUSTED))
    )
    async with app.router.lifespan_context(app), client:
        before = await scrape(client)
        answers = [
            await client.post("/login", auth=("alice", PASSWORD)),  # a use-case's error
            await client.get("/protected", headers=STALE_COOKIE),  # the fast path
            await client.get("/sessions", headers=STALE_COOKIE),  # the JSON API's dependency
            await client.get("/ui/", headers=STALE_COOKIE),  # a browser page
            await client.post("/ui/login", data={"username": "alice", "password": PASSWORD}),
        ]
        assert [a.status_code for a in answers] == [503] * 5
        assert (await client.get("/readyz")).status_code == 503  # readiness: not an answer
        after = await scrape(client)
    for cause in OutageCause:
        expected = 5 if cause is OutageCause.POOL_EXHAUSTED else 0
        assert moved(before, after, "sessionauth_store_unavailable_total", cause=cause) == expected


def hold_the_hashing_thread(hasher, reason: str):
    """Keeps the hasher's one thread busy until the event is set: with a hash admitted through
    its queue (by this test's client address for `address_share`), or, for `deadline`, with work
    handed to the thread directly, so that nothing but the login is admitted and late."""
    release = threading.Event()
    if reason == "deadline":
        return release, asyncio.wrap_future(hasher._executor.submit(release.wait, 30))
    owner = address_group(CLIENT_ADDRESS) if reason == "address_share" else None
    return release, asyncio.ensure_future(hasher._run(release.wait, 30, owner=owner))


@pytest.mark.parametrize(
    ("reason", "settings"),
    [
        ("queue_full", {"hash_queue_size": 0, "hash_share_per_address": 0}),
        ("address_share", {"hash_queue_size": 3, "hash_share_per_address": 1}),
        ("deadline", {"hash_queue_size": 0, "hash_queue_timeout": 0.2}),
    ],
)
async def test_a_login_refused_by_the_hasher_is_counted_by_reason(reason, settings):
    async with running_client(hash_concurrency=1, **settings) as client:
        await sign_up(client)
        hasher = client.app.state.container.hasher()
        before = await scrape(client)
        release, held = hold_the_hashing_thread(hasher, reason)
        await asyncio.sleep(0)
        refused = await client.post("/login", auth=("alice", PASSWORD))
        after = await scrape(client)
        release.set()
        assert await held is True
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    for each in ("queue_full", "address_share", "deadline"):
        expected = 1 if each == reason else 0
        assert moved(before, after, "sessionauth_hash_refusals_total", reason=each) == expected
    assert moved(before, after, "sessionauth_logins_total", outcome="invalid") == 0


async def test_the_hashing_capacity_is_the_threads_and_the_queue():
    async with running_client(hash_concurrency=3, hash_queue_size=5) as client:
        samples = await scrape(client)
    assert value(samples, "sessionauth_hash_concurrency") == 3
    assert value(samples, "sessionauth_hash_capacity") == 8
    assert value(samples, "sessionauth_hash_queue_depth") == 0


async def test_the_memory_store_has_no_pool_or_cache_and_every_metric_is_documented():
    async with running_client() as client:
        samples = await scrape(client)
    assert families(samples) & POOL_AND_CACHE == set()
    for cause in OutageCause:
        assert value(samples, "sessionauth_store_unavailable_total", cause=cause) == 0
    for reason in ("queue_full", "address_share", "deadline"):
        assert value(samples, "sessionauth_hash_refusals_total", reason=reason) == 0
    assert value(samples, "sessionauth_last_purge_timestamp_seconds") == 0
    assert families(samples) - documented_metrics() == set()


async def test_postgres_exports_its_pool_and_session_cache(migrated_database_url):
    async with running_client(database_url=migrated_database_url, database_pool_size=3) as client:

        async def listening():
            samples = await scrape(client)
            return value(samples, "sessionauth_session_cache_listener_up") == 1 and samples

        samples = await eventually(listening, "the revocation listener never connected")
        assert families(samples) >= POOL_AND_CACHE
        assert families(samples) - documented_metrics() == set()
        assert value(samples, "sessionauth_database_pool_size") == 3

        async def idle():  # start-up's background reads (the dummy verify's costs) may hold one
            return value(await scrape(client), "sessionauth_database_pool_in_use") == 0

        await eventually(idle, "the pool never went idle after start-up")

        await sign_up(client)
        await log_in(client)
        before = await scrape(client)
        for _ in range(3):  # read from the database once, then served by the cache
            assert (await client.get("/protected")).status_code == 200
        after = await scrape(client)
        assert moved(before, after, "sessionauth_session_cache_misses_total") == 1
        assert moved(before, after, "sessionauth_session_cache_hits_total") == 2
        assert moved(before, after, "sessionauth_database_pool_acquire_seconds_count") >= 1

        store = client.app.state.container.store()
        async with store.connection():
            held = await scrape(client)
        assert value(held, "sessionauth_database_pool_in_use") >= 1  # this one, and any other

        store.session_cache.set_enabled(False)  # what the listener does when its connection drops
        down = await scrape(client)
    assert value(down, "sessionauth_session_cache_listener_up") == 0


async def test_without_the_session_cache_there_is_no_cache_series(migrated_database_url):
    async with running_client(database_url=migrated_database_url, session_cache=False) as client:
        names = families(await scrape(client))
    assert "sessionauth_database_pool_size" in names
    assert not any(name.startswith("sessionauth_session_cache") for name in names)


async def test_a_write_to_a_read_only_database_is_a_503_counted_as_read_only(
    postgres_server_url,
):
    with fresh_database(postgres_server_url) as url:
        await apply_migrations(url)
        async with running_client(database_url=url) as client:
            await sign_up(client)
            store = client.app.state.container.store()
            async with store.connection() as connection:
                name = await connection.fetchval("SELECT current_database()")
                await connection.execute(
                    f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'
                )
            await store.close()  # new connections take the new default
            await store.open()
            before = await scrape(client)
            refused = await client.post("/signup", json={"username": "bob", "password": PASSWORD})
            after = await scrape(client)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert moved(before, after, "sessionauth_store_unavailable_total", cause="read_only") == 1


async def test_the_time_of_the_last_purge_is_exported(clock):
    started = time.time()
    async with running_client(purge_interval=1) as client:

        async def purged():
            return value(await scrape(client), "sessionauth_last_purge_timestamp_seconds")

        at = await eventually(purged, "no purge completed")
    assert started <= at <= time.time()
