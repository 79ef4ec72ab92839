"""WebAuthn assertions: a passkey login with no username, and the request options for the
second step of a password login and for a re-auth body."""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import NoReturn

from application.open_session import LoginResult, OpenSession
from application.resolve_session import Authenticated
from application.second_factor import SecondFactor
from application.throttle import Throttle
from application.webauthn_credentials import new_challenge
from domain.audit import AuditEvent
from domain.client import Client
from domain.device import DeviceCookies
from domain.errors import InvalidCode, InvalidCredentials, NotAuthenticated, Throttled
from domain.factors import Challenge, ChallengePurpose, challenge_key_for_session
from domain.ports import (
    AuditLog,
    ChallengeRepository,
    Clock,
    FactorRepository,
    TokenGenerator,
    UserRepository,
    WebAuthnRelyingParty,
)
from domain.session import AuthMethod, hash_token, is_well_formed_token

ACTION = "passkey_login"


@dataclass(frozen=True, slots=True)
class PasskeyStart:
    """Request options for a passkey login, and the secret of the cookie that binds their
    challenge to this browser (`max_age` seconds)."""

    options: dict[str, object]
    key: str = field(repr=False)
    max_age: int


class PasskeyLoginOptions:
    """Start a passkey login: no account is named yet. Request options with no allowCredentials
    (the authenticator offers its discoverable credentials) and user verification required; the
    challenge is kept under the SHA-256 of a fresh 256-bit cookie secret, for MFA_PENDING_TTL.
    Each start counts on the address's passkey limit (ThrottlePolicy.passkey_limits): over it,
    Throttled and nothing stored, so that a flood cannot fill the store with challenges."""

    def __init__(
        self,
        *,
        challenges: ChallengeRepository,
        relying_party: WebAuthnRelyingParty,
        throttle: Throttle,
        tokens: TokenGenerator,
        clock: Clock,
        audit: AuditLog,
        ttl_seconds: int,
    ) -> None:
        self._challenges = challenges
        self._relying_party = relying_party
        self._throttle = throttle
        self._audit = audit
        self._tokens = tokens
        self._clock = clock
        self._ttl = ttl_seconds

    async def execute(self, *, client: Client) -> PasskeyStart:
        # Counted (each stores a challenge until it expires); a passkey login that succeeds
        # clears the count. Over the limit: Throttled, and nothing stored.
        try:
            await self._throttle.reserve(self._throttle.policy.passkey_limits(client.address))
        except Throttled:
            self._audit.record(AuditEvent.THROTTLED, action=ACTION, client=client)
            raise
        key = self._tokens.session_token()
        challenge = new_challenge()
        now = self._clock.now()
        await self._challenges.add(
            Challenge(
                key_hash=hash_token(key),
                purpose=ChallengePurpose.PASSKEY,
                created_at=now,
                expires_at=now + timedelta(seconds=self._ttl),
                webauthn_challenge=challenge,
            )
        )
        options = self._relying_party.authentication_options(
            challenge=challenge, allow=None, user_verification="required"
        )
        return PasskeyStart(options=options, key=key, max_age=self._ttl)


class PasskeyLogin:
    """Sign in with a passkey alone (aal 2: something held, and the user verified on it).

    - The challenge named by the cookie is taken (single use), then the assertion verified with
      user verification required, against the credential it names; the credential's user is
      the one signed in. A signature counter that does not grow is refused and audited.
    - Every failure is InvalidCredentials, one answer for all, audited as a failed login; it is
      counted per address (ThrottlePolicy.passkey_limits), as failures across accounts are.
    - A disabled account is refused as any failure is (audited as its own event).
    - The session is opened as every login's is (OpenSession), reached by PASSKEY.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        challenges: ChallengeRepository,
        second_factor: SecondFactor,
        throttle: Throttle,
        devices: DeviceCookies,
        open_session: OpenSession,
        clock: Clock,
        audit: AuditLog,
    ) -> None:
        self._users = users
        self._challenges = challenges
        self._second_factor = second_factor
        self._throttle = throttle
        self._devices = devices
        self._open = open_session
        self._clock = clock
        self._audit = audit

    async def execute(
        self,
        *,
        key: str | None,
        credential: dict[str, object],
        client: Client,
        presented_token: str | None = None,
    ) -> LoginResult:
        try:
            reservation = await self._throttle.reserve(
                self._throttle.policy.passkey_limits(client.address)
            )
        except Throttled:
            self._audit.record(AuditEvent.THROTTLED, action=ACTION, client=client)
            raise
        try:
            pending = None
            if key is not None and is_well_formed_token(key):
                pending = await self._challenges.take(hash_token(key), self._clock.now())
            if pending is None or pending.purpose != ChallengePurpose.PASSKEY:
                self._failed(None, client, reason="no_ceremony")
            stored = await self._second_factor.verify_webauthn(
                credential,
                challenge=pending.webauthn_challenge,
                user_id=None,
                require_user_verification=True,
                client=client,
                action=ACTION,
            )
        except InvalidCode:
            self._failed(None, client, reason="assertion")
        except InvalidCredentials:
            raise  # a failure: its reservation stays
        except BaseException:
            await reservation.cancel()
            raise
        user = await self._users.get(stored.user_id)
        if user is None:
            self._failed(None, client, reason="unknown_user")
        if user.disabled:
            self._audit.record(AuditEvent.LOGIN_DISABLED, user_id=user.id, client=client)
            raise InvalidCredentials()
        await reservation.succeed()
        self._audit.record(
            AuditEvent.FACTOR_USED, user_id=user.id, client=client, factor="passkey", action=ACTION
        )
        device_id = await self._devices.device_for(client.device_cookie, user.id, self._clock.now())
        return await self._open.execute(
            user,
            methods=AuthMethod.PASSKEY,
            password_hash=user.password_hash,
            device_id=device_id,
            client=client,
            presented_token=presented_token,
        )

    def _failed(self, user_id: str | None, client: Client, *, reason: str) -> NoReturn:
        self._audit.record(
            AuditEvent.LOGIN_FAILED,
            user_id=user_id,
            client=client,
            action=ACTION,
            factor="passkey",
            reason=reason,
        )
        raise InvalidCredentials()  # the reservation stays: it is this failure's count


class MfaWebAuthnOptions:
    """Request options for the second step of a password login: a fresh challenge for the
    pending login the cookie names (the one before is dead), allowing the account's
    credentials. NotAuthenticated without a live pending login."""

    def __init__(
        self,
        *,
        factors: FactorRepository,
        challenges: ChallengeRepository,
        relying_party: WebAuthnRelyingParty,
        clock: Clock,
    ) -> None:
        self._factors = factors
        self._challenges = challenges
        self._relying_party = relying_party
        self._clock = clock

    async def execute(self, *, pending_token: str) -> dict[str, object]:
        if not is_well_formed_token(pending_token):
            raise NotAuthenticated()
        key, now = hash_token(pending_token), self._clock.now()
        pending = await self._challenges.get(key, now)
        if pending is None or pending.purpose != ChallengePurpose.LOGIN or pending.user_id is None:
            raise NotAuthenticated()
        challenge = new_challenge()
        if not await self._challenges.set_webauthn_challenge(key, challenge, now):
            raise NotAuthenticated()  # ended meanwhile
        allow = await self._factors.credentials(pending.user_id)
        return self._relying_party.authentication_options(
            challenge=challenge, allow=allow, user_verification="preferred"
        )


class ReauthWebAuthnOptions:
    """Request options for the WebAuthn proof of a re-auth body: a challenge kept for this
    session (one at a time), allowing the caller's credentials, for MFA_PENDING_TTL."""

    def __init__(
        self,
        *,
        factors: FactorRepository,
        challenges: ChallengeRepository,
        relying_party: WebAuthnRelyingParty,
        clock: Clock,
        ttl_seconds: int,
    ) -> None:
        self._factors = factors
        self._challenges = challenges
        self._relying_party = relying_party
        self._clock = clock
        self._ttl = ttl_seconds

    async def execute(self, *, current: Authenticated) -> dict[str, object]:
        challenge, now = new_challenge(), self._clock.now()
        await self._challenges.add(
            Challenge(
                key_hash=challenge_key_for_session(
                    ChallengePurpose.REAUTH, current.session.token_hash
                ),
                purpose=ChallengePurpose.REAUTH,
                created_at=now,
                expires_at=now + timedelta(seconds=self._ttl),
                user_id=current.user.id,
                webauthn_challenge=challenge,
            )
        )
        allow = await self._factors.credentials(current.user.id)
        return self._relying_party.authentication_options(
            challenge=challenge, allow=allow, user_verification="preferred"
        )
