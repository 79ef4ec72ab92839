"""Test doubles for the ports that have no in-memory adapter: a clock you set, a fast hasher."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from domain.ports import AuditLog, Clock, PasswordHasher


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

    def __init__(self, prefix: str = "fake$") -> None:
        self.calls = 0
        self.calibrated: dict[str, int] | None = None
        self.prefix = prefix  # stands for the hash parameters: another prefix needs a rehash

    async def hash(self, password: str, *, owner: str | None = None) -> str:
        self.calls += 1
        return self.prefix + _digest(password)

    async def verify(self, password_hash: str, password: str, *, owner: str | None = None) -> bool:
        self.calls += 1
        _, _, digest = password_hash.partition("$")
        return hmac.compare_digest(digest, _digest(password))

    async def verify_dummy(
        self, password: str, *, username: str = "", owner: str | None = None
    ) -> None:
        self.calls += 1

    async def calibrate_dummy(self, stored: Mapping[str, int], secret: bytes) -> None:
        self.calibrated = dict(stored)  # what the store reported, for tests to check

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(self.prefix)

    def close(self) -> None:
        """Nothing to release (no threads); the app's lifespan calls it as on argon2's."""


def _digest(password: str) -> str:
    return hashlib.sha256(b"salt" + password.encode()).hexdigest()


class RecordingAuditLog(AuditLog):
    def __init__(self) -> None:
        self.events: list[dict] = []

    def record(self, event, *, user_id=None, session_id=None, client=None, **details):
        self.events.append(
            {
                "event": event,
                "user_id": user_id,
                "session_id": session_id,
                "client": client,
                **details,
            }
        )

    def names(self) -> list[str]:
        return [e["event"] for e in self.events]
