"""On a shared Postgres only one instance purges expired sessions at a time (an advisory
try-lock): the others are told so, rather than reporting that nothing had expired."""

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from adapters.postgres.repositories import PURGE_LOCK
from domain.errors import PurgeInProgress
from tests.processes import run_cli


async def holding_the_purge_lock(url: str) -> asyncpg.Connection:
    """A second connection that takes the lock as another instance's purge would."""
    other = await asyncpg.connect(url)
    assert await other.fetchval("SELECT pg_try_advisory_lock($1)", PURGE_LOCK)
    return other


async def test_a_purge_while_another_holds_the_lock_says_so(pg_store, migrated_database_url):
    other = await holding_the_purge_lock(migrated_database_url)
    try:
        with pytest.raises(PurgeInProgress):
            await pg_store.sessions.purge_expired(datetime.now(UTC), timedelta(minutes=30))
    finally:
        await other.close()
    assert await pg_store.sessions.purge_expired(datetime.now(UTC), timedelta(minutes=30)) == 0


async def test_the_command_says_another_instance_is_purging(migrated_database_url):
    other = await holding_the_purge_lock(migrated_database_url)
    try:
        result = run_cli("purge-expired", DATABASE_URL=migrated_database_url)
    finally:
        await other.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "another instance is purging expired sessions now; this one purged nothing"
    )
