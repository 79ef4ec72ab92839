"""Versioned `.sql` migrations, applied in one transaction under an advisory lock, each checked
against the SHA-256 of the file it was applied from."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

from adapters.postgres.database import UNAVAILABLE, cause_of, connect, is_outage, outage_cause
from domain.errors import MigrationChanged, StoreMisconfigured, StoreUnavailable
from domain.schema import MigrationState, SchemaStatus

MIGRATION_LOCK = 0x5E55_1017_0001  # every instance agrees on this key

# Whether the table has the checksum column yet (migration 0007 adds it); no table: false.
HAS_CHECKSUMS = (
    "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('schema_migrations')"
    " AND attname = 'checksum' AND NOT attisdropped)"
)


def _files() -> list[Traversable]:
    folder = resources.files("adapters.postgres").joinpath("migrations")
    return sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)


def migrations() -> list[tuple[str, str]]:
    """(version, sql) in order, read from the installed package (works from a wheel too)."""
    return [(f.name.removesuffix(".sql"), f.read_text("utf-8")) for f in _files()]


def checksums() -> dict[str, str]:
    """Each shipped migration's version and the SHA-256 (hex) of its file's bytes."""
    return {
        f.name.removesuffix(".sql"): hashlib.sha256(f.read_bytes()).hexdigest() for f in _files()
    }


def status_of(applied: dict[str, str | None], shipped: dict[str, str]) -> SchemaStatus:
    """`applied`: version -> stored checksum (None: applied before checksums were kept, taken as
    the shipped file); `shipped`: version -> the file's checksum."""
    states = []
    for version in sorted(applied.keys() | shipped.keys()):
        if version not in shipped:
            states.append((version, MigrationState.UNKNOWN))
        elif version not in applied:
            states.append((version, MigrationState.PENDING))
        elif applied[version] not in (None, shipped[version]):
            states.append((version, MigrationState.CHANGED))
        else:
            states.append((version, MigrationState.APPLIED))
    return SchemaStatus(tuple(states))


@asynccontextmanager
async def _connection(dsn: str, connect_timeout: float) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own (not the pool's), with an outage raised as StoreUnavailable and
    a role that may not change the schema as StoreMisconfigured, each with its cause."""
    connection = await connect(dsn, connect_timeout)
    try:
        yield connection
    except asyncpg.InsufficientPrivilegeError as error:
        raise StoreMisconfigured(cause_of(error, dsn)) from None
    except UNAVAILABLE as error:
        if not is_outage(error):
            raise
        raise StoreUnavailable(outage_cause(error), cause_of(error, dsn)) from None
    finally:
        if not connection.is_closed():
            connection.terminate() if connection.is_in_transaction() else await connection.close(
                timeout=connect_timeout
            )


async def _applied(connection: asyncpg.Connection) -> dict[str, str | None]:
    if await connection.fetchval("SELECT to_regclass('schema_migrations') IS NULL"):
        return {}
    if await connection.fetchval(HAS_CHECKSUMS):
        rows = await connection.fetch("SELECT version, checksum FROM schema_migrations")
        return {r["version"]: r["checksum"] for r in rows}
    return {
        r["version"]: None for r in await connection.fetch("SELECT version FROM schema_migrations")
    }


async def apply_migrations(dsn: str, *, connect_timeout: float = 5.0) -> list[str]:
    """Apply pending migrations; return the versions applied. Instances starting together queue
    on the lock: the first applies, the others then find nothing to do. An applied migration
    whose file changed stops everything (MigrationChanged) before anything is applied."""
    shipped = checksums()
    sql = dict(migrations())
    async with _connection(dsn, connect_timeout) as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = await _applied(connection)
        status = status_of(applied, shipped)
        if changed := status.having(MigrationState.CHANGED):
            raise MigrationChanged(f"{changed[0]}.sql")
        pending = status.having(MigrationState.PENDING)
        for version in pending:
            await connection.execute(sql[version])
            await connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        # What was just applied, and what was applied before checksums were kept, gets its
        # checksum now (from the same files, as they have not changed since: nothing else edits
        # them in place without a new version).
        unsummed = [v for v in shipped if v in pending or (v in applied and applied[v] is None)]
        if unsummed and await connection.fetchval(HAS_CHECKSUMS):
            await connection.executemany(
                "UPDATE schema_migrations SET checksum = $2 WHERE version = $1",
                [(v, shipped[v]) for v in unsummed],
            )
    return list(pending)


async def schema_status(dsn: str, *, connect_timeout: float = 5.0) -> SchemaStatus:
    """Each migration's state, read without the lock and without changing anything."""
    async with _connection(dsn, connect_timeout) as connection:
        return status_of(await _applied(connection), checksums())
