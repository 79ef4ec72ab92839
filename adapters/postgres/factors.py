"""Second factors and ceremony challenges on asyncpg (tables of migration 0011).

- Every single use (a TOTP step, a recovery code, a signature counter, a challenge) is one
  conditional statement: the row lock it takes makes a second use on any instance wait, then
  find the condition false. So a code is accepted once, however many instances race with it.
- Every change of what a user has enrolled runs in one transaction that first locks the user row
  FOR UPDATE: enrolments, removals and renewals of one user take turns on every instance, so
  "is this the first factor?" (recovery codes stored with it) and "was this the last one?"
  (recovery codes dropped) are decided on what the previous turn committed. The same lock makes
  a racing login's session insert wait for the outcome (see repositories._SESSION_INSERT).
- The rotation of the caller's session (rotate_sessions) is the one a password change uses: its
  deletions notify every instance's session cache.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from adapters.postgres.outbox import enqueue
from adapters.postgres.repositories import Connections, _uuid_or_none, rotate_sessions
from domain.errors import NotAuthenticated
from domain.factors import (
    Challenge,
    ChallengePurpose,
    Enrolled,
    FactorSummary,
    TotpFactor,
    WebAuthnCredential,
)
from domain.mail import MailMessage
from domain.ports import ChallengeRepository, FactorRepository
from domain.session import Rotation

_LOCK_USER = "SELECT 1 FROM users WHERE id = $1 FOR UPDATE"
_SUMMARY = (
    "SELECT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = $1 AND confirmed) AS totp,"
    " (SELECT count(*) FROM webauthn_credentials WHERE user_id = $1) AS webauthn,"
    " (SELECT count(*) FROM recovery_codes WHERE user_id = $1) AS recovery_codes_left"
)
_HAS_FACTOR = (
    "SELECT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = $1 AND confirmed)"
    " OR EXISTS (SELECT 1 FROM webauthn_credentials WHERE user_id = $1)"
)
_TOTP = (
    "SELECT user_id, sealed_secret, created_at, confirmed, last_step FROM totp_factors"
    " WHERE user_id = $1"
)
# A pending set-up replaces a pending one; a confirmed one stays (the WHERE of the upsert).
_START_TOTP = (
    "INSERT INTO totp_factors AS t (user_id, sealed_secret, created_at, confirmed, last_step)"
    " VALUES ($1, $2, $3, false, NULL)"
    " ON CONFLICT (user_id) DO UPDATE SET sealed_secret = EXCLUDED.sealed_secret,"
    " created_at = EXCLUDED.created_at, confirmed = false, last_step = NULL"
    " WHERE NOT t.confirmed"
)
_CONFIRM_TOTP = (
    "UPDATE totp_factors SET confirmed = true, last_step = $2 WHERE user_id = $1 AND NOT confirmed"
)
# The replay rule in one statement: a second use of the step, on any instance, waits for the
# first one's row lock and then finds last_step no longer below it.
_USE_TOTP_STEP = (
    "UPDATE totp_factors SET last_step = $2"
    " WHERE user_id = $1 AND confirmed AND (last_step IS NULL OR last_step < $2)"
)
_REMOVE_TOTP = "DELETE FROM totp_factors WHERE user_id = $1 AND confirmed"
_INSERT_CODES = (
    "INSERT INTO recovery_codes (code_hash, user_id, created_at)"
    " SELECT h, $1, now() FROM unnest($2::bytea[]) AS h"
)
_DELETE_CODES = "DELETE FROM recovery_codes WHERE user_id = $1"
_DROP_CODES_WITHOUT_FACTOR = (
    "DELETE FROM recovery_codes WHERE user_id = $1"
    " AND NOT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = $1 AND confirmed)"
    " AND NOT EXISTS (SELECT 1 FROM webauthn_credentials WHERE user_id = $1)"
)
_USE_RECOVERY_CODE = "DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2"
# Whole statements, not fragments formatted into queries: only $n parameters vary.
_INSERT_CREDENTIAL = (
    "INSERT INTO webauthn_credentials (id, user_id, credential_id, public_key, sign_count, name,"
    " created_at, last_used_at, transports, discoverable, backed_up)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    " ON CONFLICT (credential_id) DO NOTHING"
)
_CREDENTIALS = (
    "SELECT id, user_id, credential_id, public_key, sign_count, name, created_at, last_used_at,"
    " transports, discoverable, backed_up FROM webauthn_credentials WHERE user_id = $1"
    " ORDER BY created_at, id"
)
_CREDENTIAL = (
    "SELECT id, user_id, credential_id, public_key, sign_count, name, created_at, last_used_at,"
    " transports, discoverable, backed_up FROM webauthn_credentials WHERE credential_id = $1"
)
# The counter rule in one statement: it grows, or an authenticator without one (both 0).
_USE_CREDENTIAL = (
    "UPDATE webauthn_credentials SET sign_count = $2, last_used_at = $3"
    " WHERE id = $1 AND ($2 > sign_count OR ($2 = 0 AND sign_count = 0))"
)
_REMOVE_CREDENTIAL = "DELETE FROM webauthn_credentials WHERE id = $2 AND user_id = $1"

_ADD_CHALLENGE = (
    "INSERT INTO mfa_challenges (key_hash, purpose, user_id, webauthn_challenge, password_hash,"
    " failures, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    " ON CONFLICT (key_hash) DO UPDATE SET purpose = EXCLUDED.purpose,"
    " user_id = EXCLUDED.user_id, webauthn_challenge = EXCLUDED.webauthn_challenge,"
    " password_hash = EXCLUDED.password_hash, failures = EXCLUDED.failures,"
    " created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at"
)
_GET_CHALLENGE = (
    "SELECT key_hash, purpose, user_id, webauthn_challenge, password_hash, failures, created_at,"
    " expires_at FROM mfa_challenges WHERE key_hash = $1 AND expires_at > $2"
)
_SET_WEBAUTHN_CHALLENGE = (
    "UPDATE mfa_challenges SET webauthn_challenge = $2 WHERE key_hash = $1 AND expires_at > $3"
)
_FAIL_CHALLENGE = (
    "UPDATE mfa_challenges SET failures = failures + 1 WHERE key_hash = $1 RETURNING failures"
)
_DELETE_CHALLENGE = "DELETE FROM mfa_challenges WHERE key_hash = $1"
# Consumed whether live or not (an expired one is of no use either), answered only when live.
_TAKE_CHALLENGE = (
    "DELETE FROM mfa_challenges WHERE key_hash = $1 RETURNING key_hash, purpose, user_id,"
    " webauthn_challenge, password_hash, failures, created_at, expires_at"
)
_PURGE_CHALLENGES = "DELETE FROM mfa_challenges WHERE expires_at <= $1"


def _totp_from_row(row: asyncpg.Record) -> TotpFactor:
    return TotpFactor(
        user_id=str(row["user_id"]),
        sealed_secret=bytes(row["sealed_secret"]),
        created_at=row["created_at"],
        confirmed=row["confirmed"],
        last_step=row["last_step"],
    )


def _credential_from_row(row: asyncpg.Record) -> WebAuthnCredential:
    return WebAuthnCredential(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        credential_id=bytes(row["credential_id"]),
        public_key=bytes(row["public_key"]),
        sign_count=row["sign_count"],
        name=row["name"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        transports=tuple(row["transports"]),
        discoverable=row["discoverable"],
        backed_up=row["backed_up"],
    )


def _challenge_from_row(row: asyncpg.Record) -> Challenge:
    return Challenge(
        key_hash=bytes(row["key_hash"]),
        purpose=ChallengePurpose(row["purpose"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        user_id=None if row["user_id"] is None else str(row["user_id"]),
        webauthn_challenge=(
            None if row["webauthn_challenge"] is None else bytes(row["webauthn_challenge"])
        ),
        password_hash=row["password_hash"],
        failures=row["failures"],
    )


def _count(status: str) -> int:
    return int(status.split()[-1])


async def _lock_user(c: PoolConnectionProxy[asyncpg.Record], user: uuid.UUID) -> bool:
    return await c.fetchval(_LOCK_USER, user) is not None


async def _has_factor(c: PoolConnectionProxy[asyncpg.Record], user: uuid.UUID) -> bool:
    return bool(await c.fetchval(_HAS_FACTOR, user))


class PostgresFactorRepository(FactorRepository):
    def __init__(self, db: Connections) -> None:
        self._db = db

    async def summary(self, user_id: str) -> FactorSummary:
        user = _uuid_or_none(user_id)
        if user is None:
            return FactorSummary()
        async with self._db.connection() as c:
            row = await c.fetchrow(_SUMMARY, user)
        if row is None:  # never: a SELECT without FROM answers one row
            return FactorSummary()
        return FactorSummary(
            totp=row["totp"],
            webauthn=row["webauthn"],
            recovery_codes_left=row["recovery_codes_left"],
        )

    async def totp(self, user_id: str) -> TotpFactor | None:
        user = _uuid_or_none(user_id)
        if user is None:
            return None
        async with self._db.connection() as c:
            row = await c.fetchrow(_TOTP, user)
        return None if row is None else _totp_from_row(row)

    async def start_totp(self, factor: TotpFactor) -> bool:
        user = _uuid_or_none(factor.user_id)
        if user is None:
            return False  # no such user: nothing stored
        async with self._db.connection() as c:
            try:
                done = await c.execute(_START_TOTP, user, factor.sealed_secret, factor.created_at)
            except asyncpg.ForeignKeyViolationError:
                return False  # the user was deleted meanwhile
        return done == "INSERT 0 1"

    async def confirm_totp(
        self,
        user_id: str,
        step: int,
        *,
        recovery_code_hashes: Sequence[bytes],
        rotation: Rotation,
        mail: Sequence[MailMessage] = (),
    ) -> Enrolled | None:
        user = _uuid_or_none(user_id)
        if user is None:
            return None
        async with self._db.connection() as c, c.transaction():
            if not await _lock_user(c, user):
                return None
            first = not await _has_factor(c, user)
            if await c.execute(_CONFIRM_TOTP, user, step) == "UPDATE 0":
                return None  # none pending: nothing changed
            revoked = await rotate_sessions(c, user, rotation)
            if first:
                await c.execute(_INSERT_CODES, user, list(recovery_code_hashes))
            await enqueue(c, mail)
        return Enrolled(revoked_sessions=revoked, recovery_codes_stored=first)

    async def use_totp_step(self, user_id: str, step: int) -> bool:
        user = _uuid_or_none(user_id)
        if user is None:
            return False
        async with self._db.connection() as c:
            return await c.execute(_USE_TOTP_STEP, user, step) == "UPDATE 1"

    async def remove_totp(
        self, user_id: str, *, rotation: Rotation, mail: Sequence[MailMessage] = ()
    ) -> int | None:
        user = _uuid_or_none(user_id)
        if user is None:
            return None
        async with self._db.connection() as c, c.transaction():
            if not await _lock_user(c, user):
                return None
            if await c.execute(_REMOVE_TOTP, user) == "DELETE 0":
                return None
            revoked = await rotate_sessions(c, user, rotation)
            await c.execute(_DROP_CODES_WITHOUT_FACTOR, user)
            await enqueue(c, mail)
        return revoked

    async def remove_all(self, user_id: str, *, mail: Sequence[MailMessage] = ()) -> int | None:
        user = _uuid_or_none(user_id)
        if user is None:
            return None
        async with self._db.connection() as c, c.transaction():
            if not await _lock_user(c, user):
                return None
            await c.execute("DELETE FROM totp_factors WHERE user_id = $1", user)
            await c.execute("DELETE FROM webauthn_credentials WHERE user_id = $1", user)
            await c.execute(_DELETE_CODES, user)
            ended = await c.execute("DELETE FROM sessions WHERE user_id = $1", user)
            await enqueue(c, mail)
        return _count(ended)

    async def replace_recovery_codes(
        self,
        user_id: str,
        code_hashes: Sequence[bytes],
        *,
        rotation: Rotation,
        mail: Sequence[MailMessage] = (),
    ) -> int | None:
        user = _uuid_or_none(user_id)
        if user is None:
            return None
        async with self._db.connection() as c, c.transaction():
            if not await _lock_user(c, user):
                return None
            if not await _has_factor(c, user):
                return None
            revoked = await rotate_sessions(c, user, rotation)
            await c.execute(_DELETE_CODES, user)
            await c.execute(_INSERT_CODES, user, list(code_hashes))
            await enqueue(c, mail)
        return revoked

    async def use_recovery_code(self, user_id: str, code_hash: bytes) -> bool:
        user = _uuid_or_none(user_id)
        if user is None:
            return False
        async with self._db.connection() as c:
            return await c.execute(_USE_RECOVERY_CODE, user, code_hash) == "DELETE 1"

    async def add_credential(
        self,
        credential: WebAuthnCredential,
        *,
        recovery_code_hashes: Sequence[bytes],
        rotation: Rotation,
        mail: Sequence[MailMessage] = (),
    ) -> Enrolled | None:
        user, id = _uuid_or_none(credential.user_id), _uuid_or_none(credential.id)
        if id is None:
            raise ValueError("a credential's id is a UUID")  # made by TokenGenerator.public_id
        if user is None:
            raise NotAuthenticated()  # no such user, so no session to keep
        async with self._db.connection() as c, c.transaction():
            if not await _lock_user(c, user):
                raise NotAuthenticated()  # no such user, so no session to keep
            first = not await _has_factor(c, user)
            done = await c.execute(
                _INSERT_CREDENTIAL,
                id,
                user,
                credential.credential_id,
                credential.public_key,
                credential.sign_count,
                credential.name,
                credential.created_at,
                credential.last_used_at,
                list(credential.transports),
                credential.discoverable,
                credential.backed_up,
            )
            if done == "INSERT 0 0":
                return None  # that authenticator is registered already: nothing changed
            revoked = await rotate_sessions(c, user, rotation)
            if first:
                await c.execute(_INSERT_CODES, user, list(recovery_code_hashes))
            await enqueue(c, mail)
        return Enrolled(revoked_sessions=revoked, recovery_codes_stored=first)

    async def credentials(self, user_id: str) -> list[WebAuthnCredential]:
        user = _uuid_or_none(user_id)
        if user is None:
            return []
        async with self._db.connection() as c:
            rows = await c.fetch(_CREDENTIALS, user)
        return [_credential_from_row(row) for row in rows]

    async def credential(self, credential_id: bytes) -> WebAuthnCredential | None:
        async with self._db.connection() as c:
            row = await c.fetchrow(_CREDENTIAL, credential_id)
        return None if row is None else _credential_from_row(row)

    async def use_credential(self, id: str, sign_count: int, now: datetime) -> bool:
        key = _uuid_or_none(id)
        if key is None:
            return False
        async with self._db.connection() as c:
            return await c.execute(_USE_CREDENTIAL, key, sign_count, now) == "UPDATE 1"

    async def remove_credential(
        self, user_id: str, id: str, *, rotation: Rotation, mail: Sequence[MailMessage] = ()
    ) -> int | None:
        user, key = _uuid_or_none(user_id), _uuid_or_none(id)
        if user is None or key is None:
            return None  # no credential has that id, as in the in-memory store
        async with self._db.connection() as c, c.transaction():
            if not await _lock_user(c, user):
                return None
            if await c.execute(_REMOVE_CREDENTIAL, user, key) == "DELETE 0":
                return None
            revoked = await rotate_sessions(c, user, rotation)
            await c.execute(_DROP_CODES_WITHOUT_FACTOR, user)
            await enqueue(c, mail)
        return revoked


class PostgresChallengeRepository(ChallengeRepository):
    def __init__(self, db: Connections) -> None:
        self._db = db

    async def add(self, challenge: Challenge) -> None:
        async with self._db.connection() as c:
            await c.execute(
                _ADD_CHALLENGE,
                challenge.key_hash,
                challenge.purpose.value,
                _uuid_or_none(challenge.user_id),
                challenge.webauthn_challenge,
                challenge.password_hash,
                challenge.failures,
                challenge.created_at,
                challenge.expires_at,
            )

    async def get(self, key_hash: bytes, now: datetime) -> Challenge | None:
        async with self._db.connection() as c:
            row = await c.fetchrow(_GET_CHALLENGE, key_hash, now)
        return None if row is None else _challenge_from_row(row)

    async def set_webauthn_challenge(
        self, key_hash: bytes, challenge: bytes, now: datetime
    ) -> bool:
        async with self._db.connection() as c:
            done = await c.execute(_SET_WEBAUTHN_CHALLENGE, key_hash, challenge, now)
        return done == "UPDATE 1"

    async def fail(self, key_hash: bytes, max_failures: int) -> bool:
        # One transaction: the update's row lock is held until the delete has committed, so a
        # concurrent failure counts on the row as this one left it (or finds it gone).
        async with self._db.connection() as c, c.transaction():
            failures = await c.fetchval(_FAIL_CHALLENGE, key_hash)
            if failures is None:
                return False
            if failures >= max_failures:
                await c.execute(_DELETE_CHALLENGE, key_hash)
                return False
        return True

    async def take(self, key_hash: bytes, now: datetime) -> Challenge | None:
        async with self._db.connection() as c:
            row = await c.fetchrow(_TAKE_CHALLENGE, key_hash)
        if row is None:
            return None
        found = _challenge_from_row(row)
        return found if found.is_live(now) else None

    async def purge_expired(self, now: datetime) -> int:
        async with self._db.connection() as c:
            return _count(await c.execute(_PURGE_CHALLENGES, now))
