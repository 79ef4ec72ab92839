"""The connection pool, its lifecycle, and the translation of connection failures."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from time import perf_counter
from typing import NoReturn
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from adapters.postgres.account_tokens import PostgresAccountTokenRepository
from adapters.postgres.factors import PostgresChallengeRepository, PostgresFactorRepository
from adapters.postgres.outbox import PostgresOutbox
from adapters.postgres.repositories import (
    PostgresAttemptCounter,
    PostgresSessionRepository,
    PostgresUserRepository,
)
from adapters.postgres.revocations import RevocationListener
from adapters.session_cache import (
    CachedFactorRepository,
    CachedSessionRepository,
    CachedUserRepository,
)
from adapters.system import SystemClock
from domain.errors import OutageCause, StoreMisconfigured, StoreUnavailable
from domain.ports import FactorRepository, SessionRepository, Store, UserRepository
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
    # A write on a hot standby, or with default_transaction_read_only=on: during a fail-over the
    # address may lead to a standby until it is promoted, so this is waited out like an outage.
    asyncpg.ReadOnlySQLTransactionError,
)

# What the server answers to a login it will never accept as configured (InvalidPasswordError is
# an InvalidAuthorizationSpecificationError): at start a configuration error, since waiting will
# not help; to a request an outage like any other (UNAVAILABLE has them too).
MISCONFIGURED = (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError)
# What asyncpg raises for a URL it cannot parse, before it tries to connect
# (ClientConfigurationError, for an unknown sslmode say, is a ValueError).
MALFORMED = (ValueError, TypeError, OverflowError)


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


def outage_cause(error: BaseException) -> OutageCause:
    """The cause by the error's type alone (a timeout is TIMEOUT here; the pool tells an
    exhausted pool apart, see PostgresStore._cause)."""
    if isinstance(error, TimeoutError):
        return OutageCause.TIMEOUT
    for kinds, cause in _CAUSES:
        if isinstance(error, kinds):
            return cause
    return OutageCause.UNREACHABLE


def _ignore(seconds: float) -> None:
    pass


def redacted_dsn(dsn: str) -> str:
    """The URL without its password, for messages and logs. asyncpg also takes the password as a
    query parameter (`?password=...`), so that is hidden too; a URL that does not parse is not
    shown at all, since we cannot tell where its password is. Nor is one with an `@` after its
    host part: a password holding an unencoded `/`, `?` or `#` ends the host part early, and
    the rest of it would be shown as the path, query or fragment."""
    try:
        parts = urlsplit(dsn)
        password = parts.password
    except ValueError:
        return "<unparsable database URL>"
    if "@" in dsn.partition(parts.netloc)[2]:
        return "<unparsable database URL>"
    if password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any("password" in key.lower() for key, _ in query):
        hidden = [(key, "***" if "password" in key.lower() else value) for key, value in query]
        parts = parts._replace(query=urlencode(hidden, safe="*"))
    return urlunsplit(parts)


def _passwords(dsn: str) -> list[str]:
    """Every string that may be the URL's password, as written and decoded, longest first: what
    lies between the user's `:` and each `@` (a password may hold an unencoded `@`, `/`...,
    which parsers read differently), and `password` query parameters."""
    after_scheme = dsn.partition("//")[2]
    written = [after_scheme[:at].partition(":")[2] for at, c in enumerate(after_scheme) if c == "@"]
    with suppress(ValueError):  # a query that does not parse holds no parameter
        written += [
            v
            for k, v in parse_qsl(urlsplit(dsn).query, keep_blank_values=True)
            if "password" in k.lower()
        ]
    return sorted({form for w in written if w for form in (w, unquote(w))}, key=len, reverse=True)


def hide_password(text: str, dsn: str) -> str:
    for password in _passwords(dsn):
        text = text.replace(password, "***")
    return text


def _malformed(dsn: str, error: BaseException) -> str:
    """What is wrong with a URL asyncpg could not parse, without echoing any of it: a "port"
    may well be the tail of a password with an unencoded `/` or `@` in it."""
    if isinstance(error, asyncpg.ClientConfigurationError):  # an option's value, never the password
        return hide_password(str(error), dsn)
    try:
        hosts = urlsplit(dsn).netloc.rpartition("@")[2]
    except ValueError:
        return "it is not a valid URL"
    for host in hosts.split(","):
        port = (
            host.rpartition("]")[2].partition(":")[2]
            if host.startswith("[")
            else host.partition(":")[2]
        )
        if port and not port.isdigit():
            return (
                "a port is not a number (a password holding '/', '?', '#' or '@' must be "
                "percent-encoded)"
            )
        if port and not 0 < int(port) < 65536:
            return "a port is not between 1 and 65535"
    return f"asyncpg cannot read it ({type(error).__name__})"


def cause_of(error: BaseException, dsn: str) -> str:
    """Why the store could not be used, for the operator's log: the server's own message where
    there is one (never a password: the server does not know it, and the URL's is hidden)."""
    if isinstance(error, MALFORMED) and not isinstance(error, asyncpg.PostgresError):
        return f"the database URL is malformed: {_malformed(dsn, error)}"
    if isinstance(error, asyncpg.InvalidAuthorizationSpecificationError):
        cause = f"the server refused the role or password: {error}"
    elif isinstance(error, asyncpg.InvalidCatalogNameError):
        cause = f"no such database: {error}"
    elif isinstance(error, asyncpg.ReadOnlySQLTransactionError):
        cause = (
            "the database is read-only (a hot standby, or default_transaction_read_only=on): "
            f"{error}"
        )
    elif isinstance(error, asyncpg.InsufficientPrivilegeError):
        cause = f"the role may not change the schema: {error}"
    elif isinstance(error, TimeoutError):
        cause = "no answer in time"
    else:
        cause = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return hide_password(cause, dsn)


async def connect(dsn: str, connect_timeout: float) -> asyncpg.Connection:
    """A connection of its own (not the pool's). A URL asyncpg cannot parse, a wrong role or
    password and a database that does not exist raise StoreMisconfigured; an outage
    StoreUnavailable; both with their cause."""
    try:
        return await asyncpg.connect(dsn, timeout=connect_timeout)
    except (*MISCONFIGURED, *MALFORMED) as error:
        raise StoreMisconfigured(cause_of(error, dsn)) from None
    except UNAVAILABLE as error:
        raise StoreUnavailable(outage_cause(error), cause_of(error, dsn)) from None


# Readiness probes wait at most this long for the store (seconds): Kubernetes' default probe
# timeout is one second, and a probe that times out counts as a failure anyway.
READINESS_BUDGET = 0.5
# Whether the server takes writes: false on a hot standby and with
# default_transaction_read_only=on, where every login would fail.
_WRITABLE = "SELECT current_setting('transaction_read_only') = 'off'"


class ReadinessCheck:
    """Whether the store answers and takes writes, asked on one connection of its own, so that
    a probe never queues behind requests for the pool. Probes that arrive together share one
    check; each waits for it at most READINESS_BUDGET seconds. A check that takes longer goes on
    (a slow network still gets its connection made) and the next probe joins it."""

    def __init__(self, dsn: str, timeout: float) -> None:
        self._dsn = dsn
        self._timeout = timeout
        self._budget = min(READINESS_BUDGET, timeout)
        self._connection: asyncpg.Connection | None = None
        self._running: asyncio.Task[bool] | None = None

    async def ask(self) -> bool:
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._check(), name="sessionauth-readiness")
        check = self._running
        await asyncio.wait({check}, timeout=self._budget)
        return check.done() and not check.cancelled() and check.result()

    async def _check(self) -> bool:
        # A connection kept from an earlier check may have died since (a restart, a cut): then
        # once more on a new one, which is what the next check would do anyway.
        for _ in range(2):
            kept = self._connection is not None
            try:
                if self._connection is None:
                    self._connection = await asyncpg.connect(self._dsn, timeout=self._timeout)
                return bool(await self._connection.fetchval(_WRITABLE, timeout=self._timeout))
            except Exception:  # noqa: BLE001 - unreachable, refused, timed out: not ready either way
                self._drop()
                if not kept:
                    return False
        return False

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()

    async def close(self) -> None:
        if self._running is not None:
            self._running.cancel()
            await asyncio.gather(self._running, return_exceptions=True)
        self._drop()


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
        self._readiness = ReadinessCheck(dsn, connect_timeout)
        self._unavailable_since: float | None = None  # time.monotonic() of an outage's start
        self.users: UserRepository = PostgresUserRepository(self)
        self.sessions: SessionRepository = PostgresSessionRepository(self)
        self.attempts = PostgresAttemptCounter(self)
        self.outbox = PostgresOutbox(self)
        self.tokens = PostgresAccountTokenRepository(self)
        self.factors: FactorRepository = PostgresFactorRepository(self)
        self.challenges = PostgresChallengeRepository(self)
        self._listener: RevocationListener | None = None
        self.session_cache: CachedSessionRepository | None = None
        if session_cache_for is not None:
            self.sessions = self.session_cache = cache = CachedSessionRepository(
                self.sessions, SystemClock(), session_cache_for
            )
            self.users = CachedUserRepository(self.users, cache)
            self.factors = CachedFactorRepository(self.factors, cache)
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
            raise StoreUnavailable(
                self._cause(error, acquiring=False), cause_of(error, self._dsn)
            ) from None
        if self._listener is not None:
            self._listener.start()

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
        await self._readiness.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self._command_timeout)
            except (TimeoutError, *UNAVAILABLE):
                pool.terminate()

    async def migrate(self) -> list[str]:
        # Imported here: the migrations module takes UNAVAILABLE from this one.
        from adapters.postgres.migrate import apply_migrations

        return await apply_migrations(self._dsn, connect_timeout=self._connect_timeout)

    async def schema_status(self) -> SchemaStatus:
        from adapters.postgres.migrate import schema_status

        return await schema_status(self._dsn, connect_timeout=self._connect_timeout)

    def describe(self) -> str:
        return f"PostgreSQL at {redacted_dsn(self._dsn)}"

    async def ping(self) -> bool:
        """On a connection of its own, not the pool's (see ReadinessCheck)."""
        if self._pool is None:
            return False
        return await self._readiness.ask()

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

    async def sealing_key(self) -> bytes:
        async with self.connection() as connection:
            await connection.execute(
                "INSERT INTO sealing_keys (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                secrets.token_bytes(32),
            )
            key: bytes = await connection.fetchval("SELECT key FROM sealing_keys WHERE id = 1")
            return bytes(key)

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
            if self._unavailable_since is not None:
                self._available()
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
                    row = await connection.fetchrow(query, *args)
            if self._unavailable_since is not None:
                self._available()
            return row
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
        return outage_cause(error)

    async def _unavailable(self, error: BaseException, acquiring: bool) -> NoReturn:
        cause = self._cause(error, acquiring)
        detail = cause_of(error, self._dsn)
        # An outage is logged as two transitions, its start here and its end in _available, not
        # once per request that meets it: hundreds a second would bury everything else.
        if self._unavailable_since is None:
            self._unavailable_since = time.monotonic()
            log.warning("store unavailable", extra={"cause": cause.value, "detail": detail})
        # A lost connection means its siblings most likely died with it (a restart, a cut):
        # replace them all on next use instead of failing once per connection. A timeout does
        # not: a busy pool or a slow statement says nothing about the other connections, and
        # reconnecting them all would add load just when there is too much (asyncpg itself
        # drops a connection whose statement timed out and could not be cancelled).
        if self._pool is not None and not isinstance(error, TimeoutError):
            await self._pool.expire_connections()
        raise StoreUnavailable(cause, detail) from None

    def _available(self) -> None:
        """Postgres answered again (a statement ran, a block of work ended without an error of
        its): the outage's end, logged with how long it lasted."""
        if self._unavailable_since is None:
            return
        lasted = time.monotonic() - self._unavailable_since
        self._unavailable_since = None
        # At warning, as its start: a LOG_LEVEL that shows the one shows the other.
        log.warning("store available again", extra={"unavailable_seconds": round(lasted, 3)})
