"""The account lifecycle on real Postgres with two stores on one database, as two instances hold
them: disables racing logins, logins racing the session limit, and what every session cache
stops serving."""

import asyncio
import time
import uuid
from datetime import timedelta

import asyncpg
import pytest

from adapters.postgres import PostgresStore
from adapters.system import SystemClock
from domain.account_policy import AccountPolicy
from domain.errors import InvalidCredentials, NotAuthenticated
from tests.postgres_provider import truncate_all
from tests.wiring import Wired, throttle_limits

PASSWORD = "the old passphrase"
PROPAGATION = 2.0  # seconds: generous; NOTIFY takes about a millisecond here


class Instance:
    """The use-cases of one `serve` instance on its own store."""

    def __init__(self, store: PostgresStore, session_limit: int) -> None:
        self.store = store
        # The system clock, as the store's session cache has: a session is fresh (served from
        # memory) by that clock.
        wired = Wired(
            store,
            clock=SystemClock(),
            throttle_policy=throttle_limits(),
            account_policy=AccountPolicy(session_limit=session_limit),
        )
        self.audit = wired.audit
        self.use_cases = wired.use_cases


async def open_instances(url: str, count: int, cache: bool, session_limit: int = 0):
    stores = [
        PostgresStore(url, max_size=30, session_cache_for=timedelta(minutes=1) if cache else None)
        for _ in range(count)
    ]
    for store in stores:
        await store.open()
        if cache:
            await asyncio.wait_for(store._listener.connected.wait(), 10)
    return [Instance(store, session_limit) for store in stores]


@pytest.fixture(params=[True, False], ids=["cache", "no-cache"])
async def pair(request, migrated_database_url):
    await truncate_all(migrated_database_url)
    instances = await open_instances(migrated_database_url, 2, request.param)
    yield instances
    for instance in instances:
        await instance.store.close()


@pytest.fixture
async def limited_pair(migrated_database_url):
    await truncate_all(migrated_database_url)
    instances = await open_instances(migrated_database_url, 2, cache=True, session_limit=3)
    yield instances
    for instance in instances:
        await instance.store.close()


async def sessions_of(url: str, username: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchval(
            "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id"
            " WHERE u.username_canonical = $1",
            username,
        )
    finally:
        await connection.close()


async def test_a_disable_racing_many_logins_on_two_instances_leaves_no_live_session(
    pair, migrated_database_url
):
    a, b = pair
    await a.use_cases.sign_up.execute(username="racer", password=PASSWORD)
    got_in = 0
    for _ in range(20):
        await a.use_cases.enable_user.execute(username="racer")
        logins = [
            instance.use_cases.login.execute(username="racer", password=PASSWORD)
            for _ in range(6)
            for instance in (a, b)
        ]
        outcomes = await asyncio.gather(
            *logins[:6],
            a.use_cases.disable_user.execute(username="racer"),
            *logins[6:],
            return_exceptions=True,
        )
        assert isinstance(outcomes[6], int), outcomes[6]
        logged_in = [o for o in outcomes if not isinstance(o, int | BaseException)]
        assert all(isinstance(o, InvalidCredentials) for o in outcomes if isinstance(o, Exception))
        got_in += len(logged_in)
        assert await sessions_of(migrated_database_url, "racer") == 0
        for result in logged_in:  # in before the disable: ended by it, on both instances
            for instance in (a, b):
                with pytest.raises(NotAuthenticated):
                    await instance.use_cases.resolve_session.execute(token=result.token)
    assert got_in  # the race was real: some logins came in before a disable


async def test_logins_racing_the_limit_on_two_instances_never_leave_more_than_it(
    limited_pair, migrated_database_url
):
    a, b = limited_pair
    await a.use_cases.sign_up.execute(username="crowd", password=PASSWORD)
    total = 0
    for _ in range(5):
        logins = [
            instance.use_cases.login.execute(username="crowd", password=PASSWORD)
            for _ in range(8)
            for instance in (a, b)
        ]
        results = await asyncio.gather(*logins)
        total += len(results)
        assert await sessions_of(migrated_database_url, "crowd") == 3
        live = []
        for result in results:
            try:
                await b.use_cases.resolve_session.execute(token=result.token)
                live.append(result)
            except NotAuthenticated:
                pass
        assert len(live) <= 3
    evicted = [e for i in (a, b) for e in i.audit.events if e["event"] == "session_revoked"]
    assert {e["scope"] for e in evicted} == {"limit"}
    assert len(evicted) == total - 3  # each ended once, by exactly one login
    assert len({e["session_id"] for e in evicted}) == total - 3


async def gone_within(instance: Instance, token: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            await instance.use_cases.resolve_session.execute(token=token)
        except NotAuthenticated:
            return True
        await asyncio.sleep(0.005)
    return False


@pytest.mark.parametrize("how", ["disable", "delete", "revoke everyone", "an operator's process"])
async def test_the_other_instances_cache_stops_serving_the_session(how, migrated_database_url):
    await truncate_all(migrated_database_url)
    a, b = await open_instances(migrated_database_url, 2, cache=True)
    try:
        await a.use_cases.sign_up.execute(username="cached", password=PASSWORD)
        result = await a.use_cases.login.execute(username="cached", password=PASSWORD)
        for _ in range(2):
            await b.use_cases.resolve_session.execute(token=result.token)
        assert b.store.session_cache.hits >= 1  # b serves it from memory
        if how == "disable":
            await a.use_cases.disable_user.execute(username="cached")
        elif how == "delete":
            await a.use_cases.delete_user.execute(username="cached")
        elif how == "revoke everyone":
            await a.use_cases.revoke_all_sessions.execute()
        else:  # `sessionauth disable-user`: a store of its own, without a cache
            [operator] = await open_instances(migrated_database_url, 1, cache=False)
            await operator.use_cases.disable_user.execute(username="cached")
            await operator.store.close()
        # this instance at once, once the change has returned; the other one by notification
        with pytest.raises(NotAuthenticated):
            await a.use_cases.resolve_session.execute(token=result.token)
        assert await gone_within(b, result.token, PROPAGATION)
    finally:
        for instance in (a, b):
            await instance.store.close()


async def test_a_session_the_limit_ends_stops_being_served_by_every_instance(
    limited_pair,
):
    a, b = limited_pair
    await a.use_cases.sign_up.execute(username="lru", password=PASSWORD)
    oldest = await a.use_cases.login.execute(username="lru", password=PASSWORD)
    for instance in (a, b):
        await instance.use_cases.resolve_session.execute(token=oldest.token)
        await instance.use_cases.resolve_session.execute(token=oldest.token)
    for _ in range(3):
        await a.use_cases.login.execute(username="lru", password=PASSWORD)
    with pytest.raises(NotAuthenticated):
        await a.use_cases.resolve_session.execute(token=oldest.token)
    assert await gone_within(b, oldest.token, PROPAGATION)


async def test_deleting_a_user_deletes_its_link_tokens_and_mail(pair, migrated_database_url):
    a, _ = pair
    user = await a.use_cases.sign_up.execute(username="leaving", password=PASSWORD)
    other = await a.use_cases.sign_up.execute(username="staying", password=PASSWORD)
    connection = await asyncpg.connect(migrated_database_url)
    try:
        for owner in (user, other):
            await connection.execute(
                "INSERT INTO account_tokens (token_hash, purpose, user_id, created_at, expires_at)"
                " VALUES ($1, 'reset_password', $2, now(), now() + interval '15 minutes')",
                uuid.uuid4().bytes * 2,
                uuid.UUID(owner.id),
            )
            await connection.execute(
                "INSERT INTO mail_outbox (id, kind, recipient, subject, user_id, created_at,"
                " next_attempt_at) VALUES ($1, 'password_reset', 'x@example.com', 's', $2, now(), now())",
                uuid.uuid4(),
                uuid.UUID(owner.id),
            )
        await a.use_cases.delete_user.execute(username="leaving")
        for table in ("account_tokens", "mail_outbox"):
            owners = await connection.fetch(f"SELECT user_id FROM {table}")  # noqa: S608
            assert [str(row["user_id"]) for row in owners] == [other.id]
    finally:
        await connection.close()
