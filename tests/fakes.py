"""Test doubles for the ports that have no in-memory adapter: a clock you set, a fast hasher."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from domain.ports import Clock, PasswordHasher


class FakeClock(Clock):
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


class FastPasswordHasher(PasswordHasher):
    """Salted SHA-256: same contract as argon2, microseconds instead of a tenth of a second.
    Counts its work so tests can prove when no hashing happened."""

    def __init__(self) -> None:
        self.calls = 0

    async def hash(self, password: str) -> str:
        self.calls += 1
        return "fake$" + hashlib.sha256(b"salt" + password.encode()).hexdigest()

    async def verify(self, password_hash: str, password: str) -> bool:
        self.calls += 1
        expected = "fake$" + hashlib.sha256(b"salt" + password.encode()).hexdigest()
        return hmac.compare_digest(password_hash, expected)

    async def verify_dummy(self, password: str) -> None:
        self.calls += 1
