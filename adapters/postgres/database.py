"""The connection pool, its lifecycle, and the translation of connection failures."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from adapters.postgres.repositories import (
    PostgresAttemptCounter,
    PostgresSessionRepository,
    PostgresUserRepository,
)
from adapters.postgres.revocations import RevocationListener
from adapters.session_cache import CachedSessionRepository, CachedUserRepository
from adapters.system import SystemClock
from domain.errors import StoreUnavailable
from domain.ports import SessionRepository, Store, UserRepository
from domain.schema import SchemaStatus

log = logging.getLogger("sessionauth.postgres")

# Everything that means "the server cannot be reached or went away", as opposed to a bug.
UNAVAILABLE = (
    OSError,  # refused, reset, unreachable (ConnectionError is a subclass)
    TimeoutError,  # connect, acquire or statement took longer than the configured timeout
    asyncpg.PostgresConnectionError,  # includes CannotConnectNow (starting up or shutting down)
    asyncpg.exceptions.OperatorInterventionError,  # admin or crash shutdown, terminated backend
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,  # e.g. "connection is closed" (a connection lost mid-query)
    # What asyncpg raises when a pooled connection receives the server's termination notice while
    # idle and is then used: seen here after pg_terminate_backend.
    asyncpg.exceptions.InternalClientError,
    # The server answers but will not let us in (wrong password, no such database): to requests
    # this is the same outage, and it must not turn into a 500.
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
)


# What says our code is wrong, not that Postgres is away: retrying will not help, so it is not
# a 503 but goes up as the bug it is, a 500 logged with its traceback. asyncpg reports a value it
# cannot encode as DataError (a PostgresError; a second, client-side DataError in its _base module
# is an InterfaceError and a ValueError), and a misconfigured client or a feature one side lacks as
# these InterfaceErrors.
NOT_AN_OUTAGE = (
    asyncpg.DataError,
    ValueError,
    TypeError,
    asyncpg.ClientConfigurationError,
    asyncpg.UnsupportedClientFeatureError,
    asyncpg.UnsupportedServerFeatureError,
)


def is_outage(error: BaseException) -> bool:
    return isinstance(error, UNAVAILABLE) and not isinstance(error, NOT_AN_OUTAGE)


def redacted_dsn(dsn: str) -> str:
    """The URL without its password, for messages and logs. asyncpg also takes the password as a
    query parameter (`?password=...`), so that is hidden too; a URL that does not parse is not
    shown at all, since we cannot tell where its password is."""
    try:
        parts = urlsplit(dsn)
        password = parts.password
    except ValueError:
        return "<unparsable database URL>"
    if password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any("password" in key.lower() for key, _ in query):
        hidden = [(key, "***" if "password" in key.lower() else value) for key, value in query]
        parts = parts._replace(query=urlencode(hidden, safe="*"))
    return urlunsplit(parts)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to reset between uses: this adapter never changes session state (no SET, no LISTEN
    on pooled connections, advisory locks only per transaction), and asyncpg still rolls back an
    open transaction itself. The default reset costs a round trip on every release."""


class PostgresStore(Store):
    """Owns the asyncpg pool. `open` connects nothing yet (min_size 0 by default), so the service
    starts, and answers 503, while Postgres is down, and recovers by itself when it is back."""

    shared = True

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 0,
        max_size: int = 10,
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
        session_cache_for: timedelta | None = None,
    ) -> None:
        """`session_cache_for`: cache resolved sessions while their last use is that recent
        (the session policy's touch interval); None: no cache, one query per resolve."""
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._unavailable_since: float | None = None  # time.monotonic() of an outage's start
        self.users: UserRepository = PostgresUserRepository(self)
        self.sessions: SessionRepository = PostgresSessionRepository(self)
        self.attempts = PostgresAttemptCounter(self)
        self._listener: RevocationListener | None = None
        if session_cache_for is not None:
            self.sessions = cache = CachedSessionRepository(
                self.sessions, SystemClock(), session_cache_for
            )
            self.users = CachedUserRepository(self.users, cache)
            self._listener = RevocationListener(dsn, self.sessions, connect_timeout)

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._connect_timeout,
                command_timeout=self._command_timeout,
                max_inactive_connection_lifetime=60,
                reset=_keep_session,
            )
        except UNAVAILABLE:
            raise StoreUnavailable() from None
        if self._listener is not None:
            self._listener.start()

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self._command_timeout)
            except (TimeoutError, *UNAVAILABLE):
                pool.terminate()

    async def migrate(self) -> list[str]:
        # Imported here: the migrations module takes UNAVAILABLE from this one.
        from adapters.postgres.migrate import apply_migrations

        return await apply_migrations(self._dsn)

    async def schema_status(self) -> SchemaStatus:
        from adapters.postgres.migrate import schema_status

        return await schema_status(self._dsn, connect_timeout=self._connect_timeout)

    def describe(self) -> str:
        return f"PostgreSQL at {redacted_dsn(self._dsn)}"

    async def ping(self) -> bool:
        """Never raises: readiness probes ask often and must get an answer, bounded in time."""
        budget = min(2.0, self._command_timeout)
        try:
            async with asyncio.timeout(self._connect_timeout + budget):
                async with self.connection() as connection:
                    await connection.fetchval("SELECT 1", timeout=budget)
        except Exception:  # noqa: BLE001 - StoreUnavailable, or anything unforeseen: not ready either way
            return False
        return True

    async def device_key(self) -> bytes:
        async with self.connection() as connection:
            await connection.execute(
                "INSERT INTO device_keys (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                secrets.token_bytes(32),
            )
            key: bytes = await connection.fetchval("SELECT key FROM device_keys WHERE id = 1")
            return key

    async def device_keys(self) -> tuple[bytes, ...]:
        return (await self.device_key(),)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[PoolConnectionProxy[asyncpg.Record]]:
        """A pooled connection; any failure to reach Postgres, while acquiring or while using it,
        becomes StoreUnavailable (which names neither the server nor the SQL)."""
        if self._pool is None:
            raise StoreUnavailable()
        try:
            async with self._pool.acquire(timeout=self._connect_timeout) as connection:
                yield connection
            if self._unavailable_since is not None:
                self._available()
        except UNAVAILABLE as error:
            if not is_outage(error):
                raise
            await self._unavailable(error)

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        """One statement on a pooled connection: the hot path's shorter way to `connection()`."""
        if self._pool is None:
            raise StoreUnavailable()
        try:
            # Not Pool.fetchrow: it waits for a free connection without a time limit. Nor
            # acquire(timeout=...), which wraps every acquire in a task of its own: one timer for
            # the wait and the statement is far cheaper on the path every request takes.
            async with asyncio.timeout(self._connect_timeout + self._command_timeout):
                async with self._pool.acquire() as connection:
                    row = await connection.fetchrow(query, *args)
            if self._unavailable_since is not None:
                self._available()
            return row
        except UNAVAILABLE as error:
            if not is_outage(error):
                raise
            await self._unavailable(error)

    async def _unavailable(self, error: BaseException) -> NoReturn:
        # An outage is logged as two transitions, its start here and its end in _available, not
        # once per request that meets it: hundreds a second would bury everything else.
        if self._unavailable_since is None:
            self._unavailable_since = time.monotonic()
            log.warning("store unavailable", extra={"cause": type(error).__name__})
        # A lost connection means its siblings most likely died with it (a restart, a cut):
        # replace them all on next use instead of failing once per connection. A timeout does
        # not: a busy pool or a slow statement says nothing about the other connections, and
        # reconnecting them all would add load just when there is too much (asyncpg itself
        # drops a connection whose statement timed out and could not be cancelled).
        if self._pool is not None and not isinstance(error, TimeoutError):
            await self._pool.expire_connections()
        raise StoreUnavailable() from None

    def _available(self) -> None:
        """Postgres answered again (a statement ran, a block of work ended without an error of
        its): the outage's end, logged with how long it lasted."""
        if self._unavailable_since is None:
            return
        lasted = time.monotonic() - self._unavailable_since
        self._unavailable_since = None
        # At warning, as its start: a LOG_LEVEL that shows the one shows the other.
        log.warning("store available again", extra={"unavailable_seconds": round(lasted, 3)})
