"""Second factors (TOTP, recovery codes, WebAuthn credentials) and the short-lived challenges of
their ceremonies: a pending login, a passkey login, a registration, a re-authentication."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.session import AuthMethod

TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
TOTP_SECRET_BYTES = 20  # 160 bits, as RFC 4226 recommends

RECOVERY_CODES_PER_SET = 10
# 120 bits a code: at or above the 112 bits under which the spec asks for a password hash, so a
# SHA-256 is enough (nothing to brute-force) and a code is found by its hash in one look-up.
RECOVERY_CODE_BYTES = 15
_RECOVERY_CODE_SHAPE = re.compile(r"[a-z2-7]{24}")  # 15 bytes in base32, without padding
_SEPARATORS = re.compile(r"[\s-]+")

MAX_FACTOR_FAILURES = 5  # wrong second steps after which a pending login ends
CREDENTIAL_NAME_MAX = 64


class Factor(StrEnum):
    """A kind of second factor, as answers name them (the 202's `methods`)."""

    TOTP = "totp"
    WEBAUTHN = "webauthn"
    RECOVERY_CODE = "recovery_code"

    @property
    def method(self) -> AuthMethod:
        return AuthMethod[self.name]


def new_recovery_codes(count: int = RECOVERY_CODES_PER_SET) -> list[str]:
    """A fresh set, as shown to the user once: lower-case base32 in groups of four."""
    codes = []
    for _ in range(count):
        raw = base64.b32encode(secrets.token_bytes(RECOVERY_CODE_BYTES)).decode().lower()
        codes.append("-".join(raw[i : i + 4] for i in range(0, len(raw), 4)))
    return codes


def normalize_recovery_code(given: str) -> str | None:
    """A code as typed (any case, with or without dashes and spaces) in its canonical form, or
    None when it cannot be one (then it is refused without a look-up)."""
    if len(given) > 64:
        return None
    code = _SEPARATORS.sub("", given).lower()
    return code if _RECOVERY_CODE_SHAPE.fullmatch(code) else None


def hash_recovery_code(code: str) -> bytes:
    """The only form of a recovery code the store keeps (of its canonical form)."""
    canonical = normalize_recovery_code(code)
    if canonical is None:
        raise ValueError("not a recovery code")
    return hashlib.sha256(canonical.encode("ascii")).digest()


@dataclass(frozen=True, slots=True)
class TotpFactor:
    """A TOTP secret of a user, sealed (encrypted with AES-GCM, bound to the user id), pending
    until a first code confirms it. `last_step` is the latest time step accepted: a code of that
    step or an earlier one is refused, so each step is used at most once per account."""

    user_id: str
    sealed_secret: bytes = field(repr=False)
    created_at: datetime
    confirmed: bool = False
    last_step: int | None = None


@dataclass(frozen=True, slots=True)
class WebAuthnCredential:
    """A registered security key or passkey. `id` is the public id the API names it by;
    `credential_id` is the authenticator's own (raw bytes)."""

    id: str
    user_id: str
    credential_id: bytes
    public_key: bytes  # COSE, as the webauthn library returns it
    sign_count: int
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    transports: tuple[str, ...] = ()
    discoverable: bool = False  # a passkey: can sign in without a username
    backed_up: bool = False  # synced by its provider (a multi-device passkey)


@dataclass(frozen=True, slots=True)
class FactorSummary:
    """What a user has enrolled: enough to say which second steps a login can take."""

    totp: bool = False
    webauthn: int = 0
    recovery_codes_left: int = 0

    @property
    def any(self) -> bool:
        return self.totp or self.webauthn > 0

    @property
    def methods(self) -> list[str]:
        """The second steps open to a login, in the order the 202 answer lists them."""
        found = []
        if self.totp:
            found.append(Factor.TOTP.value)
        if self.webauthn:
            found.append(Factor.WEBAUTHN.value)
        if self.any and self.recovery_codes_left:
            found.append(Factor.RECOVERY_CODE.value)
        return found


class ChallengePurpose(StrEnum):
    LOGIN = "login"  # a pending login: the password was right, a second step is due
    PASSKEY = "passkey"  # a passkey login: no user yet
    REGISTER = "register"  # a WebAuthn registration by a signed-in user
    REAUTH = "reauth"  # a WebAuthn assertion for a re-auth body


@dataclass(frozen=True, slots=True)
class Challenge:
    """A short-lived, single-use ceremony, found by the SHA-256 of its key (`key_hash`): the
    secret of a cookie (a pending login, a passkey login), or one derived from the session that
    started it (a registration, a re-auth). `webauthn_challenge` is the random challenge the
    authenticator signs, when one was issued. A pending login keeps the password hash it verified,
    so that a password changed meanwhile ends it."""

    key_hash: bytes = field(repr=False)
    purpose: ChallengePurpose
    created_at: datetime
    expires_at: datetime
    user_id: str | None = None
    webauthn_challenge: bytes | None = field(default=None, repr=False)
    password_hash: str | None = field(default=None, repr=False)
    failures: int = 0

    def is_live(self, now: datetime) -> bool:
        return now < self.expires_at


def challenge_key_for_session(purpose: ChallengePurpose, session_token_hash: bytes) -> bytes:
    """The key hash of a ceremony bound to a session (registration, re-auth): one at a time per
    session and purpose, and nothing another session can name."""
    return hashlib.sha256(purpose.value.encode() + b"\0" + session_token_hash).digest()


@dataclass(frozen=True, slots=True)
class Enrolled:
    """What storing a new factor did: how many other sessions ended, and whether the recovery
    codes given with it were stored (only for an account that had no second factor before)."""

    revoked_sessions: int
    recovery_codes_stored: bool


@dataclass(frozen=True, slots=True)
class FactorProof:
    """The second factor a request gives: exactly one of a TOTP code, a recovery code or a
    WebAuthn assertion (the browser's PublicKeyCredential as JSON), or none."""

    code: str | None = field(default=None, repr=False)
    recovery_code: str | None = field(default=None, repr=False)
    webauthn: dict[str, object] | None = field(default=None, repr=False)

    @property
    def factor(self) -> Factor | None:
        if self.code is not None:
            return Factor.TOTP
        if self.recovery_code is not None:
            return Factor.RECOVERY_CODE
        if self.webauthn is not None:
            return Factor.WEBAUTHN
        return None


@dataclass(frozen=True, slots=True)
class Reauth:
    """A re-auth body (ASVS 7.5.1): the current password and, when the account has a second
    factor, one factor proof."""

    current_password: str = field(repr=False)
    proof: FactorProof = FactorProof()
