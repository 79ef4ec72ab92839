"""Sessions, their tokens and the expiry rule."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntFlag

# A token is what TokenGenerator makes: 32 random bytes, URL-safe base64 without padding.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def hash_token(token: str) -> bytes:
    """The only form of a token the store keeps. A token has 256 bits of entropy, so a plain
    SHA-256 is enough: there is nothing to brute-force, and a leaked table opens no session."""
    return hashlib.sha256(token.encode("ascii")).digest()


def is_well_formed_token(token: str) -> bool:
    """Cheap shape check, so garbage cookies never reach the store."""
    return _TOKEN_SHAPE.fullmatch(token) is not None


class AuthMethod(IntFlag):
    """How a session was reached: the methods proven at login, stored as one small integer with
    the session (so the assurance level costs the session check nothing)."""

    PASSWORD = 1
    TOTP = 2
    RECOVERY_CODE = 4
    WEBAUTHN = 8  # a security key or passkey as the second step after a password
    PASSKEY = 16  # a passkey alone, with user verification (something held and known or are)

    @property
    def aal(self) -> int:
        """Authenticator assurance level: 2 for a password and a second factor, or a passkey
        with user verification (itself two factors); 1 otherwise."""
        # Looked up, not computed: every forward-auth check asks, and IntFlag's operators cost
        # microseconds where the whole check costs about ten.
        return _AAL[self]

    @property
    def names(self) -> list[str]:
        """The methods' names, lower case, in a fixed order (for answers and audit records)."""
        return [m.name.lower() for m in AuthMethod if m in self and m.name is not None]


def _level(methods: int) -> int:
    second = AuthMethod.TOTP | AuthMethod.RECOVERY_CODE | AuthMethod.WEBAUTHN
    if methods & AuthMethod.PASSKEY or (methods & AuthMethod.PASSWORD and methods & second):
        return 2
    return 1


_AAL = {value: _level(value) for value in range(1 << len(AuthMethod))}


@dataclass(frozen=True, slots=True)
class Session:
    """A login. `id` is a public identifier (safe to list and show); the token that proves the
    session is never kept, only `token_hash`. Immutable: a store hands out the object it holds,
    with no copy on the path every authenticated request takes, and a change is a new object
    (`dataclasses.replace`)."""

    id: str
    user_id: str
    token_hash: bytes = field(repr=False)
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # the absolute deadline, fixed at login
    user_agent: str | None = None
    ip: str | None = None
    methods: AuthMethod = AuthMethod.PASSWORD

    @property
    def aal(self) -> int:
        return self.methods.aal


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """When sessions end, and how often their last use is written down.

    - A session ends at whichever comes first: `idle_timeout` after its last use, or
      `absolute_timeout` after login. Using it slides only the idle deadline.
    - The last use is stored only once it has moved by `touch_interval`, so most requests do not
      write. The stored time lags the true one by less than that, which can only end an idle
      session earlier, never later.
    """

    idle_timeout: timedelta
    absolute_timeout: timedelta
    touch_interval: timedelta

    @classmethod
    def from_seconds(cls, idle: int, absolute: int) -> SessionPolicy:
        idle_timeout = timedelta(seconds=idle)
        # A tenth of the idle timeout, at most a minute: cheap, and precise enough for any timeout.
        touch = min(idle_timeout / 10, timedelta(minutes=1))
        return cls(idle_timeout, timedelta(seconds=absolute), touch)

    def __post_init__(self) -> None:
        if self.idle_timeout <= timedelta(0) or self.absolute_timeout <= timedelta(0):
            raise ValueError("session timeouts must be positive")

    def absolute_deadline(self, login_at: datetime) -> datetime:
        return login_at + self.absolute_timeout

    def idle_deadline(self, session: Session) -> datetime:
        return session.last_seen_at + self.idle_timeout

    def ends_at(self, session: Session) -> datetime:
        return min(self.idle_deadline(session), session.expires_at)

    def is_expired(self, session: Session, now: datetime) -> bool:
        return now >= self.ends_at(session)

    def needs_touch(self, session: Session, now: datetime) -> bool:
        return now - session.last_seen_at >= self.touch_interval


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a change that ends the account's other sessions does to the session that made it:
    it keeps it, under a new token (`new_token_hash`), with its methods raised to `methods` when
    given (a factor just proven by enrolling it)."""

    keep_session_id: str
    new_token_hash: bytes = field(repr=False)
    methods: AuthMethod | None = None


@dataclass(frozen=True, slots=True)
class SessionStored:
    """What SessionRepository.add answers for a session it stored: the public ids of the
    sessions it ended to keep the user within the session limit (least recently used first)."""

    evicted: tuple[str, ...] = ()
