"""In-memory second factors and ceremony challenges. Each method runs without an `await`
between reading and writing, so it is atomic with respect to other asyncio tasks. A change that
rotates the caller's session does so through the sessions repository in the same step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from adapters.memory_outbox import InMemoryOutbox
from domain.factors import Challenge, Enrolled, FactorSummary, TotpFactor, WebAuthnCredential
from domain.mail import MailMessage
from domain.ports import ChallengeRepository, FactorRepository
from domain.session import Rotation

if TYPE_CHECKING:
    from adapters.memory import InMemorySessionRepository


class InMemoryFactorRepository(FactorRepository):
    def __init__(self, sessions: InMemorySessionRepository, outbox: InMemoryOutbox) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._totp: dict[str, TotpFactor] = {}
        self._codes: dict[str, set[bytes]] = {}
        self._credentials: dict[str, WebAuthnCredential] = {}  # by public id

    async def summary(self, user_id: str) -> FactorSummary:
        return self._summary(user_id)

    async def totp(self, user_id: str) -> TotpFactor | None:
        return self._totp.get(user_id)

    async def start_totp(self, factor: TotpFactor) -> bool:
        current = self._totp.get(factor.user_id)
        if current is not None and current.confirmed:
            return False
        self._totp[factor.user_id] = replace(factor, confirmed=False, last_step=None)
        return True

    async def confirm_totp(
        self,
        user_id: str,
        step: int,
        *,
        recovery_code_hashes: Sequence[bytes],
        rotation: Rotation,
        mail: Sequence[MailMessage] = (),
    ) -> Enrolled | None:
        pending = self._totp.get(user_id)
        if pending is None or pending.confirmed:
            return None
        first = not self._summary(user_id).any
        revoked = self._sessions.rotate(user_id, rotation)
        self._totp[user_id] = replace(pending, confirmed=True, last_step=step)
        if first:
            self._codes[user_id] = set(recovery_code_hashes)
        self._outbox.queue(mail)
        return Enrolled(revoked_sessions=revoked, recovery_codes_stored=first)

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        factor = self._totp.get(user_id)
        if factor is None or not factor.confirmed:
            return False
        if factor.last_step is not None and factor.last_step >= step:
            return False
        self._totp[user_id] = replace(factor, last_step=step)
        return True

    async def remove_totp(
        self, user_id: str, *, rotation: Rotation, mail: Sequence[MailMessage] = ()
    ) -> int | None:
        factor = self._totp.get(user_id)
        if factor is None or not factor.confirmed:
            return None
        revoked = self._sessions.rotate(user_id, rotation)
        del self._totp[user_id]
        self._drop_codes_without_factor(user_id)
        self._outbox.queue(mail)
        return revoked

    async def replace_recovery_codes(
        self,
        user_id: str,
        code_hashes: Sequence[bytes],
        *,
        rotation: Rotation,
        mail: Sequence[MailMessage] = (),
    ) -> int | None:
        if not self._summary(user_id).any:
            return None
        revoked = self._sessions.rotate(user_id, rotation)
        self._codes[user_id] = set(code_hashes)
        self._outbox.queue(mail)
        return revoked

    async def use_recovery_code(self, user_id: str, code_hash: bytes) -> bool:
        codes = self._codes.get(user_id, set())
        if code_hash not in codes:
            return False
        codes.discard(code_hash)
        return True

    async def add_credential(
        self,
        credential: WebAuthnCredential,
        *,
        recovery_code_hashes: Sequence[bytes],
        rotation: Rotation,
        mail: Sequence[MailMessage] = (),
    ) -> Enrolled | None:
        if any(c.credential_id == credential.credential_id for c in self._credentials.values()):
            return None
        user_id = credential.user_id
        first = not self._summary(user_id).any
        revoked = self._sessions.rotate(user_id, rotation)
        self._credentials[credential.id] = credential
        if first:
            self._codes[user_id] = set(recovery_code_hashes)
        self._outbox.queue(mail)
        return Enrolled(revoked_sessions=revoked, recovery_codes_stored=first)

    async def credentials(self, user_id: str) -> list[WebAuthnCredential]:
        mine = [c for c in self._credentials.values() if c.user_id == user_id]
        return sorted(mine, key=lambda c: (c.created_at, c.id))

    async def credential(self, credential_id: bytes) -> WebAuthnCredential | None:
        for stored in self._credentials.values():
            if stored.credential_id == credential_id:
                return stored
        return None

    async def use_credential(self, id: str, sign_count: int, now: datetime) -> bool:
        stored = self._credentials.get(id)
        if stored is None:
            return False
        if not (sign_count > stored.sign_count or sign_count == stored.sign_count == 0):
            return False
        self._credentials[id] = replace(stored, sign_count=sign_count, last_used_at=now)
        return True

    async def remove_credential(
        self, user_id: str, id: str, *, rotation: Rotation, mail: Sequence[MailMessage] = ()
    ) -> int | None:
        stored = self._credentials.get(id)
        if stored is None or stored.user_id != user_id:
            return None
        revoked = self._sessions.rotate(user_id, rotation)
        del self._credentials[id]
        self._drop_codes_without_factor(user_id)
        self._outbox.queue(mail)
        return revoked

    async def remove_all(self, user_id: str, *, mail: Sequence[MailMessage] = ()) -> int | None:
        if not self._sessions.has_user(user_id):
            return None
        self.forget_user(user_id)
        revoked = self._sessions.revoke_user(user_id)
        self._outbox.queue(mail)
        return revoked

    def forget_user(self, user_id: str) -> None:
        """Everything of a deleted user, as the store's foreign keys cascade."""
        self._totp.pop(user_id, None)
        self._codes.pop(user_id, None)
        for id in [i for i, c in self._credentials.items() if c.user_id == user_id]:
            del self._credentials[id]

    def _summary(self, user_id: str) -> FactorSummary:
        totp = self._totp.get(user_id)
        return FactorSummary(
            totp=totp is not None and totp.confirmed,
            webauthn=sum(1 for c in self._credentials.values() if c.user_id == user_id),
            recovery_codes_left=len(self._codes.get(user_id, ())),
        )

    def _drop_codes_without_factor(self, user_id: str) -> None:
        if not self._summary(user_id).any:
            self._codes.pop(user_id, None)


class InMemoryChallengeRepository(ChallengeRepository):
    def __init__(self) -> None:
        self._by_key: dict[bytes, Challenge] = {}

    async def add(self, challenge: Challenge) -> None:
        self._by_key[challenge.key_hash] = challenge

    async def get(self, key_hash: bytes, now: datetime) -> Challenge | None:
        found = self._by_key.get(key_hash)
        return found if found is not None and found.is_live(now) else None

    async def set_webauthn_challenge(
        self, key_hash: bytes, challenge: bytes, now: datetime
    ) -> bool:
        found = self._by_key.get(key_hash)
        if found is None or not found.is_live(now):
            return False
        self._by_key[key_hash] = replace(found, webauthn_challenge=challenge)
        return True

    async def fail(self, key_hash: bytes, max_failures: int) -> bool:
        found = self._by_key.get(key_hash)
        if found is None:
            return False
        if found.failures + 1 >= max_failures:
            del self._by_key[key_hash]
            return False
        self._by_key[key_hash] = replace(found, failures=found.failures + 1)
        return True

    async def take(self, key_hash: bytes, now: datetime) -> Challenge | None:
        found = self._by_key.pop(key_hash, None)
        return found if found is not None and found.is_live(now) else None

    async def purge_expired(self, now: datetime) -> int:
        expired = [k for k, c in self._by_key.items() if not c.is_live(now)]
        for key in expired:
            del self._by_key[key]
        return len(expired)

    def forget_user(self, user_id: str) -> None:
        for key in [k for k, c in self._by_key.items() if c.user_id == user_id]:
            del self._by_key[key]
