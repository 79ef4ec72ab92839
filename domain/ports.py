"""What the core needs from the outside world, named by role. Adapters name the technology."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from domain.account_token import AccountToken
from domain.audit import AuditEvent
from domain.client import Client
from domain.factors import (
    Challenge,
    Enrolled,
    FactorSummary,
    TotpFactor,
    WebAuthnCredential,
)
from domain.mail import MailContent, MailFacts, MailKind, MailMessage, OutboxStats, QueuedMail
from domain.schema import SchemaStatus
from domain.session import Rotation, Session, SessionStored
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


class FactorRepository(Protocol):
    """Second factors of users (domain.factors). A change that adds or removes a factor, or
    renews the recovery codes, also ends every other session of the user and re-keys the one
    that made it (`rotation`), and queues `mail`, all or nothing. Removing a user removes its
    factors. Every use is atomic with respect to other callers on every instance."""

    async def summary(self, user_id: str) -> FactorSummary: ...

    async def totp(self, user_id: str) -> TotpFactor | None:
        """The user's TOTP factor, pending or confirmed."""

    async def start_totp(self, factor: TotpFactor) -> bool:
        """Store a pending set-up, replacing a pending one; False (nothing changed) when the
        user has a confirmed one."""

    async def confirm_totp(
        self,
        user_id: str,
        step: int,
        *,
        recovery_code_hashes: Sequence[bytes],
        rotation: Rotation,
        mail: Sequence[MailMessage] = (),
    ) -> Enrolled | None:
        """Confirm the pending set-up with its first accepted time step, storing the recovery
        codes when the user had no second factor; None (nothing changed) when none is pending."""

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        """Record `step` as used if the user's confirmed TOTP has used no step as late: False
        for a replay (that step or a later one was used: on any instance, at any time)."""

    async def remove_totp(
        self, user_id: str, *, rotation: Rotation, mail: Sequence[MailMessage] = ()
    ) -> int | None:
        """Remove the confirmed TOTP (and the recovery codes when no factor is left); how many
        sessions ended, None when there was none (nothing changed)."""

    async def replace_recovery_codes(
        self,
        user_id: str,
        code_hashes: Sequence[bytes],
        *,
        rotation: Rotation,
        mail: Sequence[MailMessage] = (),
    ) -> int | None:
        """A new set, the old one gone; how many sessions ended, None (nothing changed) when the
        user has no second factor."""

    async def use_recovery_code(self, user_id: str, code_hash: bytes) -> bool:
        """Consume the user's code with that hash; False when there is none (two uses at once:
        one wins)."""

    async def add_credential(
        self,
        credential: WebAuthnCredential,
        *,
        recovery_code_hashes: Sequence[bytes],
        rotation: Rotation,
        mail: Sequence[MailMessage] = (),
    ) -> Enrolled | None:
        """Store a WebAuthn credential (and the recovery codes when the user had no second
        factor); None (nothing stored) when its credential_id is registered already."""

    async def credentials(self, user_id: str) -> list[WebAuthnCredential]:
        """The user's credentials, oldest first."""

    async def credential(self, credential_id: bytes) -> WebAuthnCredential | None:
        """The credential with that authenticator id, whoever's it is."""

    async def use_credential(self, id: str, sign_count: int, now: datetime) -> bool:
        """Record a verified assertion: store `sign_count` and `last_used_at` if the counter
        grew, or if both the stored and the new one are 0 (an authenticator without a counter);
        False (nothing changed) otherwise: a cloned authenticator, or a race lost to the same
        assertion on another instance."""

    async def remove_credential(
        self, user_id: str, id: str, *, rotation: Rotation, mail: Sequence[MailMessage] = ()
    ) -> int | None:
        """Remove the user's credential with that public id (and the recovery codes when no
        factor is left); how many sessions ended, None when the user has no such credential."""

    async def remove_all(self, user_id: str, *, mail: Sequence[MailMessage] = ()) -> int | None:
        """An operator's reset of a user who lost every factor: remove the user's TOTP (pending
        or confirmed), credentials and recovery codes, end every session of the user and queue
        `mail`, all or nothing (a pending login then has no factor left to finish with). How
        many sessions ended; None for no such user."""


class ChallengeRepository(Protocol):
    """Short-lived ceremonies (domain.factors.Challenge), shared by every instance."""

    async def add(self, challenge: Challenge) -> None:
        """Store it, replacing one with the same key hash."""

    async def get(self, key_hash: bytes, now: datetime) -> Challenge | None:
        """The live challenge with that key hash, without consuming it."""

    async def set_webauthn_challenge(
        self, key_hash: bytes, challenge: bytes, now: datetime
    ) -> bool:
        """Give a live challenge a new WebAuthn challenge (the one before is dead); False when
        there is no live one."""

    async def fail(self, key_hash: bytes, max_failures: int) -> bool:
        """Count a wrong answer; at `max_failures` the challenge is deleted. False when it was
        deleted (or there was none)."""

    async def take(self, key_hash: bytes, now: datetime) -> Challenge | None:
        """Consume the live challenge with that key hash: two takes at once, one wins."""

    async def purge_expired(self, now: datetime) -> int: ...


class SecretBox(Protocol):
    """Authenticated encryption of small secrets at rest (TOTP secrets). `context` is bound to
    the sealed bytes (the user id): a sealed secret copied to another row does not open."""

    async def seal(self, plaintext: bytes, *, context: bytes) -> bytes: ...

    async def open(self, sealed: bytes, *, context: bytes) -> bytes:
        """The plaintext; ValueError when the bytes were not sealed with this key and context."""


class OneTimePasswords(Protocol):
    """TOTP, RFC 6238: SHA-1, 6 digits, 30-second steps."""

    def new_secret(self) -> str:
        """160 random bits, base32 (what authenticator apps take)."""

    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str:
        """The otpauth:// URI an app scans."""

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        """The time step (of the current and the previous one) whose code `code` is, the later
        one first; None when neither (or `code` is no 6-digit code). Constant-time compare."""


@dataclass(frozen=True, slots=True)
class RegisteredKey:
    """A registration the relying party verified."""

    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    discoverable: bool
    backed_up: bool
    user_verified: bool


@dataclass(frozen=True, slots=True)
class AssertionClaim:
    """What an assertion says before it is verified: which credential, and (for a passkey) whose."""

    credential_id: bytes
    user_handle: bytes | None


class WebAuthnRelyingParty(Protocol):
    """WebAuthn ceremonies (the `webauthn` library) for one relying party (id, name, origins).
    Options are JSON-ready dicts for the browser. The user handle is the user id's bytes. Each
    verify raises domain.errors.CeremonyFailed, with a reason for the audit log (`counter` for a
    signature counter that did not grow)."""

    def registration_options(
        self, *, user: User, challenge: bytes, exclude: Sequence[WebAuthnCredential]
    ) -> dict[str, object]:
        """Creation options asking for a discoverable credential where possible (a passkey)."""

    def verify_registration(
        self, credential: Mapping[str, object], *, challenge: bytes
    ) -> RegisteredKey: ...

    def authentication_options(
        self,
        *,
        challenge: bytes,
        allow: Sequence[WebAuthnCredential] | None,
        user_verification: str,
    ) -> dict[str, object]:
        """Request options; `allow` None: no allowCredentials (a discoverable credential)."""

    def claim(self, credential: Mapping[str, object]) -> AssertionClaim | None:
        """The credential id and user handle an assertion names, or None when it is no assertion."""

    def verify_assertion(
        self,
        credential: Mapping[str, object],
        *,
        challenge: bytes,
        stored: WebAuthnCredential,
        require_user_verification: bool,
    ) -> int:
        """The assertion's new signature counter, once its signature, challenge, origin, relying
        party and flags check out against `stored`."""


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
    factors: FactorRepository
    challenges: ChallengeRepository
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

    async def sealing_key(self) -> bytes:
        """32 bytes that seal TOTP secrets when SECRETS_KEY is unset, the same for every
        instance on this store (made on first use)."""
