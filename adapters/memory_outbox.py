"""The in-memory outbox: messages wait in a dict, in the order they were queued.

Every method runs without an `await` between reading and writing, so it is atomic with respect
to other asyncio tasks (two senders in one process never claim one message twice)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.mail import MailMessage, OutboxStats, QueuedMail
from domain.ports import Outbox


@dataclass(slots=True)
class _Delivery:
    next_attempt_at: datetime
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class FailedMail:
    """A message refused for good, kept for the record without its bodies."""

    message: MailMessage  # text and html erased
    attempts: int
    failed_at: datetime
    error: str


class InMemoryOutbox(Outbox):
    def __init__(self) -> None:
        self.pending: dict[str, MailMessage] = {}
        self.failed: dict[str, FailedMail] = {}
        self._deliveries: dict[str, _Delivery] = {}

    async def add(self, messages: Sequence[MailMessage]) -> None:
        self.queue(messages)

    def queue(self, messages: Sequence[MailMessage]) -> None:
        """For the in-memory repositories, inside the same synchronous step as their change."""
        for message in messages:
            self.pending[message.id] = message
            self._deliveries[message.id] = _Delivery(next_attempt_at=message.created_at)

    def delivery(self, message_id: str) -> tuple[int, datetime, str | None]:
        """A pending message's attempts, next attempt and last error (for tests)."""
        d = self._deliveries[message_id]
        return d.attempts, d.next_attempt_at, d.last_error

    async def claim(self, now: datetime, *, limit: int, lease: timedelta) -> list[QueuedMail]:
        due = sorted(
            (d.next_attempt_at, i) for i, d in self._deliveries.items() if d.next_attempt_at <= now
        )
        claimed = []
        for _, message_id in due[:limit]:
            delivery = self._deliveries[message_id]
            delivery.attempts += 1
            delivery.next_attempt_at = now + lease
            claimed.append(QueuedMail(self.pending[message_id], delivery.attempts))
        return claimed

    async def delivered(self, message_id: str) -> None:
        self.pending.pop(message_id, None)
        self._deliveries.pop(message_id, None)

    async def postpone(self, message_id: str, *, until: datetime, error: str) -> None:
        if (delivery := self._deliveries.get(message_id)) is not None:
            delivery.next_attempt_at = until
            delivery.last_error = error

    async def fail(self, message_id: str, *, now: datetime, error: str) -> None:
        message = self.pending.pop(message_id, None)
        delivery = self._deliveries.pop(message_id, None)
        if message is None or delivery is None:
            return
        # The bodies may hold a link with a token: not kept once the message will not be sent.
        erased = replace(message, text="", html="")
        self.failed[message_id] = FailedMail(erased, delivery.attempts, now, error)

    async def stats(self) -> OutboxStats:
        oldest = min((m.created_at for m in self.pending.values()), default=None)
        return OutboxStats(depth=len(self.pending), oldest=oldest, failed=len(self.failed))

    async def purge_failed(self, before: datetime) -> int:
        old = [i for i, f in self.failed.items() if f.failed_at < before]
        for message_id in old:
            del self.failed[message_id]
        return len(old)

    def forget_user(self, user_id: str) -> None:
        """Drop the messages about a user that is being deleted (as the store's foreign key does)."""
        for message_id in [i for i, m in self.pending.items() if m.user_id == user_id]:
            del self.pending[message_id]
            self._deliveries.pop(message_id, None)
        for message_id in [i for i, f in self.failed.items() if f.message.user_id == user_id]:
            del self.failed[message_id]
