from application.open_session import LoginResult, OpenSession
from application.second_factor import SecondFactor
from application.throttle import Throttle
from domain.audit import AuditEvent
from domain.client import Client
from domain.device import DeviceCookies
from domain.errors import InvalidCode, NotAuthenticated, Throttled
from domain.factors import MAX_FACTOR_FAILURES, ChallengePurpose, FactorProof
from domain.ports import AuditLog, ChallengeRepository, Clock, UserRepository
from domain.session import AuthMethod, hash_token, is_well_formed_token


class LoginMfa:
    """The second step of a login: a pending login (Login's MfaPending) and one factor proof.

    - Without a live pending login (none, malformed, expired, ended by failures, used) it is
      NotAuthenticated, before anything is counted.
    - An attempt is reserved on the login throttle exactly as a login of that account from that
      client would be: over a limit is Throttled even with the right code. So the failures of
      both steps share one count, and a stolen password gives no unlimited code guesses.
    - A wrong, replayed or malformed proof is InvalidCode: it counts (the reservation stays), is
      audited as a failed login (action "mfa"), and after MAX_FACTOR_FAILURES the pending login
      ends.
    - A right one consumes the pending login (single use: of two right answers at once, one gets
      a session), settles the reservation as a successful login does, and opens a session
      reached by the password and that factor (aal 2), through OpenSession: a password changed
      since the first step (the pending login keeps the hash it verified) or a disable gets none.
    - A WebAuthn proof is an assertion over the pending login's own WebAuthn challenge.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        challenges: ChallengeRepository,
        second_factor: SecondFactor,
        clock: Clock,
        throttle: Throttle,
        devices: DeviceCookies,
        audit: AuditLog,
        open_session: OpenSession,
    ) -> None:
        self._users = users
        self._challenges = challenges
        self._second_factor = second_factor
        self._clock = clock
        self._throttle = throttle
        self._devices = devices
        self._audit = audit
        self._open = open_session

    async def execute(
        self,
        *,
        pending_token: str,
        proof: FactorProof,
        client: Client,
        presented_token: str | None = None,
    ) -> LoginResult:
        if not is_well_formed_token(pending_token):
            raise NotAuthenticated()
        key = hash_token(pending_token)
        now = self._clock.now()
        pending = await self._challenges.get(key, now)
        if pending is None or pending.purpose != ChallengePurpose.LOGIN or pending.user_id is None:
            raise NotAuthenticated()
        user = await self._users.get(pending.user_id)
        if user is None or pending.password_hash is None:
            raise NotAuthenticated()
        device_id = await self._devices.device_for(client.device_cookie, user.id, now)
        limits = self._throttle.policy.login_limits(
            user.username.canonical, client.address, device_id
        )
        try:
            reservation = await self._throttle.reserve(limits)
        except Throttled:
            self._audit.record(AuditEvent.THROTTLED, action="mfa", user_id=user.id, client=client)
            raise
        try:
            method = await self._second_factor.check(
                user,
                proof,
                client=client,
                action="mfa",
                challenge=pending.webauthn_challenge,
            )
        except InvalidCode:
            await self._challenges.fail(key, MAX_FACTOR_FAILURES)
            self._audit.record(
                AuditEvent.LOGIN_FAILED, action="mfa", user_id=user.id, client=client
            )
            raise  # the reservation stays: it is this failure's count
        except BaseException:
            await reservation.cancel()
            raise
        if await self._challenges.take(key, self._clock.now()) is None:
            await reservation.cancel()  # another right answer took it first: it has the session
            raise NotAuthenticated()
        await reservation.succeed()
        return await self._open.execute(
            user,
            methods=AuthMethod.PASSWORD | method,
            password_hash=pending.password_hash,
            device_id=device_id,
            client=client,
            presented_token=presented_token,
        )
