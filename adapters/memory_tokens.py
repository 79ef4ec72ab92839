"""In-memory account tokens (links in mail), by the SHA-256 of the token. The user operations
that consume them (verify an address, reset a password) are InMemoryUserRepository's, which
shares this dict, so that each is one synchronous step."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from adapters.memory_outbox import InMemoryOutbox
from domain.account_token import AccountToken, TokenPurpose
from domain.mail import MailMessage
from domain.ports import AccountTokenRepository


class InMemoryAccountTokenRepository(AccountTokenRepository):
    def __init__(self, outbox: InMemoryOutbox) -> None:
        self.outbox = outbox
        self.by_hash: dict[bytes, AccountToken] = {}

    async def add(self, token: AccountToken, *, mail: Sequence[MailMessage] = ()) -> None:
        self.by_hash[token.token_hash] = token
        self.outbox.queue(mail)

    async def find(self, token_hash: bytes) -> AccountToken | None:
        return self.by_hash.get(token_hash)

    async def purge_expired(self, now: datetime) -> int:
        expired = [h for h, token in self.by_hash.items() if token.is_expired(now)]
        for token_hash in expired:
            del self.by_hash[token_hash]
        return len(expired)

    def usable(
        self, token_hash: bytes, purpose: TokenPurpose, now: datetime
    ) -> AccountToken | None:
        """The token, if it has that purpose and has not expired, not deleted yet: the caller
        consumes it (`delete_for_user`) once the rest of its step cannot fail."""
        token = self.by_hash.get(token_hash)
        if token is None or token.purpose != purpose or token.is_expired(now):
            return None
        return token

    def delete_for_user(self, user_id: str, purpose: TokenPurpose) -> None:
        doomed = [
            h for h, t in self.by_hash.items() if t.user_id == user_id and t.purpose == purpose
        ]
        for token_hash in doomed:
            del self.by_hash[token_hash]
