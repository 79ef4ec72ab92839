"""Security notices on real Postgres: a notice is in mail_outbox exactly when the change it
reports is stored, because both are written in one transaction."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg
import pytest

from adapters.postgres import PostgresStore
from domain.client import Client
from domain.errors import InvalidCredentials
from tests.constants import PASSWORD
from tests.fakes import FastPasswordHasher
from tests.postgres_provider import truncate_all
from tests.wiring import Wired

ADDRESS = "alice@example.com"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(params=[True, False], ids=["cache", "no-cache"])
async def store(request, migrated_database_url):
    await truncate_all(migrated_database_url)
    store = PostgresStore(
        migrated_database_url,
        max_size=10,
        session_cache_for=timedelta(minutes=1) if request.param else None,
    )
    await store.open()
    if request.param:
        await asyncio.wait_for(store._listener.connected.wait(), 10)
    yield store
    await store.close()


@asynccontextmanager
async def connection(url: str):
    c = await asyncpg.connect(url, timeout=10)
    try:
        yield c
    finally:
        await c.close()


async def alice(wired: Wired, url: str) -> str:
    user = await wired.use_cases.sign_up.execute(username="alice", password=PASSWORD)
    async with connection(url) as c:  # what email verification leaves behind (built elsewhere)
        await c.execute(
            "UPDATE users SET email = $2, email_verified = true WHERE id = $1", user.id, ADDRESS
        )
    return user.id


async def outbox(url: str) -> list[asyncpg.Record]:
    async with connection(url) as c:
        return await c.fetch("SELECT kind, recipient, user_id::text, body_text FROM mail_outbox")


async def session_count(url: str) -> int:
    async with connection(url) as c:
        return await c.fetchval("SELECT count(*) FROM sessions")


@asynccontextmanager
async def failing_insert(url: str, table: str):
    """Every insert into `table` raises, as a failure in the middle of the transaction would."""
    async with connection(url) as c:
        await c.execute(
            "CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'insert refused by the test'; END $$"
        )
        await c.execute(
            f"CREATE TRIGGER refuse_insert BEFORE INSERT ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION refuse_insert()"
        )
        try:
            yield
        finally:
            await c.execute(f"DROP TRIGGER refuse_insert ON {table}")
            await c.execute("DROP FUNCTION refuse_insert()")


async def test_a_login_from_a_new_device_stores_its_notice_with_its_session(
    store, migrated_database_url
):
    wired = Wired(store)
    user_id = await alice(wired, migrated_database_url)

    await wired.use_cases.login.execute(
        username="alice",
        password=PASSWORD,
        client=Client(address="198.51.100.7", user_agent=FIREFOX),
    )

    [row] = await outbox(migrated_database_url)
    assert (row["kind"], row["recipient"], row["user_id"]) == ("new_device", ADDRESS, user_id)
    assert "Firefox 128 on Windows" in row["body_text"] and "198.51.100.7" in row["body_text"]
    assert await session_count(migrated_database_url) == 1


async def test_no_notice_is_stored_when_the_session_insert_fails(store, migrated_database_url):
    wired = Wired(store)
    await alice(wired, migrated_database_url)
    async with failing_insert(migrated_database_url, "sessions"):
        with pytest.raises(asyncpg.RaiseError):
            await wired.use_cases.login.execute(username="alice", password=PASSWORD)
    assert await outbox(migrated_database_url) == []
    assert await session_count(migrated_database_url) == 0


async def test_no_session_is_stored_when_its_notice_cannot_be_queued(store, migrated_database_url):
    wired = Wired(store)
    await alice(wired, migrated_database_url)
    async with failing_insert(migrated_database_url, "mail_outbox"):
        with pytest.raises(asyncpg.RaiseError):
            await wired.use_cases.login.execute(username="alice", password=PASSWORD)
    assert await session_count(migrated_database_url) == 0
    assert await outbox(migrated_database_url) == []


class ChangedWhileHashing(FastPasswordHasher):
    """A password change that lands while a login verifies the old password."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.armed = False

    async def verify(self, password_hash: str, password: str, *, owner: str | None = None) -> bool:
        valid = await super().verify(password_hash, password, owner=owner)
        if self.armed:
            self.armed = False
            async with connection(self.url) as c:
                await c.execute(
                    "UPDATE users SET password_hash = $1", await self.hash(NEW_PASSWORD)
                )
        return valid


async def test_a_login_that_loses_the_race_with_a_password_change_stores_no_notice(
    store, migrated_database_url
):
    hasher = ChangedWhileHashing(migrated_database_url)
    wired = Wired(store, hasher=hasher)
    await alice(wired, migrated_database_url)
    hasher.armed = True
    with pytest.raises(InvalidCredentials):
        await wired.use_cases.login.execute(username="alice", password=PASSWORD)
    assert not hasher.armed  # the change did land during the login
    assert await outbox(migrated_database_url) == []
    assert await session_count(migrated_database_url) == 0


async def test_a_password_change_stores_its_notice(store, migrated_database_url):
    wired = Wired(store)
    await alice(wired, migrated_database_url)
    result = await wired.use_cases.login.execute(username="alice", password=PASSWORD)
    current = await wired.use_cases.resolve_session.execute(token=result.token)

    await wired.use_cases.change_password.execute(
        current=current, current_password=PASSWORD, new_password=NEW_PASSWORD
    )

    kinds = sorted(row["kind"] for row in await outbox(migrated_database_url))
    assert kinds == ["new_device", "password_changed"]
