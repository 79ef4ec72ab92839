from collections.abc import Callable

from application.resolve_session import Authenticated
from application.second_factor import SecondFactor
from application.throttle import Reservation, Throttle
from domain.audit import AuditEvent
from domain.client import Client
from domain.device import DeviceCookies
from domain.errors import (
    InvalidCode,
    SecondFactorRequired,
    Throttled,
    WrongPassword,
    WrongSecondFactor,
)
from domain.factors import ChallengePurpose, Reauth, challenge_key_for_session
from domain.ports import AuditLog, ChallengeRepository, Clock, FactorRepository, PasswordHasher
from domain.throttle import address_group
from domain.user import PASSWORD_MAX, normalize_password


class Reauthenticate:
    """A re-auth body (ASVS 7.5.1), given by a signed-in user to confirm a sensitive change (a
    new password, a new address, deleting the account, every factor change). Shared by those
    use-cases, so that each confirms the same way:

    - An attempt is reserved on the login throttle, exactly as a login of that account from that
      client would be, before any hashing: over a limit is Throttled even with the right
      password, and the limits hold however many attempts run at once.
    - A wrong password is WrongPassword, audited as a failed login with the change's `action`;
      its reservation stays (it is this failure's count).
    - When the account has a second factor, the body must prove one too: none given is
      SecondFactorRequired and gives the reservation back (no verdict: the password may be
      typed again with a code); a wrong one is WrongSecondFactor, audited as a failed login, and
      its reservation stays, so that a known password gives no unlimited guessing of codes.
    - A WebAuthn proof is an assertion over the session's REAUTH challenge, which it consumes.
    - A right body settles the reservation as a successful login does; an attempt that gets no
      verdict (a full hashing queue, a refused new value checked by `validate`) gives it back.
    """

    def __init__(
        self,
        *,
        hasher: PasswordHasher,
        clock: Clock,
        throttle: Throttle,
        devices: DeviceCookies,
        audit: AuditLog,
        factors: FactorRepository,
        challenges: ChallengeRepository,
        second_factor: SecondFactor,
    ) -> None:
        self._hasher = hasher
        self._clock = clock
        self._throttle = throttle
        self._devices = devices
        self._audit = audit
        self._factors = factors
        self._challenges = challenges
        self._second_factor = second_factor

    async def check(
        self,
        current: Authenticated,
        reauth: Reauth,
        client: Client,
        *,
        action: str,
        validate: Callable[[], object] = lambda: None,
        webauthn_challenge: bytes | None = None,
    ) -> None:
        """Return when the body proves the user; `validate` runs once the attempt is reserved,
        before the hash, so that what it refuses is no verdict on the password.
        `webauthn_challenge` overrides the session's REAUTH challenge (for a caller that bound
        the assertion to a ceremony of its own)."""
        user = current.user
        device_id = await self._devices.device_for(client.device_cookie, user.id, self._clock.now())
        limits = self._throttle.policy.login_limits(
            user.username.canonical, client.address, device_id
        )
        try:
            reservation = await self._throttle.reserve(limits)
        except Throttled:
            self._audit.record(AuditEvent.THROTTLED, action=action, user_id=user.id, client=client)
            raise
        try:
            validate()
            given = normalize_password(reauth.current_password)
            valid = len(given) <= PASSWORD_MAX and await self._hasher.verify(
                user.password_hash, given, owner=address_group(client.address)
            )
            summary = await self._factors.summary(user.id) if valid else None
        except BaseException:
            await reservation.cancel()  # no verdict on the current password: not a failure
            raise
        if not valid:
            self._failed(current, client, action)
            raise WrongPassword()  # the reservation stays: it is this failure's count
        if summary is not None and summary.any:
            await self._second_step(
                current, reauth, client, action, reservation, webauthn_challenge
            )
        await reservation.succeed()

    async def _second_step(
        self,
        current: Authenticated,
        reauth: Reauth,
        client: Client,
        action: str,
        reservation: Reservation,
        webauthn_challenge: bytes | None,
    ) -> None:
        proof = reauth.proof
        if proof.factor is None:
            await reservation.cancel()
            raise SecondFactorRequired()
        challenge = webauthn_challenge
        try:
            if proof.webauthn is not None and challenge is None:
                key = challenge_key_for_session(ChallengePurpose.REAUTH, current.session.token_hash)
                taken = await self._challenges.take(key, self._clock.now())
                if taken is not None and taken.user_id == current.user.id:
                    challenge = taken.webauthn_challenge
            await self._second_factor.check(
                current.user,
                proof,
                client=client,
                action=action,
                challenge=challenge,
                session_id=current.session.id,
            )
        except InvalidCode:
            self._failed(current, client, action)
            raise WrongSecondFactor() from None  # the reservation stays: it counts
        except BaseException:
            await reservation.cancel()
            raise

    def _failed(self, current: Authenticated, client: Client, action: str) -> None:
        self._audit.record(
            AuditEvent.LOGIN_FAILED,
            action=action,
            user_id=current.user.id,
            session_id=current.session.id,
            client=client,
        )
