"""Applied migrations are checksummed: an edited one is refused, rows from before checksums get
theirs from the files, and a version this code does not ship is reported, never an error."""

import hashlib
from importlib import resources

import asyncpg
import pytest

from adapters.postgres import PostgresStore, apply_migrations
from adapters.postgres.migrate import migrations
from domain.errors import MigrationChanged
from domain.schema import MigrationState
from tests.postgres_provider import fresh_database

FUTURE = "9999_from_a_newer_version"


def file_sha256(version: str) -> str:
    path = resources.files("adapters.postgres").joinpath("migrations", f"{version}.sql")
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def empty_database_url(postgres_server_url):
    with fresh_database(postgres_server_url) as url:
        yield url


async def stored_checksums(url: str) -> dict[str, str | None]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT version, checksum FROM schema_migrations")
    finally:
        await connection.close()
    return {r["version"]: r["checksum"] for r in rows}


async def execute(url: str, sql: str, *args: object) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql, *args)
    finally:
        await connection.close()


async def test_each_applied_migration_keeps_the_sha256_of_its_file(empty_database_url):
    await apply_migrations(empty_database_url)
    shipped = [version for version, _ in migrations()]
    assert await stored_checksums(empty_database_url) == {v: file_sha256(v) for v in shipped}


async def test_migrations_applied_before_checksums_get_them_from_the_files(empty_database_url):
    # The database as the previous version left it: its table, and every migration before 0007.
    connection = await asyncpg.connect(empty_database_url)
    try:
        await connection.execute(
            "CREATE TABLE schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        older = [(v, sql) for v, sql in migrations() if v < "0007"]
        for version, sql in older:
            await connection.execute(sql)
            await connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
    finally:
        await connection.close()

    # 0007 and every later one: applied now, each with the checksum of its file.
    assert await apply_migrations(empty_database_url) == [v for v, _ in migrations() if v >= "0007"]
    stored = await stored_checksums(empty_database_url)
    assert stored == {v: file_sha256(v) for v, _ in migrations()}
    assert await apply_migrations(empty_database_url) == []


async def test_an_applied_migration_whose_file_changed_is_refused_naming_it(empty_database_url):
    await apply_migrations(empty_database_url)
    # What an edit of the file after it was applied looks like from the database's side.
    await execute(
        empty_database_url,
        "UPDATE schema_migrations SET checksum = $1 WHERE version = '0002_account_security'",
        hashlib.sha256(b"the file as it was applied").hexdigest(),
    )
    await execute(empty_database_url, "DELETE FROM schema_migrations WHERE version LIKE '0006%'")

    with pytest.raises(MigrationChanged) as refused:
        await apply_migrations(empty_database_url)
    assert refused.value.file == "0002_account_security.sql"
    assert "0002_account_security.sql" in str(refused.value)
    # Refused before anything ran: the pending migration is still pending.
    assert "0006_user_agent_purge" not in await stored_checksums(empty_database_url)
    status = await PostgresStore(empty_database_url).schema_status()
    assert status.having(MigrationState.CHANGED) == ("0002_account_security",)
    assert status.having(MigrationState.PENDING) == ("0006_user_agent_purge",)


async def test_a_migration_this_code_does_not_ship_is_reported_not_refused(empty_database_url):
    await apply_migrations(empty_database_url)
    await execute(
        empty_database_url,
        "INSERT INTO schema_migrations (version, checksum) VALUES ($1, 'f00d')",
        FUTURE,
    )

    assert await apply_migrations(empty_database_url) == []
    status = await PostgresStore(empty_database_url).schema_status()
    assert status.having(MigrationState.UNKNOWN) == (FUTURE,)
    assert status.version == FUTURE
    assert status.having(MigrationState.APPLIED) == tuple(v for v, _ in migrations())


async def test_the_status_of_an_empty_database_is_every_migration_pending(empty_database_url):
    status = await PostgresStore(empty_database_url).schema_status()
    assert status.migrations == tuple((v, MigrationState.PENDING) for v, _ in migrations())
    assert status.version == ""
    # Asking changed nothing: not even the table exists.
    connection = await asyncpg.connect(empty_database_url)
    try:
        assert await connection.fetchval("SELECT to_regclass('schema_migrations')") is None
    finally:
        await connection.close()
