"""A cache of resolved sessions in front of any store's SessionRepository, kept fresh across
instances by the store's revocation feed (Postgres: LISTEN/NOTIFY, adapters/postgres/revocations.py).

Rules that make it safe:
- An entry is served only while its last use is within `fresh_for` (the session policy's touch
  interval): exactly the time in which ResolveSession would not write anyway. After that the
  session is read again (and touched), so the cache never stretches an idle deadline, and the
  absolute deadline is checked by the use-case on every request as before.
- Every deletion of a session, on any instance or by any tool, reaches every instance's cache
  through the feed (on Postgres a trigger, migration 0003, notifies the token hashes); each
  instance drops them within milliseconds.
- A read that raced with a notification is not cached (a generation counter), so a revocation
  that lands while a read is in flight cannot be undone by that read.
- A revocation made here forgets its entries before the delete and again after it has
  committed: a resolve that read the row in between (it was still there) may have cached it,
  and no notification must be needed for this instance's own revocation to hold once it has
  returned (a /logout answered). A read that began before the second forget finds the
  generation moved and caches nothing, so the counter covers the whole window. A password
  change (which ends the user's other sessions and rotates the current token, in the users
  repository) does the same through CachedUserRepository, and so does a change of second
  factors (which ends and rotates alike, raising the kept session's methods) through
  CachedFactorRepository. A rotation stores the kept session under a new token hash, which no
  cache holds yet: its new methods (its assurance level) are read from the store on first use.
- The cache is used only while the feed's listener is connected; when it drops the cache empties
  and stays off until the listener is back.
- A connection can also go silent (no FIN: a cable, a firewall, a frozen peer), and then
  notifications are lost without any error. So the cache serves only while the listener has
  proved its connection recently: each check it passes renews the cache's lease (`renew`). The
  Postgres listener checks every 0.5 s and renews to 1.5 s after the check was sent, so after a
  silent drop the cache serves for at most 1.5 s, and stops at once when a check is late.
- An entry unused for `fresh_for` can never be served again, so it is dropped (a sweep at most
  once per `fresh_for`): sessions that are abandoned rather than logged out would otherwise stay
  until `max_entries` pushed them out, since the purge of expired sessions notifies nobody.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from time import monotonic

from domain.account_token import AccountToken
from domain.factors import Enrolled, FactorSummary, TotpFactor, WebAuthnCredential
from domain.mail import MailMessage
from domain.ports import Clock, FactorRepository, SessionRepository, UserRepository
from domain.session import Rotation, Session, SessionStored
from domain.user import User

FLUSH = "*"  # payload: forget everything (a large deletion)
USER_CHANGED = "user:"  # payload prefix: forget the sessions of the user with this id


class CachedSessionRepository(SessionRepository):
    def __init__(
        self,
        inner: SessionRepository,
        clock: Clock,
        fresh_for: timedelta,
        max_entries: int = 100_000,
    ) -> None:
        self._inner = inner
        self._clock = clock
        self._fresh_for = fresh_for
        self._max_entries = max_entries
        self._entries: dict[bytes, tuple[Session, User]] = {}
        self._generation = 0
        self._next_sweep = clock.now()
        self.enabled = False  # turned on by the listener while it is connected
        self._serving_until = 0.0  # monotonic(); the listener renews it with every check passed
        # Lookups answered from memory, and those that went to the store (the cache off
        # included): plain ints on the hot path, which the metrics read when scraped.
        self.hits = 0
        self.misses = 0

    # invalidation

    def forget(self, token_hashes: list[bytes]) -> None:
        self._generation += 1
        for token_hash in token_hashes:
            self._entries.pop(token_hash, None)

    def forget_all(self) -> None:
        self._generation += 1
        self._entries.clear()

    def on_notification(self, payload: str) -> None:
        """A message of the revocation feed: token hashes in hex, comma-separated, FLUSH, or
        `user:<id>` when what the cache holds of that user changed (migration 0009)."""
        if payload == FLUSH:
            self.forget_all()
            return
        if payload.startswith(USER_CHANGED):
            self.forget_user(payload.removeprefix(USER_CHANGED))
            return
        try:
            self.forget([bytes.fromhex(item) for item in payload.split(",") if item])
        except ValueError:
            self.forget_all()  # unreadable: be safe

    def set_enabled(self, enabled: bool, until: float = math.inf) -> None:
        """`until`: the monotonic() time the cache may serve to unless renewed (the listener's
        lease); without a listener (tests), for ever."""
        self.forget_all()
        self.enabled = enabled
        self._serving_until = until if enabled else 0.0

    def renew(self, until: float) -> None:
        if self.enabled:
            self._serving_until = until

    @property
    def serving(self) -> bool:
        return self.enabled and monotonic() < self._serving_until

    # the port

    async def get_with_user(self, token_hash: bytes) -> tuple[Session, User] | None:
        if self.enabled and monotonic() < self._serving_until:
            hit = self._entries.get(token_hash)
            if hit is not None and self._clock.now() - hit[0].last_seen_at < self._fresh_for:
                self.hits += 1
                return hit
        self.misses += 1
        generation = self._generation
        found = await self._inner.get_with_user(token_hash)
        # Cached even while the lease has lapsed: a lapse without a failed check loses nothing
        # (notifications arrive in order), and a failed check empties the cache anyway.
        if found is not None and self.enabled and generation == self._generation:
            self._drop_stale()
            if len(self._entries) >= self._max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[token_hash] = found
        return found

    async def touch(self, token_hash: bytes, last_seen_at: datetime) -> None:
        await self._inner.touch(token_hash, last_seen_at)
        hit = self._entries.get(token_hash)
        if hit is not None and last_seen_at > hit[0].last_seen_at:
            self._entries[token_hash] = (replace(hit[0], last_seen_at=last_seen_at), hit[1])

    async def add(
        self,
        session: Session,
        *,
        password_hash: str,
        mail: Sequence[MailMessage] = (),
        limit: int = 0,
    ) -> SessionStored | None:
        stored = await self._inner.add(session, password_hash=password_hash, mail=mail, limit=limit)
        if stored is not None and stored.evicted:
            # Sessions ended to keep the limit, committed by now: an entry cached before this
            # forget goes, a read in flight caches nothing (the generation moves), and a later
            # read finds the rows gone. The other instances hear of them by notification.
            self.forget_user(session.user_id)
        return stored

    async def revoke(self, token_hash: bytes) -> bool:
        # This instance before and after the commit (see the module's rules); the others by notification.
        self.forget([token_hash])
        try:
            return await self._inner.revoke(token_hash)
        finally:
            self.forget([token_hash])

    async def list_for_user(self, user_id: str) -> list[Session]:
        return await self._inner.list_for_user(user_id)

    async def revoke_by_id(self, user_id: str, session_id: str) -> bool:
        self.forget_user(user_id)
        try:
            return await self._inner.revoke_by_id(user_id, session_id)
        finally:
            self.forget_user(user_id)

    async def revoke_all_for_user(self, user_id: str, *, keep_session_id: str | None = None) -> int:
        self.forget_user(user_id)
        try:
            return await self._inner.revoke_all_for_user(user_id, keep_session_id=keep_session_id)
        finally:
            self.forget_user(user_id)

    async def revoke_all(self) -> int:
        self.forget_all()
        try:
            return await self._inner.revoke_all()
        finally:
            self.forget_all()

    async def purge_expired(self, now: datetime, idle_timeout: timedelta) -> int:
        return await self._inner.purge_expired(now, idle_timeout)

    def _drop_stale(self) -> None:
        now = self._clock.now()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._fresh_for
        cutoff = now - self._fresh_for
        self._entries = {
            h: entry for h, entry in self._entries.items() if entry[0].last_seen_at > cutoff
        }

    def forget_user(self, user_id: str) -> None:
        self.forget([h for h, (s, _) in self._entries.items() if s.user_id == user_id])


class CachedUserRepository(UserRepository):
    """The users repository, with a password change, a disable, an enable and a deletion
    forgetting the user's cached sessions before and after they commit, as
    CachedSessionRepository's own revocations do."""

    def __init__(self, inner: UserRepository, cache: CachedSessionRepository) -> None:
        self._inner = inner
        self._cache = cache

    async def add(
        self, user: User, *, token: AccountToken | None = None, mail: Sequence[MailMessage] = ()
    ) -> None:
        await self._inner.add(user, token=token, mail=mail)

    async def get(self, user_id: str) -> User | None:
        return await self._inner.get(user_id)

    async def get_by_username(self, canonical: str) -> User | None:
        return await self._inner.get_by_username(canonical)

    async def update_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._inner.update_password_hash(user_id, password_hash)

    async def password_hash_parameters(self) -> dict[str, int]:
        return await self._inner.password_hash_parameters()

    async def get_by_verified_email(self, email: str) -> User | None:
        return await self._inner.get_by_verified_email(email)

    # The cache serves the user with each session: a change of the address or of its standing
    # forgets the user's entries here (before and after, as for a password change). Another
    # instance serves the old address for at most the cache's `fresh_for`; sessions ended by a
    # reset reach every instance by the revocation feed.

    async def set_email(
        self, user_id: str, email: str, *, token: AccountToken, mail: Sequence[MailMessage] = ()
    ) -> User | None:
        self._cache.forget_user(user_id)
        try:
            return await self._inner.set_email(user_id, email, token=token, mail=mail)
        finally:
            self._cache.forget_user(user_id)

    async def verify_email(self, token_hash: bytes, now: datetime) -> User | None:
        # The user is known only once the token is consumed: forgetting after the commit is
        # enough, since it moves the generation and a read in flight then caches nothing.
        user = await self._inner.verify_email(token_hash, now)
        if user is not None:
            self._cache.forget_user(user.id)
        return user

    async def reset_password(
        self,
        token_hash: bytes,
        password_hash: str,
        now: datetime,
        *,
        mail: Sequence[MailMessage] = (),
    ) -> int | None:
        # Whose sessions end is known only from the token: every entry is forgotten (a reset is
        # rare), and the deletion's notification reaches the other instances.
        self._cache.forget_all()
        try:
            return await self._inner.reset_password(token_hash, password_hash, now, mail=mail)
        finally:
            self._cache.forget_all()

    async def change_password(
        self,
        user_id: str,
        password_hash: str,
        *,
        keep_session_id: str,
        new_token_hash: bytes,
        mail: Sequence[MailMessage] = (),
    ) -> int:
        self._cache.forget_user(user_id)
        try:
            return await self._inner.change_password(
                user_id,
                password_hash,
                keep_session_id=keep_session_id,
                new_token_hash=new_token_hash,
                mail=mail,
            )
        finally:
            self._cache.forget_user(user_id)

    async def set_disabled(self, user_id: str, disabled: bool) -> int | None:
        self._cache.forget_user(user_id)
        try:
            return await self._inner.set_disabled(user_id, disabled)
        finally:
            self._cache.forget_user(user_id)

    async def delete(self, user_id: str) -> int | None:
        self._cache.forget_user(user_id)
        try:
            return await self._inner.delete(user_id)
        finally:
            self._cache.forget_user(user_id)


class CachedFactorRepository(FactorRepository):
    """The factors repository, with every change that rotates the caller's session (an
    enrolment, a removal, new recovery codes) forgetting the user's cached sessions before and
    after it commits, as CachedUserRepository does for a password change. The other instances
    hear of the ended sessions and the old token by the deletion's notification."""

    def __init__(self, inner: FactorRepository, cache: CachedSessionRepository) -> None:
        self._inner = inner
        self._cache = cache

    async def summary(self, user_id: str) -> FactorSummary:
        return await self._inner.summary(user_id)

    async def totp(self, user_id: str) -> TotpFactor | None:
        return await self._inner.totp(user_id)

    async def start_totp(self, factor: TotpFactor) -> bool:
        return await self._inner.start_totp(factor)

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        return await self._inner.use_totp_step(user_id, step)

    async def use_recovery_code(self, user_id: str, code_hash: bytes) -> bool:
        return await self._inner.use_recovery_code(user_id, code_hash)

    async def credentials(self, user_id: str) -> list[WebAuthnCredential]:
        return await self._inner.credentials(user_id)

    async def credential(self, credential_id: bytes) -> WebAuthnCredential | None:
        return await self._inner.credential(credential_id)

    async def use_credential(self, id: str, sign_count: int, now: datetime) -> bool:
        return await self._inner.use_credential(id, sign_count, now)

    async def confirm_totp(
        self,
        user_id: str,
        step: int,
        *,
        recovery_code_hashes: Sequence[bytes],
        rotation: Rotation,
        mail: Sequence[MailMessage] = (),
    ) -> Enrolled | None:
        self._cache.forget_user(user_id)
        try:
            return await self._inner.confirm_totp(
                user_id,
                step,
                recovery_code_hashes=recovery_code_hashes,
                rotation=rotation,
                mail=mail,
            )
        finally:
            self._cache.forget_user(user_id)

    async def remove_totp(
        self, user_id: str, *, rotation: Rotation, mail: Sequence[MailMessage] = ()
    ) -> int | None:
        self._cache.forget_user(user_id)
        try:
            return await self._inner.remove_totp(user_id, rotation=rotation, mail=mail)
        finally:
            self._cache.forget_user(user_id)

    async def remove_all(self, user_id: str, *, mail: Sequence[MailMessage] = ()) -> int | None:
        self._cache.forget_user(user_id)
        try:
            return await self._inner.remove_all(user_id, mail=mail)
        finally:
            self._cache.forget_user(user_id)

    async def replace_recovery_codes(
        self,
        user_id: str,
        code_hashes: Sequence[bytes],
        *,
        rotation: Rotation,
        mail: Sequence[MailMessage] = (),
    ) -> int | None:
        self._cache.forget_user(user_id)
        try:
            return await self._inner.replace_recovery_codes(
                user_id, code_hashes, rotation=rotation, mail=mail
            )
        finally:
            self._cache.forget_user(user_id)

    async def add_credential(
        self,
        credential: WebAuthnCredential,
        *,
        recovery_code_hashes: Sequence[bytes],
        rotation: Rotation,
        mail: Sequence[MailMessage] = (),
    ) -> Enrolled | None:
        self._cache.forget_user(credential.user_id)
        try:
            return await self._inner.add_credential(
                credential, recovery_code_hashes=recovery_code_hashes, rotation=rotation, mail=mail
            )
        finally:
            self._cache.forget_user(credential.user_id)

    async def remove_credential(
        self, user_id: str, id: str, *, rotation: Rotation, mail: Sequence[MailMessage] = ()
    ) -> int | None:
        self._cache.forget_user(user_id)
        try:
            return await self._inner.remove_credential(user_id, id, rotation=rotation, mail=mail)
        finally:
            self._cache.forget_user(user_id)
