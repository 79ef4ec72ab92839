"""The in-memory outbox: messages wait in a dict, in the order they were queued."""

from __future__ import annotations

from collections.abc import Sequence

from domain.mail import MailMessage
from domain.ports import Outbox


class InMemoryOutbox(Outbox):
    def __init__(self) -> None:
        self.pending: dict[str, MailMessage] = {}

    async def add(self, messages: Sequence[MailMessage]) -> None:
        self.queue(messages)

    def queue(self, messages: Sequence[MailMessage]) -> None:
        """For the in-memory repositories, inside the same synchronous step as their change."""
        for message in messages:
            self.pending[message.id] = message

    def forget_user(self, user_id: str) -> None:
        """Drop the messages about a user that is being deleted (as the store's foreign key does)."""
        for message_id in [i for i, m in self.pending.items() if m.user_id == user_id]:
            del self.pending[message_id]
