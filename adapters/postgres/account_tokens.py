"""Account tokens on Postgres (table account_tokens, migration 0008): found by the SHA-256 of
the token, consumed by deleting the row in the transaction of what the token does (see
PostgresUserRepository.verify_email and reset_password)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from adapters.postgres.outbox import enqueue
from domain.account_token import AccountToken, TokenPurpose
from domain.mail import MailMessage
from domain.ports import AccountTokenRepository

if TYPE_CHECKING:  # repositories.py imports insert_token from here
    from adapters.postgres.repositories import Connections

_INSERT = (
    "INSERT INTO account_tokens (token_hash, purpose, user_id, email, created_at, expires_at)"
    " VALUES ($1, $2, $3, $4, $5, $6)"
)
_SELECT = (
    "SELECT token_hash, purpose, user_id, email, created_at, expires_at FROM account_tokens"
    " WHERE token_hash = $1"
)
# Deleting a user's other tokens of one purpose (a new address, a used reset link, a password
# change) always goes through this statement.
DELETE_FOR_USER = "DELETE FROM account_tokens WHERE user_id = $1 AND purpose = $2"


def _token_from_row(row: asyncpg.Record) -> AccountToken:
    return AccountToken(
        token_hash=bytes(row["token_hash"]),
        purpose=TokenPurpose(row["purpose"]),
        user_id=str(row["user_id"]),
        email=row["email"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


async def insert_token(
    c: asyncpg.Connection | PoolConnectionProxy[asyncpg.Record], token: AccountToken
) -> None:
    """Store `token` on connection `c`, inside the caller's transaction when it has one."""
    await c.execute(
        _INSERT,
        token.token_hash,
        str(token.purpose),
        uuid.UUID(token.user_id),
        token.email,
        token.created_at,
        token.expires_at,
    )


class PostgresAccountTokenRepository(AccountTokenRepository):
    def __init__(self, db: Connections) -> None:
        self._db = db

    async def add(self, token: AccountToken, *, mail: Sequence[MailMessage] = ()) -> None:
        async with self._db.connection() as c, c.transaction() if mail else nullcontext():
            await insert_token(c, token)
            await enqueue(c, mail)

    async def find(self, token_hash: bytes) -> AccountToken | None:
        async with self._db.connection() as c:
            row = await c.fetchrow(_SELECT, token_hash)
        return None if row is None else _token_from_row(row)

    async def purge_expired(self, now: datetime) -> int:
        async with self._db.connection() as c:
            done = await c.execute("DELETE FROM account_tokens WHERE expires_at <= $1", now)
        return int(done.split()[-1])
