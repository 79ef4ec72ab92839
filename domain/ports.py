"""What the core needs from the outside world, named by role. Adapters name the technology."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from domain.account_token import AccountToken
from domain.audit import AuditEvent
from domain.client import Client
from domain.mail import MailContent, MailFacts, MailKind, MailMessage, OutboxStats, QueuedMail
from domain.schema import SchemaStatus
from domain.session import Session, SessionStored
from domain.user import User


class UserRepository(Protocol):
    async def add(
        self, user: User, *, token: AccountToken | None = None, mail: Sequence[MailMessage] = ()
    ) -> None:
        """Store a new user, with its first `token` (a link to confirm its address) and `mail`,
        all or nothing; raise UsernameTaken when the canonical username exists."""

    async def get(self, user_id: str) -> User | None: ...

    async def get_by_username(self, canonical: str) -> User | None: ...

    async def update_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the stored hash of the same password (a rehash); sessions are not touched."""

    async def change_password(
        self,
        user_id: str,
        password_hash: str,
        *,
        keep_session_id: str,
        new_token_hash: bytes,
        mail: Sequence[MailMessage] = (),
    ) -> int:
        """All or nothing: store the new hash, end every other session of the user, re-key the
        kept session with `new_token_hash`, delete the user's reset tokens (a link mailed before
        the change must not undo it), and queue `mail`. Returns how many sessions ended."""

    async def password_hash_parameters(self) -> dict[str, int]:
        """How many users have each `hash_parameters()` of their password hash (domain.user):
        the costs that the stored hashes take to verify."""

    async def get_by_verified_email(self, email: str) -> User | None:
        """The account that holds `email` verified (compared case-insensitively), if one does."""

    async def set_email(
        self, user_id: str, email: str, *, token: AccountToken, mail: Sequence[MailMessage] = ()
    ) -> User | None:
        """All or nothing: make `email` the user's address, unverified; delete the user's other
        verification tokens; store `token` (which confirms `email`) and queue `mail`. The user
        as it is now, or None when there is no such user."""

    async def verify_email(self, token_hash: bytes, now: datetime) -> User | None:
        """All or nothing: consume the verification token with that hash if it has not expired
        at `now` and confirms the address the user names now; mark the address verified and
        delete the user's other verification tokens. The user as it is now, or None (nothing
        changed, the token stays as it was). EmailTaken when another account holds the address
        verified: then too nothing changes and the token stays. Two uses at once: one wins."""

    async def reset_password(
        self,
        token_hash: bytes,
        password_hash: str,
        now: datetime,
        *,
        mail: Sequence[MailMessage] = (),
    ) -> int | None:
        """All or nothing: consume the reset token with that hash if it has not expired at `now`,
        store `password_hash`, end every session of its user, delete the user's other reset
        tokens and queue `mail`. How many sessions ended, or None when no token was consumed
        (unknown, used, expired). Two uses at once: exactly one wins."""

    async def set_disabled(self, user_id: str, disabled: bool) -> int | None:
        """Set the user's disabled flag; disabling also ends every session of the user, in the
        same transaction, and a session `SessionRepository.add` stores for that user afterwards
        (or racing it) cannot survive. Returns how many sessions ended, None for no such user."""

    async def delete(self, user_id: str) -> int | None:
        """Delete the user with everything stored for it (sessions, link tokens, queued mail),
        all or nothing. Returns how many sessions ended, None for no such user."""


class SessionRepository(Protocol):
    async def add(
        self,
        session: Session,
        *,
        password_hash: str,
        mail: Sequence[MailMessage] = (),
        limit: int = 0,
    ) -> SessionStored | None:
        """Store the session, and queue `mail` with it, if its user's password hash is still
        `password_hash` and the user is not disabled, atomically with respect to a password
        change and to a disable: a login that verified the old password while the password was
        being changed, or that raced a disable, must not leave a session behind. None when it
        was not stored (and nothing was queued).

        `limit` above 0: the user holds at most that many sessions afterwards; the least
        recently used ones (by `last_seen_at`) end in the same atomic step, and logins racing
        on every instance sharing the store never leave more. Their public ids are returned."""

    async def get_with_user(self, token_hash: bytes) -> tuple[Session, User] | None:
        """The session with that token hash and its user, in one lookup (the hot path)."""

    async def touch(self, token_hash: bytes, last_seen_at: datetime) -> None:
        """Record a later use; never moves `last_seen_at` backwards."""

    async def revoke(self, token_hash: bytes) -> bool:
        """End the session at once; False when there was none."""

    async def list_for_user(self, user_id: str) -> list[Session]:
        """The user's stored sessions, newest first (expired ones included until purged)."""

    async def revoke_by_id(self, user_id: str, session_id: str) -> bool:
        """End the session with that public id if it belongs to that user."""

    async def revoke_all_for_user(self, user_id: str, *, keep_session_id: str | None = None) -> int:
        """End every session of the user, but the kept one; return how many."""

    async def revoke_all(self) -> int:
        """End every session of every user; return how many."""

    async def purge_expired(self, now: datetime, idle_timeout: timedelta) -> int:
        """Delete sessions past either deadline, and what the store kept only for them (Postgres:
        the user agents no session uses any more); return how many sessions. A store shared by
        several instances may raise PurgeInProgress when another one is purging."""


class AccountTokenRepository(Protocol):
    """Tokens of links in mail (domain.account_token), kept by hash only. They are consumed by
    the user operations they authorise (UserRepository.verify_email, reset_password), in the
    same transaction."""

    async def add(self, token: AccountToken, *, mail: Sequence[MailMessage] = ()) -> None:
        """Store the token and queue `mail` (its link), all or nothing."""

    async def find(self, token_hash: bytes) -> AccountToken | None:
        """The stored token, expired or not, without consuming it."""

    async def purge_expired(self, now: datetime) -> int:
        """Delete the tokens expired at `now`; return how many."""


class PasswordHasher(Protocol):
    """`owner` names whom the work is for (the client address, or None when unknown), so that an
    adapter with bounded capacity can keep one owner from taking all of it."""

    async def hash(self, password: str, *, owner: str | None = None) -> str: ...

    async def verify(
        self, password_hash: str, password: str, *, owner: str | None = None
    ) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""

    async def verify_dummy(
        self, password: str, *, username: str = "", owner: str | None = None
    ) -> None:
        """Spend the time a real verify takes, for a user that does not exist, so that timing
        does not tell whether a username is registered: the cost of a stored hash, the same
        one each time for one `username` (see calibrate_dummy)."""

    async def calibrate_dummy(self, stored: Mapping[str, int], secret: bytes) -> None:
        """Make verify_dummy cost what stored hashes cost: `stored` counts the users of each
        `hash_parameters()`, `secret` (shared by every instance) keys the choice per username."""


@dataclass(frozen=True, slots=True)
class Count:
    value: int
    resets_at: datetime


class AttemptCounter(Protocol):
    """Fixed-window counters shared by every instance (throttling). Every change is atomic with
    respect to concurrent callers, in this process and in every other one sharing the store."""

    async def get(self, keys: Sequence[str], now: datetime) -> dict[str, Count]:
        """Counts of the windows still open at `now`; keys without one are absent."""

    async def acquire(
        self, key: str, limit: int, now: datetime, window: timedelta
    ) -> tuple[bool, Count]:
        """Add one to the key's open window (opening one of length `window` where none is open)
        unless it already holds `limit`, in one atomic step. Returns whether one was added, and
        the window's count after. A refused call opens and changes nothing."""

    async def release(self, key: str, resets_at: datetime) -> None:
        """Take back one that `acquire` added to the window that closes at `resets_at`; nothing
        when that window has closed or been cleared. Taking back the last one forgets the window."""

    async def clear(self, key: str) -> None: ...

    async def purge(self, now: datetime) -> int:
        """Forget windows closed by `now`; return how many."""


class AuditLog(Protocol):
    """One structured record per security event. Never given a password, hash or token."""

    def record(
        self,
        event: AuditEvent,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        client: Client | None = None,
        **details: object,
    ) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


class TokenGenerator(Protocol):
    def session_token(self) -> str:
        """A fresh secret session token with at least 256 bits of entropy."""

    def public_id(self) -> str:
        """A fresh random identifier that is safe to show (user ids, session ids)."""


class Outbox(Protocol):
    """Mail waiting to be sent, kept in the store. A change that reports itself by mail passes its
    messages to the repository method that makes the change, which queues them in the same
    transaction; `add` queues messages on their own."""

    async def add(self, messages: Sequence[MailMessage]) -> None: ...

    # What a sender needs (application/deliver_mail.py). Every call is atomic with respect to
    # other senders, in this process and in every other one sharing the store.

    async def claim(self, now: datetime, *, limit: int, lease: timedelta) -> list[QueuedMail]:
        """Up to `limit` messages due at `now` (not failed, their next attempt not later), the
        earliest due chosen first, each counted an attempt and held until `now + lease`: no other
        claim returns a message while it is held, so two senders never send one message."""

    async def delivered(self, message_id: str) -> None:
        """The server took it: delete it (its bodies may hold a token)."""

    async def postpone(self, message_id: str, *, until: datetime, error: str) -> None:
        """Try it again at `until`, remembering why the last attempt failed."""

    async def fail(self, message_id: str, *, now: datetime, error: str) -> None:
        """Give it up for good: kept, marked failed at `now` with `error`, its bodies erased."""

    async def stats(self) -> OutboxStats: ...

    async def purge_failed(self, before: datetime) -> int:
        """Forget messages that failed before `before`; return how many."""


class Mailer(Protocol):
    """Hands one message to a mail server (or prints it, in development)."""

    async def send(self, message: MailMessage) -> None:
        """Deliver it, or raise domain.mail.MailDeliveryError (`permanent` when the server
        refused it for good)."""


class MailComposer(Protocol):
    """Turns a kind of message and its facts into a subject and two bodies, from templates, with
    the product name and the public URL (links) from the settings."""

    def compose(self, kind: MailKind, facts: MailFacts) -> MailContent: ...


class UserAgents(Protocol):
    """Names a browser and system from a User-Agent header, for people to read."""

    def describe(self, user_agent: str | None) -> str:
        """ "Chrome 156 on Linux", or a plain "Unknown browser" when it tells nothing."""


class EmailAddresses(Protocol):
    """Checks and normalises an email address (a maintained parser, no network look-up)."""

    def normalize(self, raw: str) -> str:
        """The normalised address, or domain.errors.InvalidEmail."""


class Store(Protocol):
    """A storage backend: its repositories, and what the service needs to run it (open, close,
    readiness, schema), so that nothing outside the adapter asks which store it is."""

    users: UserRepository
    sessions: SessionRepository
    attempts: AttemptCounter
    outbox: Outbox
    tokens: AccountTokenRepository
    # True when every instance (process) using the same store sees the same data, and a command
    # run from another process sees it too; False for a store private to one process.
    shared: bool

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the store answers now and can take writes; never raises. A readiness probe
        asks it: it answers well within a second, on a path of its own, however busy the
        connections that serve requests are. False when the store is not open."""

    async def migrate(self) -> list[str]:
        """Bring the store's schema up to date, whether or not it is open; return the versions
        applied (none for a store without a schema). StoreUnavailable when it cannot be reached
        (StoreMisconfigured when it refuses this configuration); MigrationChanged when an
        applied migration's file is not the one that was applied."""

    async def schema_status(self) -> SchemaStatus:
        """Each migration as applied, pending, unknown (in the store, not shipped with this
        code) or changed, without changing anything, whether or not the store is open; empty
        for a store without a schema. StoreUnavailable when it cannot be reached
        (StoreMisconfigured when it refuses this configuration)."""

    def describe(self) -> str:
        """What the store is, for messages and logs: never a password."""

    async def device_key(self) -> bytes:
        """The key that signs device cookies, the same for every instance on this store
        (made on first use)."""

    async def device_keys(self) -> Sequence[bytes]:
        """`(device_key(),)`: the store is a DeviceKeySource of one key."""
