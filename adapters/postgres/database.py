"""The connection pool, its lifecycle, and the translation of connection failures."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from time import perf_counter
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
from domain.errors import OutageCause, StoreUnavailable
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


# A write refused because the server takes none (a standby that a failover left behind, or
# default_transaction_read_only): to a request this is an outage too, a 503 rather than a 500,
# and the pool's connections are replaced, so that a name that now points at the new primary is
# followed. Only on the request paths (the pool's); migrations keep their own rules.
READ_ONLY = asyncpg.ReadOnlySQLTransactionError

# The cause of an outage by the error's type, first match; TimeoutError is told apart by where it
# happened (see PostgresStore._cause), and anything else in UNAVAILABLE is UNREACHABLE.
_CAUSES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], OutageCause], ...] = (
    (READ_ONLY, OutageCause.READ_ONLY),
    (asyncpg.TooManyConnectionsError, OutageCause.TOO_MANY_CONNECTIONS),
    (
        (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError),
        OutageCause.REJECTED,
    ),
)


def _ignore(seconds: float) -> None:
    pass


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
        on_acquire: Callable[[float], None] | None = None,
    ) -> None:
        """`session_cache_for`: cache resolved sessions while their last use is that recent
        (the session policy's touch interval); None: no cache, one query per resolve.
        `on_acquire`: told how many seconds each request waited for a pooled connection (a new
        connection's set-up included, a wait that failed too): the metrics' histogram, kept
        without this adapter knowing about Prometheus."""
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._acquired = on_acquire or _ignore
        self._pool: asyncpg.Pool | None = None
        self.users: UserRepository = PostgresUserRepository(self)
        self.sessions: SessionRepository = PostgresSessionRepository(self)
        self.attempts = PostgresAttemptCounter(self)
        self._listener: RevocationListener | None = None
        self.session_cache: CachedSessionRepository | None = None
        if session_cache_for is not None:
            self.sessions = self.session_cache = cache = CachedSessionRepository(
                self.sessions, SystemClock(), session_cache_for
            )
            self.users = CachedUserRepository(self.users, cache)
            self._listener = RevocationListener(dsn, cache, connect_timeout)

    @property
    def pool_size(self) -> int:
        """The most connections the pool opens (DATABASE_POOL_SIZE)."""
        return self._max_size

    @property
    def pool_in_use(self) -> int:
        """Connections lent to a request now. Read by the metrics at scrape time, from another
        thread: asyncpg's counts only read its connection holders, never change them."""
        pool = self._pool
        return 0 if pool is None else pool.get_size() - pool.get_idle_size()

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
        except UNAVAILABLE as error:
            raise StoreUnavailable(self._cause(error, acquiring=False)) from None
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
            raise StoreUnavailable(OutageCause.NOT_OPEN)
        started, acquiring = perf_counter(), True
        try:
            async with self._pool.acquire(timeout=self._connect_timeout) as connection:
                acquiring = False
                self._acquired(perf_counter() - started)
                yield connection
        except (*UNAVAILABLE, READ_ONLY) as error:
            if not (is_outage(error) or isinstance(error, READ_ONLY)):
                raise
            if acquiring:
                self._acquired(perf_counter() - started)
            await self._unavailable(error, acquiring)

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        """One statement on a pooled connection: the hot path's shorter way to `connection()`."""
        if self._pool is None:
            raise StoreUnavailable(OutageCause.NOT_OPEN)
        started, acquiring = perf_counter(), True
        try:
            # Not Pool.fetchrow: it waits for a free connection without a time limit. Nor
            # acquire(timeout=...), which wraps every acquire in a task of its own: one timer for
            # the wait and the statement is far cheaper on the path every request takes.
            async with asyncio.timeout(self._connect_timeout + self._command_timeout):
                async with self._pool.acquire() as connection:
                    acquiring = False
                    self._acquired(perf_counter() - started)
                    return await connection.fetchrow(query, *args)
        except (*UNAVAILABLE, READ_ONLY) as error:
            if not (is_outage(error) or isinstance(error, READ_ONLY)):
                raise
            if acquiring:
                self._acquired(perf_counter() - started)
            await self._unavailable(error, acquiring)

    def _cause(self, error: BaseException, acquiring: bool) -> OutageCause:
        if isinstance(error, TimeoutError):
            # While acquiring, a timeout is either the wait for a free connection (every one is
            # lent out) or the set-up of a new one; once acquired, a statement's.
            pool = self._pool
            exhausted = (
                pool is not None and pool.get_idle_size() == 0 and pool.get_size() >= self._max_size
            )
            return OutageCause.POOL_EXHAUSTED if acquiring and exhausted else OutageCause.TIMEOUT
        for kinds, cause in _CAUSES:
            if isinstance(error, kinds):
                return cause
        return OutageCause.UNREACHABLE

    async def _unavailable(self, error: BaseException, acquiring: bool) -> NoReturn:
        cause = self._cause(error, acquiring)
        log.warning("postgres unavailable", extra={"error": type(error).__name__})
        # A lost connection means its siblings most likely died with it (a restart, a cut):
        # replace them all on next use instead of failing once per connection. A timeout does
        # not: a busy pool or a slow statement says nothing about the other connections, and
        # reconnecting them all would add load just when there is too much (asyncpg itself
        # drops a connection whose statement timed out and could not be cancelled).
        if self._pool is not None and not isinstance(error, TimeoutError):
            await self._pool.expire_connections()
        raise StoreUnavailable(cause) from None
