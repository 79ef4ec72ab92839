"""The Postgres adapter against a real server: migrations, races, outages and recovery."""

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from adapters.postgres import PostgresStore, apply_migrations, redacted_dsn
from adapters.system import SecretsTokenGenerator
from application import SignUp, Throttle
from domain.errors import StoreUnavailable, UsernameTaken
from domain.throttle import ThrottlePolicy
from domain.user import PasswordPolicy
from tests.fakes import FakeClock, FastPasswordHasher, RecordingAuditLog
from tests.postgres_provider import truncate_all

NOWHERE = "postgresql://app:hunter2@127.0.0.1:9/nowhere"


async def test_concurrent_migrations_apply_each_version_once(database_url):
    results = await asyncio.gather(*(apply_migrations(database_url) for _ in range(5)))
    applied = [versions for versions in results if versions]
    assert len(applied) == 1 and applied[0] == sorted(applied[0])
    assert await apply_migrations(database_url) == []
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT version, count(*) AS n FROM schema_migrations GROUP BY version")
    finally:
        await connection.close()
    assert {r["version"] for r in rows} == set(applied[0]) and all(r["n"] == 1 for r in rows)


async def test_concurrent_sign_ups_of_one_name_make_exactly_one_user(pg_store):
    policy = ThrottlePolicy(timedelta(minutes=1), 0, 0, 0, 0)
    sign_up = SignUp(
        pg_store.users, FastPasswordHasher(), FakeClock(), SecretsTokenGenerator(), PasswordPolicy(),
        Throttle(pg_store.attempts, FakeClock(), policy), RecordingAuditLog(),
    )
    names = ["racer", "RACER", "Racer", "ｒａｃｅｒ"] * 5
    results = await asyncio.gather(
        *(sign_up.execute(username=n, password="correct horse battery") for n in names), return_exceptions=True
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, UsernameTaken) for r in results if r not in winners)
    assert (await pg_store.users.get_by_username("racer")).id == winners[0].id


async def test_an_unreachable_server_is_store_unavailable_quickly_and_not_ready():
    store = PostgresStore(NOWHERE, connect_timeout=2)
    await asyncio.wait_for(store.open(), 30)  # opening connects nothing yet
    try:
        with pytest.raises(StoreUnavailable) as error:
            await asyncio.wait_for(store.users.get_by_username("alice"), 30)
        assert "hunter2" not in str(error.value) and "nowhere" not in str(error.value)
        assert await asyncio.wait_for(store.ping(), 30) is False
    finally:
        await store.close()
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(apply_migrations(NOWHERE), 30)


def test_redacted_dsn_hides_only_the_password():
    assert redacted_dsn(NOWHERE) == "postgresql://app:***@127.0.0.1:9/nowhere"
    assert redacted_dsn("postgresql://postgres@db/x") == "postgresql://postgres@db/x"


async def test_the_pool_recovers_by_itself_after_its_connections_are_killed(pg_store, migrated_database_url):
    await asyncio.gather(*(pg_store.users.get_by_username(f"u{i}") for i in range(10)))  # warm several
    admin = await asyncpg.connect(migrated_database_url)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    failures = 0
    for _ in range(5):
        try:
            await pg_store.users.get_by_username("alice")
        except StoreUnavailable:
            failures += 1
    assert failures <= 1  # at most the first call sees the cut; the pool then replaces the rest
    assert await pg_store.ping()
    await truncate_all(migrated_database_url)
