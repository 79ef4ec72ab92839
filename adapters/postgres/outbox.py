"""The outbox on Postgres (table mail_outbox, migration 0008).

A sender claims due rows with `FOR UPDATE SKIP LOCKED` and, in the same statement, moves their
`next_attempt_at` a lease ahead: the row lock keeps two claims from taking one row at the same
instant, and the lease keeps later claims off it while it is being sent, with no transaction
held open across the SMTP conversation (a lease rather than a transaction per message: a slow
mail server must not hold pooled connections, and the claim outlives nothing: a sender that dies
gives its messages back when the lease ends). The lease is longer than any send may take.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from domain.mail import MailKind, MailMessage, OutboxStats, QueuedMail
from domain.ports import Outbox

if TYPE_CHECKING:  # repositories.py imports enqueue from here
    from adapters.postgres.repositories import Connections

_INSERT = (
    "INSERT INTO mail_outbox (id, kind, recipient, subject, body_text, body_html, user_id,"
    " created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
)


# The earliest due first; each claimed row counts an attempt and is held until $3.
_CLAIM = (
    "WITH due AS (SELECT id FROM mail_outbox WHERE failed_at IS NULL AND next_attempt_at <= $1"
    " ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
    " UPDATE mail_outbox m SET attempts = m.attempts + 1, next_attempt_at = $3 FROM due"
    " WHERE m.id = due.id RETURNING m.id, m.kind, m.recipient, m.subject, m.body_text,"
    " m.body_html, m.user_id, m.created_at, m.attempts"
)
_DELIVERED = "DELETE FROM mail_outbox WHERE id = $1"
_POSTPONE = (
    "UPDATE mail_outbox SET next_attempt_at = $2, last_error = $3"
    " WHERE id = $1 AND failed_at IS NULL"
)
# The bodies may hold a link with a token: erased once the message will not be sent.
_FAIL = (
    "UPDATE mail_outbox SET failed_at = $2, last_error = $3, body_text = NULL, body_html = NULL"
    " WHERE id = $1 AND failed_at IS NULL"
)
_STATS = (
    "SELECT count(*) FILTER (WHERE failed_at IS NULL) AS depth,"
    " min(created_at) FILTER (WHERE failed_at IS NULL) AS oldest,"
    " count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed FROM mail_outbox"
)
_PURGE_FAILED = "DELETE FROM mail_outbox WHERE failed_at < $1"


async def enqueue(
    c: asyncpg.Connection | PoolConnectionProxy[asyncpg.Record], messages: Sequence[MailMessage]
) -> None:
    """Queue `messages` on connection `c`, inside the caller's transaction when it has one: the
    repositories call it in the transaction of the change a message reports."""
    if not messages:
        return
    await c.executemany(
        _INSERT,
        [
            (
                uuid.UUID(m.id),
                str(m.kind),
                m.to,
                m.subject,
                m.text,
                m.html,
                uuid.UUID(m.user_id) if m.user_id else None,
                m.created_at,
            )
            for m in messages
        ],
    )


class PostgresOutbox(Outbox):
    def __init__(self, db: Connections) -> None:
        self._db = db

    async def add(self, messages: Sequence[MailMessage]) -> None:
        async with self._db.connection() as c:
            await enqueue(c, messages)

    async def claim(self, now: datetime, *, limit: int, lease: timedelta) -> list[QueuedMail]:
        async with self._db.connection() as c:
            rows = await c.fetch(_CLAIM, now, limit, now + lease)
        claimed = [_queued_from_row(row) for row in rows]
        return sorted(claimed, key=lambda q: q.message.created_at)

    async def delivered(self, message_id: str) -> None:
        async with self._db.connection() as c:
            await c.execute(_DELIVERED, uuid.UUID(message_id))

    async def postpone(self, message_id: str, *, until: datetime, error: str) -> None:
        async with self._db.connection() as c:
            await c.execute(_POSTPONE, uuid.UUID(message_id), until, error)

    async def fail(self, message_id: str, *, now: datetime, error: str) -> None:
        async with self._db.connection() as c:
            await c.execute(_FAIL, uuid.UUID(message_id), now, error)

    async def stats(self) -> OutboxStats:
        row = await self._db.fetchrow(_STATS)
        if row is None:  # never: an aggregate answers one row
            return OutboxStats(depth=0, oldest=None, failed=0)
        return OutboxStats(depth=row["depth"], oldest=row["oldest"], failed=row["failed"])

    async def purge_failed(self, before: datetime) -> int:
        async with self._db.connection() as c:
            status = await c.execute(_PURGE_FAILED, before)
        return int(status.split()[-1])


def _queued_from_row(row: asyncpg.Record) -> QueuedMail:
    message = MailMessage(
        id=str(row["id"]),
        kind=MailKind(row["kind"]),
        to=row["recipient"],
        subject=row["subject"],
        text=row["body_text"] or "",
        html=row["body_html"] or "",
        user_id=None if row["user_id"] is None else str(row["user_id"]),
        created_at=row["created_at"],
    )
    return QueuedMail(message, row["attempts"])
