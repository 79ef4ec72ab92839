"""One-time tokens of links in mail: confirming an email address, resetting a password."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain.session import hash_token


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (a purpose, not a password)


@dataclass(frozen=True, slots=True)
class AccountToken:
    """A token as the store keeps it: only the SHA-256 of the secret (`hash_token`, as for
    sessions: 256 random bits need no slow hash), what it may do, for whom, and until when.

    - Single use: it is consumed by deleting it, in the transaction of what it does.
    - It is expired from `expires_at` on (a token at its expiry instant no longer works).
    - A verification token names the address it confirms; it confirms nothing once the account
      names another address.
    """

    token_hash: bytes = field(repr=False)
    purpose: TokenPurpose
    user_id: str
    email: str | None
    created_at: datetime
    expires_at: datetime

    @classmethod
    def issue(
        cls,
        token: str,
        *,
        purpose: TokenPurpose,
        user_id: str,
        now: datetime,
        ttl: timedelta,
        email: str | None = None,
    ) -> AccountToken:
        """The stored form of `token` (a TokenGenerator.session_token()), valid `ttl` from `now`."""
        return cls(
            token_hash=hash_token(token),
            purpose=purpose,
            user_id=user_id,
            email=email,
            created_at=now,
            expires_at=now + ttl,
        )

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at
