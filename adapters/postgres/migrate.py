"""Versioned `.sql` migrations, applied in one transaction under an advisory lock."""

from __future__ import annotations

from importlib import resources

import asyncpg

from adapters.postgres.database import UNAVAILABLE, is_outage
from domain.errors import StoreUnavailable

MIGRATION_LOCK = 0x5E55_1017_0001  # every instance agrees on this key


def migrations() -> list[tuple[str, str]]:
    """(version, sql) in order, read from the installed package (works from a wheel too)."""
    folder = resources.files("adapters.postgres").joinpath("migrations")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text("utf-8")) for f in files]


async def apply_migrations(dsn: str, *, connect_timeout: float = 5.0) -> list[str]:
    """Apply pending migrations; return the versions applied. Instances starting together queue
    on the lock: the first applies, the others then find nothing to do."""
    try:
        connection = await asyncpg.connect(dsn, timeout=connect_timeout)
    except UNAVAILABLE:
        raise StoreUnavailable() from None
    try:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = {
                r["version"]
                for r in await connection.fetch("SELECT version FROM schema_migrations")
            }
            pending = [(v, sql) for v, sql in migrations() if v not in applied]
            for version, sql in pending:
                await connection.execute(sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)", version
                )
        return [version for version, _ in pending]
    except UNAVAILABLE as error:
        if not is_outage(error):
            raise
        raise StoreUnavailable() from None
    finally:
        if not connection.is_closed():
            connection.terminate() if connection.is_in_transaction() else await connection.close(
                timeout=connect_timeout
            )
