import logging
from dataclasses import dataclass
from typing import NoReturn

from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import CeremonyFailed, InvalidCode
from domain.factors import (
    Factor,
    FactorProof,
    WebAuthnCredential,
    hash_recovery_code,
    normalize_recovery_code,
)
from domain.ports import (
    AuditLog,
    Clock,
    FactorRepository,
    OneTimePasswords,
    SecretBox,
    WebAuthnRelyingParty,
)
from domain.session import AuthMethod
from domain.user import User

log = logging.getLogger("sessionauth.factors")


class SecondFactor:
    """Check the second factor a request gives for a user: at the second login step, in a
    re-auth body, with a password reset. Shared, so that each place checks alike.

    - TOTP: the code of the current or the previous time step, each step accepted once per
      account on every instance (FactorRepository.use_totp_step); a replay is InvalidCode,
      audited as FACTOR_REPLAYED.
    - A recovery code: consumed as it is accepted (two uses at once: one wins).
    - WebAuthn: an assertion of one of the user's credentials over `challenge` (the ceremony's,
      single-use: the caller took it from the store), verified by the relying party; its
      signature counter must grow (or stay 0 on an authenticator without one), else
      COUNTER_REGRESSION (a cloned authenticator) and InvalidCode.
    Every refusal is InvalidCode with one message, audited as FACTOR_REFUSED with its reason;
    what the caller does with it (count a login failure, end a pending login) is the caller's.
    """

    def __init__(
        self,
        *,
        factors: FactorRepository,
        otp: OneTimePasswords,
        box: SecretBox,
        relying_party: WebAuthnRelyingParty | None,
        clock: Clock,
        audit: AuditLog,
    ) -> None:
        self._factors = factors
        self._otp = otp
        self._box = box
        self._relying_party = relying_party
        self._clock = clock
        self._audit = audit

    async def check(
        self,
        user: User,
        proof: FactorProof,
        *,
        client: Client,
        action: str,
        challenge: bytes | None = None,
        session_id: str | None = None,
    ) -> AuthMethod:
        """The method proven (AuthMethod.TOTP, RECOVERY_CODE or WEBAUTHN), or InvalidCode."""
        factor = proof.factor
        context = _Where(client=client, action=action, session_id=session_id)
        if proof.code is not None:
            await self._check_totp(user, proof.code, context)
        elif proof.recovery_code is not None:
            await self._check_recovery_code(user, proof.recovery_code, context)
        elif proof.webauthn is not None:
            await self.verify_webauthn(
                proof.webauthn,
                challenge=challenge,
                user_id=user.id,
                require_user_verification=False,
                client=client,
                action=action,
            )
        else:
            raise InvalidCode()
        if factor is None:
            raise InvalidCode()
        self._record(AuditEvent.FACTOR_USED, user.id, factor, context)
        return factor.method

    async def verify_webauthn(
        self,
        credential: dict[str, object],
        *,
        challenge: bytes | None,
        user_id: str | None,
        require_user_verification: bool,
        client: Client,
        action: str,
    ) -> WebAuthnCredential:
        """The stored credential an assertion over `challenge` proves, its use recorded; for a
        passkey login `user_id` is None and the credential's user is the one it names."""
        factor = Factor.WEBAUTHN if user_id is not None else "passkey"
        context = _Where(client=client, action=action, factor=factor)
        relying_party = self._relying_party
        claim = relying_party.claim(credential) if relying_party is not None else None
        if relying_party is None or claim is None or challenge is None:
            self._refuse(user_id, "no_ceremony" if challenge is None else "malformed", context)
        stored = await self._factors.credential(claim.credential_id)
        if stored is None or (user_id is not None and stored.user_id != user_id):
            self._refuse(user_id, "unknown_credential", context)
        if claim.user_handle is not None and claim.user_handle != stored.user_id.encode():
            self._refuse(stored.user_id, "user_handle", context)
        try:
            count = relying_party.verify_assertion(
                credential,
                challenge=challenge,
                stored=stored,
                require_user_verification=require_user_verification,
            )
        except CeremonyFailed as refused:
            if refused.reason == "counter":
                self._regression(stored, context)
            self._refuse(stored.user_id, refused.reason, context)
        if not await self._factors.use_credential(stored.id, count, self._clock.now()):
            self._regression(stored, context)
            self._refuse(stored.user_id, "counter", context)
        return stored

    async def _check_totp(self, user: User, code: str, where: "_Where") -> None:
        context = where.with_factor(Factor.TOTP)
        factor = await self._factors.totp(user.id)
        if factor is None or not factor.confirmed:
            self._refuse(user.id, "not_enrolled", context)
        try:
            opened = await self._box.open(factor.sealed_secret, context=user.id.encode())
        except ValueError:
            # Sealed under another key: SECRETS_KEY changed (or the store's key was replaced).
            # The code cannot be checked; refusing it beats a 500, and the operator must know.
            log.error(
                "a TOTP secret does not open with the current key: was SECRETS_KEY changed?",
                extra={"user_id": user.id},
            )
            self._refuse(user.id, "unsealable", context)
        secret = opened.decode()
        step = self._otp.matching_step(secret, code, self._clock.now())
        if step is None:
            self._refuse(user.id, "wrong", context)
        if not await self._factors.use_totp_step(user.id, step):
            self._record(AuditEvent.FACTOR_REPLAYED, user.id, None, context)
            raise InvalidCode()

    async def _check_recovery_code(self, user: User, given: str, where: "_Where") -> None:
        context = where.with_factor(Factor.RECOVERY_CODE)
        code = normalize_recovery_code(given)
        if code is None:
            self._refuse(user.id, "malformed", context)
        if not await self._factors.use_recovery_code(user.id, hash_recovery_code(code)):
            self._refuse(user.id, "wrong", context)

    def _regression(self, stored: WebAuthnCredential, where: "_Where") -> None:
        self._record(
            AuditEvent.COUNTER_REGRESSION, stored.user_id, None, where, credential=stored.id
        )

    def _refuse(self, user_id: str | None, reason: str, where: "_Where") -> NoReturn:
        self._record(AuditEvent.FACTOR_REFUSED, user_id, None, where, reason=reason)
        raise InvalidCode()

    def _record(
        self,
        event: AuditEvent,
        user_id: str | None,
        factor: str | None,
        where: "_Where",
        **details: object,
    ) -> None:
        self._audit.record(
            event,
            user_id=user_id,
            session_id=where.session_id,
            client=where.client,
            action=where.action,
            factor=factor or where.factor,
            **details,
        )


@dataclass(frozen=True, slots=True)
class _Where:
    """Where a check happens, for its audit records."""

    client: Client
    action: str
    session_id: str | None = None
    factor: str | None = None

    def with_factor(self, factor: str) -> "_Where":
        return _Where(self.client, self.action, self.session_id, factor)
