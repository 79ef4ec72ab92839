"""Repositories on asyncpg: raw SQL, `$n` parameters, explicit columns."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Protocol

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from adapters.postgres.account_tokens import DELETE_FOR_USER, insert_token
from adapters.postgres.outbox import enqueue
from domain.account_token import AccountToken, TokenPurpose
from domain.errors import EmailTaken, NotAuthenticated, PurgeInProgress, UsernameTaken
from domain.mail import MailMessage
from domain.ports import AttemptCounter, Count, SessionRepository, UserRepository
from domain.session import AuthMethod, Rotation, Session, SessionStored
from domain.user import User, Username

PURGE_LOCK = 0x5E55_1017_0002  # advisory lock: one instance purges at a time
PURGE_TIMEOUT = 600.0  # seconds

# Whole statements, not fragments formatted into queries: only $n parameters vary.
_USER_INSERT = (
    "INSERT INTO users (id, username, username_canonical, password_hash, created_at, email,"
    " email_verified, disabled) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)
_USER_BY_ID = (
    "SELECT id, username, username_canonical, password_hash, created_at, email, email_verified,"
    " disabled FROM users WHERE id = $1"
)
_USER_BY_CANONICAL = (
    "SELECT id, username, username_canonical, password_hash, created_at, email, email_verified,"
    " disabled FROM users WHERE username_canonical = $1"
)
_USER_BY_VERIFIED_EMAIL = (
    "SELECT id, username, username_canonical, password_hash, created_at, email, email_verified,"
    " disabled FROM users WHERE lower(email) = lower($1) AND email_verified"
)
_USER_SET_EMAIL = (
    "UPDATE users SET email = $2, email_verified = false WHERE id = $1"
    " RETURNING id, username, username_canonical, password_hash, created_at, email,"
    " email_verified, disabled"
)
# A verification token is consumed only while it confirms the address its user names now.
_CONSUME_VERIFY_LINK = (
    "DELETE FROM account_tokens t USING users u"
    " WHERE t.token_hash = $1 AND t.purpose = 'verify_email' AND t.expires_at > $2"
    " AND u.id = t.user_id AND u.email = t.email RETURNING t.user_id"
)
_USER_VERIFY_EMAIL = (
    "UPDATE users SET email_verified = true WHERE id = $1"
    " RETURNING id, username, username_canonical, password_hash, created_at, email,"
    " email_verified, disabled"
)
_CONSUME_RESET_LINK = (
    "DELETE FROM account_tokens"
    " WHERE token_hash = $1 AND purpose = 'reset_password' AND expires_at > $2 RETURNING user_id"
)
# Read through user_agents (each user agent is stored once; see migration 0004).
_SESSION_SELECT = (
    "SELECT s.token_hash, s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at,"
    " s.methods, a.user_agent, host(s.ip) AS ip FROM sessions s LEFT JOIN user_agents a ON a.id = s.user_agent_id"
)
# The hot path: session (with its methods: the assurance level), user agent and user by the
# token's hash, in one prepared statement.
_RESOLVE = (
    "SELECT s.token_hash, s.id, s.user_id, s.created_at, s.last_seen_at, s.expires_at,"
    " s.methods, a.user_agent, host(s.ip) AS ip, u.id AS u_id, u.username AS u_username,"
    " u.username_canonical AS u_username_canonical, u.password_hash AS u_password_hash,"
    " u.created_at AS u_created_at, u.email AS u_email, u.email_verified AS u_email_verified,"
    " u.disabled AS u_disabled"
    " FROM sessions s JOIN users u ON u.id = s.user_id"
    " LEFT JOIN user_agents a ON a.id = s.user_agent_id WHERE s.token_hash = $1"
)
# Inserted only while the user's password hash is the one the login verified and the user is not
# disabled; FOR SHARE waits for a password change or a disable in progress (each updates the user
# row first) and then sees its outcome.
_SESSION_INSERT = (
    "INSERT INTO sessions (token_hash, id, user_id, created_at, last_seen_at, expires_at, user_agent_id, ip, methods)"
    " SELECT $1, $2, u.id, $4, $5, $6, sessionauth_user_agent_id($7), $8::inet, $10"
    " FROM users u WHERE u.id = $3 AND u.password_hash = $9 AND NOT u.disabled FOR SHARE"
)
# A login within the session limit: the user row locked FOR UPDATE first, so that logins of one
# user on every instance take turns, and each later statement (a snapshot of its own, under READ
# COMMITTED) sees the sessions the previous turn stored.
_LOCK_USER_FOR_LOGIN = (
    "SELECT 1 FROM users WHERE id = $1 AND password_hash = $2 AND NOT disabled FOR UPDATE"
)
# The sessions beyond the (limit - 1) most recently used, which the new one then joins.
_EVICT = (
    "DELETE FROM sessions WHERE user_id = $1 AND id IN (SELECT id FROM sessions WHERE user_id = $1"
    " ORDER BY last_seen_at DESC, created_at DESC, id DESC OFFSET $2) RETURNING id, last_seen_at, created_at"
)

# A rotation (rotate_sessions): the kept session out, and back in under its new token hash.
_SESSION_TAKE = (
    "DELETE FROM sessions WHERE id = $2 AND user_id = $1"
    " RETURNING id, user_id, created_at, last_seen_at, expires_at, user_agent_id, ip, methods"
)
_SESSION_PUT_BACK = (
    "INSERT INTO sessions (token_hash, id, user_id, created_at, last_seen_at, expires_at,"
    " user_agent_id, ip, methods) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)

_PURGE_USER_AGENTS = (
    "DELETE FROM user_agents WHERE id IN (SELECT a.id FROM user_agents a"
    " WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_agent_id = a.id) FOR UPDATE SKIP LOCKED)"
)


class Connections(Protocol):
    def connection(self) -> AbstractAsyncContextManager[PoolConnectionProxy[asyncpg.Record]]: ...

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None: ...


def _user_from_row(row: asyncpg.Record, prefix: str = "") -> User:
    return User(
        id=str(row[f"{prefix}id"]),
        # Rebuilt from the stored forms: the rules may tighten later, but a stored user stays usable.
        username=Username(
            display=row[f"{prefix}username"], canonical=row[f"{prefix}username_canonical"]
        ),
        password_hash=row[f"{prefix}password_hash"],
        created_at=row[f"{prefix}created_at"],
        email=row[f"{prefix}email"],
        email_verified=row[f"{prefix}email_verified"],
        disabled=row[f"{prefix}disabled"],
    )


# Every combination made once: the hot path looks one up (IntFlag's constructor costs far more).
_METHODS = {value: AuthMethod(value) for value in range(1 << len(AuthMethod))}


def _session_from_row(row: asyncpg.Record) -> Session:
    return Session(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        token_hash=bytes(row["token_hash"]),
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
        expires_at=row["expires_at"],
        user_agent=row["user_agent"],
        ip=row["ip"],
        methods=_METHODS[row["methods"]],
    )


def _inet_or_none(value: str | None) -> str | None:
    """A client address Postgres's inet accepts, or None (a peer that is not an IP address,
    such as a test client's name, is not worth a failed login)."""
    try:
        return str(ipaddress.ip_address(value)) if value is not None else None
    except ValueError:
        return None


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    """Ids are UUIDs here; any other string names nothing, as in the in-memory store (which takes
    any string), rather than failing in the driver."""
    try:
        return uuid.UUID(value) if value is not None else None
    except ValueError:
        return None


async def rotate_sessions(
    c: PoolConnectionProxy[asyncpg.Record], user: uuid.UUID, rotation: Rotation
) -> int:
    """End every session of the user but the kept one, which takes its new token hash (and its
    new methods, when given), inside the caller's transaction; how many ended. NotAuthenticated
    when the kept session is gone (the caller's transaction then rolls back). The caller locks
    the user row first, so that a racing login's session insert waits for the outcome."""
    kept = _uuid_or_none(rotation.keep_session_id)
    if kept is None:
        raise NotAuthenticated()  # no such session, as in the in-memory store
    # The kept session gets its new token by a delete and an insert (same public id), not an
    # UPDATE of token_hash: the deletion trigger (migration 0003) tells every instance's cache
    # that the old token is gone, which an update would not.
    row = await c.fetchrow(_SESSION_TAKE, user, kept)
    if row is None:
        raise NotAuthenticated()  # the session ended meanwhile
    ended = await c.execute("DELETE FROM sessions WHERE user_id = $1", user)
    methods = row["methods"] if rotation.methods is None else int(rotation.methods)
    await c.execute(
        _SESSION_PUT_BACK,
        rotation.new_token_hash,
        row["id"],
        row["user_id"],
        row["created_at"],
        row["last_seen_at"],
        row["expires_at"],
        row["user_agent_id"],
        row["ip"],
        methods,
    )
    return int(ended.split()[-1])


class PostgresUserRepository(UserRepository):
    def __init__(self, db: Connections) -> None:
        self._db = db

    async def add(
        self, user: User, *, token: AccountToken | None = None, mail: Sequence[MailMessage] = ()
    ) -> None:
        # A transaction only when a token or mail goes with the user.
        together = token is not None or bool(mail)
        async with self._db.connection() as c, c.transaction() if together else nullcontext():
            try:
                await c.execute(
                    _USER_INSERT,
                    uuid.UUID(user.id),
                    user.username.display,
                    user.username.canonical,
                    user.password_hash,
                    user.created_at,
                    user.email,
                    user.email_verified,
                    user.disabled,
                )
            except asyncpg.UniqueViolationError as error:
                if error.constraint_name == "users_username_canonical_key":
                    raise UsernameTaken() from None
                if error.constraint_name == "users_verified_email_key":
                    raise EmailTaken() from None
                raise
            if token is not None:
                await insert_token(c, token)
            await enqueue(c, mail)

    async def get(self, user_id: str) -> User | None:
        key = _uuid_or_none(user_id)
        if key is None:
            return None
        async with self._db.connection() as c:
            row = await c.fetchrow(_USER_BY_ID, key)
        return None if row is None else _user_from_row(row)

    async def get_by_username(self, canonical: str) -> User | None:
        async with self._db.connection() as c:
            row = await c.fetchrow(_USER_BY_CANONICAL, canonical)
        return None if row is None else _user_from_row(row)

    async def update_password_hash(self, user_id: str, password_hash: str) -> None:
        key = _uuid_or_none(user_id)
        if key is None:
            return
        async with self._db.connection() as c:
            await c.execute("UPDATE users SET password_hash = $2 WHERE id = $1", key, password_hash)

    async def change_password(
        self,
        user_id: str,
        password_hash: str,
        *,
        keep_session_id: str,
        new_token_hash: bytes,
        mail: Sequence[MailMessage] = (),
    ) -> int:
        user, kept = _uuid_or_none(user_id), _uuid_or_none(keep_session_id)
        if user is None or kept is None:
            raise NotAuthenticated()  # no such session, as in the in-memory store
        async with self._db.connection() as c, c.transaction():
            # The user row first: its lock makes a racing login's session insert wait for the
            # outcome (see _SESSION_INSERT), so no session made with the old password survives.
            await c.execute(
                "UPDATE users SET password_hash = $2 WHERE id = $1", user, password_hash
            )
            ended = await rotate_sessions(c, user, Rotation(keep_session_id, new_token_hash))
            await c.execute(DELETE_FOR_USER, user, str(TokenPurpose.RESET_PASSWORD))
            await enqueue(c, mail)
        return ended

    async def password_hash_parameters(self) -> dict[str, int]:
        # domain.user.hash_parameters in SQL: the hash without its last two `$` fields. One scan
        # of the users, every few minutes (see entrypoints/lifecycle.py).
        async with self._db.connection() as c:
            rows = await c.fetch(
                r"SELECT regexp_replace(password_hash, '\$[^$]*\$[^$]*$', '') AS parameters, count(*) AS n"
                " FROM users GROUP BY 1",
                timeout=PURGE_TIMEOUT,
            )
        return {row["parameters"]: row["n"] for row in rows}

    async def get_by_verified_email(self, email: str) -> User | None:
        async with self._db.connection() as c:
            row = await c.fetchrow(_USER_BY_VERIFIED_EMAIL, email)
        return None if row is None else _user_from_row(row)

    async def set_email(
        self, user_id: str, email: str, *, token: AccountToken, mail: Sequence[MailMessage] = ()
    ) -> User | None:
        key = _uuid_or_none(user_id)
        if key is None:
            return None
        async with self._db.connection() as c, c.transaction():
            row = await c.fetchrow(_USER_SET_EMAIL, key, email)
            if row is None:
                return None
            await c.execute(DELETE_FOR_USER, key, str(TokenPurpose.VERIFY_EMAIL))
            await insert_token(c, token)
            await enqueue(c, mail)
        return _user_from_row(row)

    async def verify_email(self, token_hash: bytes, now: datetime) -> User | None:
        try:
            async with self._db.connection() as c, c.transaction():
                user = await c.fetchval(_CONSUME_VERIFY_LINK, token_hash, now)
                if user is None:
                    return None
                # The unique index users_verified_email_key refuses a second verified holder;
                # the transaction then rolls back and the token stays.
                row = await c.fetchrow(_USER_VERIFY_EMAIL, user)
                await c.execute(DELETE_FOR_USER, user, str(TokenPurpose.VERIFY_EMAIL))
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name == "users_verified_email_key":
                raise EmailTaken() from None
            raise
        return None if row is None else _user_from_row(row)

    async def reset_password(
        self,
        token_hash: bytes,
        password_hash: str,
        now: datetime,
        *,
        mail: Sequence[MailMessage] = (),
    ) -> int | None:
        async with self._db.connection() as c, c.transaction():
            # The token's row lock makes a second use wait, then find it gone.
            user = await c.fetchval(_CONSUME_RESET_LINK, token_hash, now)
            if user is None:
                return None
            # The user row before the sessions, as in change_password: a racing login's session
            # insert waits for this outcome (see _SESSION_INSERT) and then stores nothing.
            await c.execute(
                "UPDATE users SET password_hash = $2 WHERE id = $1", user, password_hash
            )
            # Through DELETE on sessions: the trigger tells every instance's cache.
            ended = await c.execute("DELETE FROM sessions WHERE user_id = $1", user)
            await c.execute(DELETE_FOR_USER, user, str(TokenPurpose.RESET_PASSWORD))
            await enqueue(c, mail)
        return int(ended.split()[-1])

    async def set_disabled(self, user_id: str, disabled: bool) -> int | None:
        key = _uuid_or_none(user_id)
        if key is None:
            return None
        async with self._db.connection() as c, c.transaction():
            # The user row first: a racing login's session insert waits for this transaction
            # (see _SESSION_INSERT) and then finds the user disabled; one that got in before is
            # seen by the delete, whose snapshot is taken after this update has its lock.
            done = await c.execute("UPDATE users SET disabled = $2 WHERE id = $1", key, disabled)
            if done == "UPDATE 0":
                return None
            if not disabled:
                return 0
            # The deletion trigger tells every instance's cache (migration 0003).
            ended = await c.execute("DELETE FROM sessions WHERE user_id = $1", key)
        return int(ended.split()[-1])

    async def delete(self, user_id: str) -> int | None:
        key = _uuid_or_none(user_id)
        if key is None:
            return None
        async with self._db.connection() as c, c.transaction():
            if await c.fetchval("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", key) is None:
                return None
            # ON DELETE CASCADE would delete them too (and fire the notifying trigger, checked on
            # PostgreSQL 15), but explicitly they are counted; link tokens and queued mail go by
            # the cascade.
            ended = await c.execute("DELETE FROM sessions WHERE user_id = $1", key)
            await c.execute("DELETE FROM users WHERE id = $1", key)
        return int(ended.split()[-1])


class _NotStored(Exception):
    """Leaves a login's transaction without its session, rolling back what it did before."""


class PostgresSessionRepository(SessionRepository):
    def __init__(self, db: Connections) -> None:
        self._db = db

    async def add(
        self,
        session: Session,
        *,
        password_hash: str,
        mail: Sequence[MailMessage] = (),
        limit: int = 0,
    ) -> SessionStored | None:
        user = _uuid_or_none(session.user_id)
        if user is None:
            return None  # no such user
        evicted: list[asyncpg.Record] = []
        try:
            # A transaction only when there is more than the insert to do: one round trip less.
            async with (
                self._db.connection() as c,
                c.transaction() if mail or limit > 0 else nullcontext(),
            ):
                if limit > 0:
                    if await c.fetchval(_LOCK_USER_FOR_LOGIN, user, password_hash) is None:
                        return None
                    evicted = await c.fetch(_EVICT, user, limit - 1)
                done = await c.execute(
                    _SESSION_INSERT,
                    session.token_hash,
                    uuid.UUID(session.id),
                    user,
                    session.created_at,
                    session.last_seen_at,
                    session.expires_at,
                    session.user_agent,
                    _inet_or_none(session.ip),
                    password_hash,
                    int(session.methods),
                )
                if done == "INSERT 0 0":
                    raise _NotStored()  # rolls back whatever the transaction did
                await enqueue(c, mail)
        except _NotStored:
            return None
        evicted.sort(key=lambda row: (row["last_seen_at"], row["created_at"], row["id"]))
        return SessionStored(evicted=tuple(str(row["id"]) for row in evicted))

    async def get_with_user(self, token_hash: bytes) -> tuple[Session, User] | None:
        # The hot path: one statement, no explicit transaction.
        row = await self._db.fetchrow(_RESOLVE, token_hash)
        return None if row is None else (_session_from_row(row), _user_from_row(row, "u_"))

    async def touch(self, token_hash: bytes, last_seen_at: datetime) -> None:
        async with self._db.connection() as c:
            await c.execute(
                "UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1 AND last_seen_at < $2",
                token_hash,
                last_seen_at,
            )

    async def revoke(self, token_hash: bytes) -> bool:
        async with self._db.connection() as c:
            return (
                await c.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash)
                != "DELETE 0"
            )

    async def list_for_user(self, user_id: str) -> list[Session]:
        key = _uuid_or_none(user_id)
        if key is None:
            return []
        async with self._db.connection() as c:
            rows = await c.fetch(
                f"{_SESSION_SELECT} WHERE s.user_id = $1 ORDER BY s.created_at DESC", key
            )
        return [_session_from_row(row) for row in rows]

    async def revoke_by_id(self, user_id: str, session_id: str) -> bool:
        user, session = _uuid_or_none(user_id), _uuid_or_none(session_id)
        if user is None or session is None:
            return False
        async with self._db.connection() as c:
            return (
                await c.execute(
                    "DELETE FROM sessions WHERE id = $2 AND user_id = $1", user, session
                )
                != "DELETE 0"
            )

    async def revoke_all_for_user(self, user_id: str, *, keep_session_id: str | None = None) -> int:
        user = _uuid_or_none(user_id)
        if user is None:
            return 0
        async with self._db.connection() as c:
            done = await c.execute(
                "DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2",
                user,
                _uuid_or_none(keep_session_id),
            )
        return int(done.split()[-1])

    async def revoke_all(self) -> int:
        async with self._db.connection() as c:
            # One statement: its trigger tells every instance to empty its cache (a '*' beyond
            # 100 sessions, migration 0003).
            done = await c.execute("DELETE FROM sessions", timeout=PURGE_TIMEOUT)
        return int(done.split()[-1])

    async def purge_expired(self, now: datetime, idle_timeout: timedelta) -> int:
        async with self._db.connection() as c, c.transaction():
            # Another instance purging right now: leave it to that one rather than contend for rows.
            if not await c.fetchval("SELECT pg_try_advisory_xact_lock($1)", PURGE_LOCK):
                raise PurgeInProgress()
            # Expired sessions are never served from a cache: no need to flush every instance's.
            await c.execute("SET LOCAL sessionauth.quiet = 'on'")
            done = await c.execute(
                "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2",
                now,
                now - idle_timeout,
                timeout=PURGE_TIMEOUT,  # a large backlog may take longer than one request's budget
            )
            await _purge_unused_user_agents(c)
        return int(done.split()[-1])


async def _purge_unused_user_agents(c: PoolConnectionProxy[asyncpg.Record]) -> None:
    """Delete the user agents no session uses, in a savepoint of the purge's transaction.

    - A row locked by a login that is storing a session with it is skipped (SKIP LOCKED; the
      login's lookup locks it, see migration 0006), so the purge neither waits for logins nor
      deletes a user agent from under one.
    - A login that committed a session with a user agent after this statement's snapshot makes
      its deletion a foreign-key violation: the savepoint rolls back, the expired sessions stay
      deleted, and the next purge tries again.
    """
    try:
        async with c.transaction():
            await c.execute(_PURGE_USER_AGENTS, timeout=PURGE_TIMEOUT)
    except asyncpg.ForeignKeyViolationError:
        pass


class PostgresAttemptCounter(AttemptCounter):
    def __init__(self, db: Connections) -> None:
        self._db = db

    async def get(self, keys: Sequence[str], now: datetime) -> dict[str, Count]:
        async with self._db.connection() as c:
            rows = await c.fetch(
                "SELECT key, count, resets_at FROM attempt_counters WHERE key = ANY($1::text[]) AND resets_at > $2",
                list(keys),
                now,
            )
        return {row["key"]: Count(row["count"], row["resets_at"]) for row in rows}

    async def acquire(
        self, key: str, limit: int, now: datetime, window: timedelta
    ) -> tuple[bool, Count]:
        # One upsert: the row lock of ON CONFLICT DO UPDATE serialises concurrent callers on every
        # instance, and its WHERE makes "below the limit, add one" a single step. A refused call
        # updates nothing and, for a full window, inserts nothing either.
        async with self._db.connection() as c:
            for _ in range(2):
                row = await c.fetchrow(
                    "INSERT INTO attempt_counters AS c (key, count, resets_at) VALUES ($1, 1, $3)"
                    " ON CONFLICT (key) DO UPDATE SET"
                    "  count = CASE WHEN c.resets_at <= $2 THEN 1 ELSE c.count + 1 END,"
                    "  resets_at = CASE WHEN c.resets_at <= $2 THEN EXCLUDED.resets_at ELSE c.resets_at END"
                    " WHERE c.resets_at <= $2 OR c.count < $4"
                    " RETURNING count, resets_at",
                    key,
                    now,
                    now + window,
                    limit,
                )
                if row is not None:
                    return True, Count(row["count"], row["resets_at"])
                # Refused: the window was full. Read it for its end (Retry-After); if it was
                # cleared (a success) or given back meanwhile, it is empty now: try once more.
                row = await c.fetchrow(
                    "SELECT count, resets_at FROM attempt_counters WHERE key = $1", key
                )
                if row is not None:
                    return False, Count(row["count"], row["resets_at"])
        return False, Count(limit, now + window)  # cleared and refilled twice over: refuse for now

    async def release(self, key: str, resets_at: datetime) -> None:
        async with self._db.connection() as c:
            left = await c.fetchval(
                "UPDATE attempt_counters SET count = count - 1 WHERE key = $1 AND resets_at = $2 AND count > 0"
                " RETURNING count",
                key,
                resets_at,
            )
            if left == 0:
                # The last one given back: the row goes, so that attempts that got no verdict
                # leave no row behind. Only while still at zero: a concurrent acquire wins.
                await c.execute(
                    "DELETE FROM attempt_counters WHERE key = $1 AND resets_at = $2 AND count = 0",
                    key,
                    resets_at,
                )

    async def clear(self, key: str) -> None:
        async with self._db.connection() as c:
            await c.execute("DELETE FROM attempt_counters WHERE key = $1", key)

    async def purge(self, now: datetime) -> int:
        async with self._db.connection() as c:
            done = await c.execute("DELETE FROM attempt_counters WHERE resets_at <= $1", now)
        return int(done.split()[-1])
