"""The outbox on Postgres (table mail_outbox, migration 0008)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from domain.mail import MailMessage
from domain.ports import Outbox

if TYPE_CHECKING:  # repositories.py imports enqueue from here
    from adapters.postgres.repositories import Connections

_INSERT = (
    "INSERT INTO mail_outbox (id, kind, recipient, subject, body_text, body_html, user_id,"
    " created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
)


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
