"""What the core needs from the outside world, named by role. Adapters name the technology."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from domain.session import Session
from domain.user import User


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Store a new user; raise UsernameTaken when the canonical username exists."""

    async def get(self, user_id: str) -> User | None: ...

    async def get_by_username(self, canonical: str) -> User | None: ...


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...

    async def get_with_user(self, token_hash: bytes) -> tuple[Session, User] | None:
        """The session with that token hash and its user, in one lookup (the hot path)."""

    async def touch(self, token_hash: bytes, last_seen_at: datetime) -> None:
        """Record a later use; never moves `last_seen_at` backwards."""

    async def revoke(self, token_hash: bytes) -> bool:
        """End the session at once; False when there was none."""

    async def purge_expired(self, now: datetime, idle_timeout: timedelta) -> int:
        """Delete sessions past either deadline; return how many."""


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    async def verify_dummy(self, password: str) -> None:
        """Spend the time a real verify takes, for a user that does not exist, so that timing
        does not tell whether a username is registered."""


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


class TokenGenerator(Protocol):
    def session_token(self) -> str:
        """A fresh secret session token with at least 256 bits of entropy."""

    def public_id(self) -> str:
        """A fresh random identifier that is safe to show (user ids, session ids)."""


class Store(Protocol):
    """The storage backend's lifecycle, shared by its repositories."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the store answers now."""
