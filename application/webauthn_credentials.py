"""Registering, listing and removing a user's security keys and passkeys."""

import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NoReturn

from application.factor_change import FactorChange
from application.factor_results import Rotated
from application.reauthenticate import Reauthenticate
from application.resolve_session import Authenticated
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import CeremonyFailed, FactorNotFound, PolicyViolation
from domain.factors import (
    CREDENTIAL_NAME_MAX,
    Challenge,
    ChallengePurpose,
    Factor,
    Reauth,
    WebAuthnCredential,
    challenge_key_for_session,
)
from domain.mail import MailKind
from domain.ports import (
    AuditLog,
    ChallengeRepository,
    Clock,
    FactorRepository,
    TokenGenerator,
    WebAuthnRelyingParty,
)
from domain.session import AuthMethod

CHALLENGE_BYTES = 32  # 256 bits; the spec asks for at least 128


def new_challenge() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


def credential_name(raw: str) -> str:
    """A credential's name as shown in lists and notices: trimmed, 1 to 64 characters, no
    control or format characters (which could hide text or break a mail's line)."""
    name = raw.strip()
    if not name or len(name) > CREDENTIAL_NAME_MAX:
        raise PolicyViolation("name", "length", f"must be 1 to {CREDENTIAL_NAME_MAX} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in name):
        raise PolicyViolation("name", "characters", "must not contain control characters")
    return name


def key_notice_name(name: str) -> str:
    return f'The security key or passkey "{name}"'


@dataclass(frozen=True, slots=True)
class RegisteredCredential:
    credential: WebAuthnCredential
    token: str = field(repr=False)  # the caller's session goes on under it
    recovery_codes: list[str] = field(default_factory=list, repr=False)


class WebAuthnRegistrationOptions:
    """Start registering a key or passkey: a re-auth body, then creation options whose
    challenge is kept for this session (one ceremony at a time; a new one replaces it),
    expiring with MFA_PENDING_TTL. The user's credentials are excluded (no second registration
    of one authenticator)."""

    def __init__(
        self,
        *,
        factors: FactorRepository,
        challenges: ChallengeRepository,
        relying_party: WebAuthnRelyingParty,
        reauthenticate: Reauthenticate,
        clock: Clock,
        ttl_seconds: float,
    ) -> None:
        self._factors = factors
        self._challenges = challenges
        self._relying_party = relying_party
        self._reauthenticate = reauthenticate
        self._clock = clock
        self._ttl = ttl_seconds

    async def execute(
        self, *, current: Authenticated, reauth: Reauth, client: Client
    ) -> dict[str, object]:
        await self._reauthenticate.check(current, reauth, client, action="webauthn_register")
        challenge = new_challenge()
        now = self._clock.now()
        await self._challenges.add(
            Challenge(
                key_hash=challenge_key_for_session(
                    ChallengePurpose.REGISTER, current.session.token_hash
                ),
                purpose=ChallengePurpose.REGISTER,
                created_at=now,
                expires_at=now + timedelta(seconds=self._ttl),
                user_id=current.user.id,
                webauthn_challenge=challenge,
            )
        )
        exclude = await self._factors.credentials(current.user.id)
        return self._relying_party.registration_options(
            user=current.user, challenge=challenge, exclude=exclude
        )


class RegisterCredential:
    """Finish a registration: the session's pending challenge is taken (single use; none is
    CeremonyFailed), the relying party verifies the response, and the credential is stored
    with its name. The account's first factor comes with ten recovery codes. Storing it ends
    the account's other sessions, rotates the caller's token (the session now counts WebAuthn
    among its methods: the key was just proven) and mails a notice."""

    def __init__(
        self,
        *,
        factors: FactorRepository,
        challenges: ChallengeRepository,
        relying_party: WebAuthnRelyingParty,
        change: FactorChange,
        tokens: TokenGenerator,
        clock: Clock,
        audit: AuditLog,
    ) -> None:
        self._factors = factors
        self._challenges = challenges
        self._relying_party = relying_party
        self._change = change
        self._tokens = tokens
        self._clock = clock
        self._audit = audit

    async def execute(
        self, *, current: Authenticated, credential: dict[str, object], name: str, client: Client
    ) -> RegisteredCredential:
        user = current.user
        named = credential_name(name)
        key = challenge_key_for_session(ChallengePurpose.REGISTER, current.session.token_hash)
        pending = await self._challenges.take(key, self._clock.now())
        if pending is None or pending.webauthn_challenge is None:
            self._refused(current, client, "no_ceremony")
        try:
            registered = self._relying_party.verify_registration(
                credential, challenge=pending.webauthn_challenge
            )
        except CeremonyFailed as failed:
            self._refused(current, client, failed.reason)
        stored = WebAuthnCredential(
            id=self._tokens.public_id(),
            user_id=user.id,
            credential_id=registered.credential_id,
            public_key=registered.public_key,
            sign_count=registered.sign_count,
            name=named,
            created_at=self._clock.now(),
            transports=registered.transports,
            discoverable=registered.discoverable,
            backed_up=registered.backed_up,
        )
        prepared = self._change.prepare(
            current,
            client,
            notice=MailKind.FACTOR_ADDED,
            factor_name=key_notice_name(named),
            methods=current.session.methods | AuthMethod.WEBAUTHN,
            with_codes=True,
        )
        enrolled = await self._factors.add_credential(
            stored,
            recovery_code_hashes=prepared.recovery_code_hashes,
            rotation=prepared.rotation,
            mail=prepared.mail,
        )
        if enrolled is None:
            self._refused(current, client, "registered_already")
        self._change.record(
            AuditEvent.FACTOR_ENROLLED,
            current,
            client,
            prepared,
            factor=Factor.WEBAUTHN,
            revoked_sessions=enrolled.revoked_sessions,
        )
        codes = prepared.recovery_codes if enrolled.recovery_codes_stored else []
        return RegisteredCredential(stored, prepared.token, codes)

    def _refused(self, current: Authenticated, client: Client, reason: str) -> NoReturn:
        self._audit.record(
            AuditEvent.FACTOR_REFUSED,
            user_id=current.user.id,
            session_id=current.session.id,
            client=client,
            factor=Factor.WEBAUTHN,
            action="webauthn_register",
            reason=reason,
        )
        raise CeremonyFailed(reason)


class RemoveCredential:
    """Remove one of the caller's keys or passkeys, by its public id: a re-auth body first (an
    unknown and a foreign id alike are FactorNotFound, after it, so that ids cannot be probed
    without the password). Ends the account's other sessions, rotates the caller's token,
    mails a notice; the recovery codes go too when no factor is left."""

    def __init__(
        self,
        *,
        factors: FactorRepository,
        reauthenticate: Reauthenticate,
        change: FactorChange,
    ) -> None:
        self._factors = factors
        self._reauthenticate = reauthenticate
        self._change = change

    async def execute(
        self, *, current: Authenticated, credential_id: str, reauth: Reauth, client: Client
    ) -> Rotated:
        user = current.user
        await self._reauthenticate.check(current, reauth, client, action="webauthn_remove")
        mine = {c.id: c for c in await self._factors.credentials(user.id)}
        found = mine.get(credential_id)
        if found is None:
            raise FactorNotFound("Credential")
        prepared = self._change.prepare(
            current, client, notice=MailKind.FACTOR_REMOVED, factor_name=key_notice_name(found.name)
        )
        revoked = await self._factors.remove_credential(
            user.id, credential_id, rotation=prepared.rotation, mail=prepared.mail
        )
        if revoked is None:
            raise FactorNotFound("Credential")  # removed meanwhile
        self._change.record(
            AuditEvent.FACTOR_REMOVED,
            current,
            client,
            prepared,
            factor=Factor.WEBAUTHN,
            revoked_sessions=revoked,
        )
        return Rotated(token=prepared.token)
