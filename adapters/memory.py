"""In-memory store: a real adapter for single-process use and the fakes of the unit tests.

Every method runs without an `await` between reading and writing shared state, so it is atomic
with respect to other asyncio tasks without a lock. Entities are copied in and out, so a caller
that changes an object it got does not change the store behind its back.
"""

from __future__ import annotations

from copy import copy
from datetime import datetime, timedelta

from domain.errors import UsernameTaken
from domain.ports import SessionRepository, Store, UserRepository
from domain.session import Session
from domain.user import User


class InMemoryStore(Store):
    def __init__(self) -> None:
        self.users = InMemoryUserRepository()
        self.sessions = InMemorySessionRepository(self.users)

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self) -> bool:
        return True


class InMemoryUserRepository(UserRepository):
    def __init__(self) -> None:
        self._by_id: dict[str, User] = {}
        self._id_by_canonical: dict[str, str] = {}

    async def add(self, user: User) -> None:
        if user.username.canonical in self._id_by_canonical:
            raise UsernameTaken()
        self._by_id[user.id] = copy(user)
        self._id_by_canonical[user.username.canonical] = user.id

    async def get(self, user_id: str) -> User | None:
        return self._get(user_id)

    async def get_by_username(self, canonical: str) -> User | None:
        user_id = self._id_by_canonical.get(canonical)
        return None if user_id is None else self._get(user_id)

    def _get(self, user_id: str) -> User | None:
        user = self._by_id.get(user_id)
        return None if user is None else copy(user)


class InMemorySessionRepository(SessionRepository):
    def __init__(self, users: InMemoryUserRepository) -> None:
        self._users = users
        self._by_hash: dict[bytes, Session] = {}

    async def add(self, session: Session) -> None:
        if session.user_id not in self._users._by_id:
            raise ValueError("session for an unknown user")
        self._by_hash[session.token_hash] = copy(session)

    async def get_with_user(self, token_hash: bytes) -> tuple[Session, User] | None:
        session = self._by_hash.get(token_hash)
        if session is None:
            return None
        user = self._users._get(session.user_id)
        return None if user is None else (copy(session), user)

    async def touch(self, token_hash: bytes, last_seen_at: datetime) -> None:
        session = self._by_hash.get(token_hash)
        if session is not None and last_seen_at > session.last_seen_at:
            session.last_seen_at = last_seen_at

    async def revoke(self, token_hash: bytes) -> bool:
        return self._by_hash.pop(token_hash, None) is not None

    async def purge_expired(self, now: datetime, idle_timeout: timedelta) -> int:
        expired = [
            token_hash
            for token_hash, s in self._by_hash.items()
            if now >= s.expires_at or now >= s.last_seen_at + idle_timeout
        ]
        for token_hash in expired:
            del self._by_hash[token_hash]
        return len(expired)
