"""In-memory store: a real adapter for single-process use and the fakes of the unit tests.

Every method runs without an `await` between reading and writing shared state, so it is atomic
with respect to other asyncio tasks without a lock. Entities are copied in and out, so a caller
that changes an object it got does not change the store behind its back.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from copy import copy
from dataclasses import replace
from datetime import datetime, timedelta

from adapters.memory_attempts import DEFAULT_MAX_KEYS, InMemoryAttemptCounter
from adapters.memory_factors import InMemoryChallengeRepository, InMemoryFactorRepository
from adapters.memory_outbox import InMemoryOutbox
from adapters.memory_tokens import InMemoryAccountTokenRepository
from domain.account_token import AccountToken, TokenPurpose
from domain.errors import EmailTaken, NotAuthenticated, UsernameTaken
from domain.mail import MailMessage
from domain.ports import SessionRepository, Store, UserRepository
from domain.schema import SchemaStatus
from domain.session import Rotation, Session, SessionStored
from domain.user import User, hash_parameters


class InMemoryStore(Store):
    shared = False  # this process's own: another instance or a command sees none of it

    def __init__(self, max_counter_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.outbox = InMemoryOutbox()
        self.users = InMemoryUserRepository(self.outbox)
        self.sessions = InMemorySessionRepository(self.users)
        self.users.sessions = self.sessions
        self.tokens = self.users.tokens
        self.attempts = InMemoryAttemptCounter(max_counter_keys)
        self.factors = InMemoryFactorRepository(self.sessions, self.outbox)
        self.challenges = InMemoryChallengeRepository()
        self.users.factors, self.users.challenges = self.factors, self.challenges
        self._device_key = secrets.token_bytes(32)
        self._sealing_key = secrets.token_bytes(32)

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self) -> bool:
        return True

    async def migrate(self) -> list[str]:
        return []  # no schema

    async def schema_status(self) -> SchemaStatus:
        return SchemaStatus()

    def describe(self) -> str:
        return "the in-memory store"

    async def device_key(self) -> bytes:
        return self._device_key

    async def device_keys(self) -> tuple[bytes, ...]:
        return (await self.device_key(),)

    async def sealing_key(self) -> bytes:
        return self._sealing_key


class InMemoryUserRepository(UserRepository):
    def __init__(self, outbox: InMemoryOutbox | None = None) -> None:
        self.outbox = outbox or InMemoryOutbox()
        self._by_id: dict[str, User] = {}
        self._id_by_canonical: dict[str, str] = {}
        self.sessions: InMemorySessionRepository | None = None
        self.tokens = InMemoryAccountTokenRepository(self.outbox)
        # Set by InMemoryStore: what a deleted user leaves behind goes with it.
        self.factors: InMemoryFactorRepository | None = None
        self.challenges: InMemoryChallengeRepository | None = None

    async def add(
        self, user: User, *, token: AccountToken | None = None, mail: Sequence[MailMessage] = ()
    ) -> None:
        if user.username.canonical in self._id_by_canonical:
            raise UsernameTaken()
        if user.email_verified and self._verified_by_other(user.id, user.email):
            raise EmailTaken()
        self._by_id[user.id] = copy(user)
        self._id_by_canonical[user.username.canonical] = user.id
        if token is not None:
            self.tokens.by_hash[token.token_hash] = token
        self.outbox.queue(mail)

    async def get(self, user_id: str) -> User | None:
        return self._get(user_id)

    async def get_by_username(self, canonical: str) -> User | None:
        user_id = self._id_by_canonical.get(canonical)
        return None if user_id is None else self._get(user_id)

    async def update_password_hash(self, user_id: str, password_hash: str) -> None:
        if user_id in self._by_id:
            self._by_id[user_id].password_hash = password_hash

    async def change_password(
        self,
        user_id: str,
        password_hash: str,
        *,
        keep_session_id: str,
        new_token_hash: bytes,
        mail: Sequence[MailMessage] = (),
    ) -> int:
        if user_id not in self._by_id:
            raise NotAuthenticated()
        revoked = self._own_sessions().rotate(user_id, Rotation(keep_session_id, new_token_hash))
        self._by_id[user_id].password_hash = password_hash
        self.tokens.delete_for_user(user_id, TokenPurpose.RESET_PASSWORD)
        self.outbox.queue(mail)
        return revoked

    async def password_hash_parameters(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for user in self._by_id.values():
            parameters = hash_parameters(user.password_hash)
            counts[parameters] = counts.get(parameters, 0) + 1
        return counts

    async def get_by_verified_email(self, email: str) -> User | None:
        wanted = email.lower()
        for user in self._by_id.values():
            if user.email_verified and user.email is not None and user.email.lower() == wanted:
                return copy(user)
        return None

    async def set_email(
        self, user_id: str, email: str, *, token: AccountToken, mail: Sequence[MailMessage] = ()
    ) -> User | None:
        user = self._by_id.get(user_id)
        if user is None:
            return None
        user.email, user.email_verified = email, False
        self.tokens.delete_for_user(user_id, TokenPurpose.VERIFY_EMAIL)
        self.tokens.by_hash[token.token_hash] = token
        self.outbox.queue(mail)
        return copy(user)

    async def verify_email(self, token_hash: bytes, now: datetime) -> User | None:
        token = self.tokens.usable(token_hash, TokenPurpose.VERIFY_EMAIL, now)
        user = None if token is None else self._by_id.get(token.user_id)
        if token is None or user is None or user.email is None or user.email != token.email:
            return None
        if self._verified_by_other(user.id, user.email):
            raise EmailTaken()
        user.email_verified = True
        self.tokens.delete_for_user(user.id, TokenPurpose.VERIFY_EMAIL)
        return copy(user)

    async def reset_password(
        self,
        token_hash: bytes,
        password_hash: str,
        now: datetime,
        *,
        mail: Sequence[MailMessage] = (),
    ) -> int | None:
        if self.sessions is None:  # a repository built alone, outside InMemoryStore
            raise RuntimeError("InMemoryUserRepository.reset_password needs its store's sessions")
        token = self.tokens.usable(token_hash, TokenPurpose.RESET_PASSWORD, now)
        user = None if token is None else self._by_id.get(token.user_id)
        if token is None or user is None:
            return None
        sessions = self.sessions._by_hash
        ended = [h for h, s in sessions.items() if s.user_id == user.id]
        for session_hash in ended:
            del sessions[session_hash]
        user.password_hash = password_hash
        self.tokens.delete_for_user(user.id, TokenPurpose.RESET_PASSWORD)
        self.outbox.queue(mail)
        return len(ended)

    def _verified_by_other(self, user_id: str, email: str | None) -> bool:
        wanted = (email or "").lower()
        return any(
            other.id != user_id
            and other.email_verified
            and other.email is not None
            and other.email.lower() == wanted
            for other in self._by_id.values()
        )

    async def set_disabled(self, user_id: str, disabled: bool) -> int | None:
        user = self._by_id.get(user_id)
        if user is None:
            return None
        user.disabled = disabled
        return self._own_sessions().revoke_user(user_id) if disabled else 0

    async def delete(self, user_id: str) -> int | None:
        user = self._by_id.pop(user_id, None)
        if user is None:
            return None
        del self._id_by_canonical[user.username.canonical]
        self.outbox.forget_user(user_id)
        for purpose in TokenPurpose:  # as the store's foreign keys cascade
            self.tokens.delete_for_user(user_id, purpose)
        if self.factors is not None and self.challenges is not None:
            self.factors.forget_user(user_id)
            self.challenges.forget_user(user_id)
        return self._own_sessions().revoke_user(user_id)

    def _own_sessions(self) -> InMemorySessionRepository:
        if self.sessions is None:  # a repository built alone, outside InMemoryStore
            raise RuntimeError("this InMemoryUserRepository method needs its store's sessions")
        return self.sessions

    def _get(self, user_id: str) -> User | None:
        user = self._by_id.get(user_id)
        return None if user is None else copy(user)


class InMemorySessionRepository(SessionRepository):
    def __init__(self, users: InMemoryUserRepository) -> None:
        self._users = users
        self.outbox = users.outbox
        self._by_hash: dict[bytes, Session] = {}

    async def add(
        self,
        session: Session,
        *,
        password_hash: str,
        mail: Sequence[MailMessage] = (),
        limit: int = 0,
    ) -> SessionStored | None:
        user = self._users._by_id.get(session.user_id)
        if user is None or user.disabled or user.password_hash != password_hash:
            return None
        evicted: list[Session] = []
        if limit > 0:
            mine = [s for s in self._by_hash.values() if s.user_id == session.user_id]
            mine.sort(key=lambda s: (s.last_seen_at, s.created_at, s.id))
            evicted = mine[: max(0, len(mine) - (limit - 1))]
            for gone in evicted:
                del self._by_hash[gone.token_hash]
        self._by_hash[session.token_hash] = session
        self.outbox.queue(mail)
        return SessionStored(evicted=tuple(s.id for s in evicted))

    async def get_with_user(self, token_hash: bytes) -> tuple[Session, User] | None:
        session = self._by_hash.get(token_hash)
        if session is None:
            return None
        user = self._users._get(session.user_id)
        return None if user is None else (session, user)

    async def touch(self, token_hash: bytes, last_seen_at: datetime) -> None:
        session = self._by_hash.get(token_hash)
        if session is not None and last_seen_at > session.last_seen_at:
            self._by_hash[token_hash] = replace(session, last_seen_at=last_seen_at)

    async def revoke(self, token_hash: bytes) -> bool:
        return self._by_hash.pop(token_hash, None) is not None

    async def list_for_user(self, user_id: str) -> list[Session]:
        mine = [s for s in self._by_hash.values() if s.user_id == user_id]
        return sorted(mine, key=lambda s: s.created_at, reverse=True)

    async def revoke_by_id(self, user_id: str, session_id: str) -> bool:
        for token_hash, s in self._by_hash.items():
            if s.id == session_id and s.user_id == user_id:
                del self._by_hash[token_hash]
                return True
        return False

    async def revoke_all_for_user(self, user_id: str, *, keep_session_id: str | None = None) -> int:
        return self.revoke_all_sessions_but(user_id, keep_session_id)

    async def revoke_all(self) -> int:
        count = len(self._by_hash)
        self._by_hash.clear()
        return count

    def rotate(self, user_id: str, rotation: Rotation) -> int:
        """End every session of the user but the kept one, which takes its new token hash (and
        methods, when given), synchronously, in the caller's step; how many ended.
        NotAuthenticated (nothing changed) when the kept session ended meanwhile."""
        kept = [
            s
            for s in self._by_hash.values()
            if s.id == rotation.keep_session_id and s.user_id == user_id
        ]
        if not kept:
            raise NotAuthenticated()
        revoked = self.revoke_all_sessions_but(user_id, rotation.keep_session_id)
        session = kept[0]
        del self._by_hash[session.token_hash]
        methods = rotation.methods if rotation.methods is not None else session.methods
        self._by_hash[rotation.new_token_hash] = replace(
            session, token_hash=rotation.new_token_hash, methods=methods
        )
        return revoked

    def revoke_all_sessions_but(self, user_id: str, keep_session_id: str | None) -> int:
        doomed = [
            h for h, s in self._by_hash.items() if s.user_id == user_id and s.id != keep_session_id
        ]
        for token_hash in doomed:
            del self._by_hash[token_hash]
        return len(doomed)

    def has_user(self, user_id: str) -> bool:
        return user_id in self._users._by_id

    def revoke_user(self, user_id: str) -> int:
        """Every session of the user ended, synchronously: for the users repository's disable
        and delete, in the same step as their change."""
        doomed = [h for h, s in self._by_hash.items() if s.user_id == user_id]
        for token_hash in doomed:
            del self._by_hash[token_hash]
        return len(doomed)

    async def purge_expired(self, now: datetime, idle_timeout: timedelta) -> int:
        expired = [
            token_hash
            for token_hash, s in self._by_hash.items()
            if now >= s.expires_at or now >= s.last_seen_at + idle_timeout
        ]
        for token_hash in expired:
            del self._by_hash[token_hash]
        return len(expired)
