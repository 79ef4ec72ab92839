from datetime import timedelta

from application.open_session import LoginResult, OpenSession
from application.throttle import Throttle
from domain.audit import AuditEvent
from domain.client import Client
from domain.device import DeviceCookies
from domain.errors import (
    HashingOverloaded,
    InvalidCredentials,
    MfaPending,
    PolicyViolation,
    Throttled,
)
from domain.factors import Challenge, ChallengePurpose
from domain.ports import (
    AuditLog,
    ChallengeRepository,
    Clock,
    FactorRepository,
    PasswordHasher,
    TokenGenerator,
    UserRepository,
)
from domain.session import AuthMethod, hash_token
from domain.throttle import address_group
from domain.user import PASSWORD_MAX, User, Username, normalize_password

__all__ = ["Login", "LoginResult"]


class Login:
    """Check credentials and open a new session.

    - Throttling reserves an attempt before any hashing: per address across accounts, per
      (account, address) and per account, or only per (account, device) for a client with a
      valid device cookie for the account. Over a limit is Throttled even with the right
      password. A failure keeps its reservation (it is counted); a success clears the counter
      it was judged by and gives back the others; an attempt that gets no verdict (a full
      hashing queue) gives back everything. So a limit holds however many attempts run at once.
    - Hashing is done on behalf of the client address, so that the hasher can keep one address
      from taking all of its capacity.
    - Unknown user, wrong password, a username that breaks the input rules and an over-long
      password all fail alike with InvalidCredentials; the last two without hashing.
    - An unknown user costs a dummy verify at the cost of stored hashes, the same for a name on
      every attempt, so timing does not reveal which usernames exist (CalibrateDummyVerify).
    - The session itself is opened by OpenSession (a new token, no fixation, the device cookie,
      the session limit, the new-device notice, the race with a password change or a disable).
    - A hash made with other argon2 parameters than the current ones is replaced; other sessions
      stay (a rehash is not a password change).
    - No database work happens while hashing.
    - A disabled account answers exactly as a wrong password does (after the same verify, with
      the same throttle count), recorded as its own event.
    - For an account with a second factor, the right password opens no session: it starts a
      pending login (MfaPending: a 256-bit token of which the store keeps only the SHA-256, bound
      to the account and the verified password hash, living `mfa_pending_ttl`), finished by
      LoginMfa. Its reservation is given back, not cleared: a right password must not reset
      the account's failure count, or a stolen password would give unlimited code guesses.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        hasher: PasswordHasher,
        clock: Clock,
        throttle: Throttle,
        devices: DeviceCookies,
        audit: AuditLog,
        open_session: OpenSession,
        factors: FactorRepository,
        challenges: ChallengeRepository,
        tokens: TokenGenerator,
        mfa_pending_ttl: timedelta,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._clock = clock
        self._throttle = throttle
        self._devices = devices
        self._audit = audit
        self._open = open_session
        self._factors = factors
        self._challenges = challenges
        self._tokens = tokens
        self._mfa_pending_ttl = mfa_pending_ttl

    async def execute(
        self,
        *,
        username: str,
        password: str,
        presented_token: str | None = None,
        client: Client = Client(),
    ) -> LoginResult:
        password = normalize_password(password)
        name = _parse_or_none(username)
        canonical = name.canonical if name is not None and len(password) <= PASSWORD_MAX else None
        user = await self._users.get_by_username(canonical) if canonical is not None else None
        device_id = (
            await self._devices.device_for(client.device_cookie, user.id, self._clock.now())
            if user
            else None
        )
        # An attempt that can hash nothing (a broken username, an over-long password) is no guess
        # at any account: it is keyed as unusable, so that made-up names cannot mint counters.
        limits = self._throttle.policy.login_limits(canonical, client.address, device_id)
        try:
            reservation = await self._throttle.reserve(limits)
        except Throttled:
            self._audit.record(
                AuditEvent.THROTTLED,
                action="login",
                user_id=user.id if user else None,
                client=client,
            )
            raise

        owner = address_group(client.address)  # an IPv6 subscriber's /64 is one owner
        try:
            valid = False
            if user is not None:
                valid = await self._hasher.verify(user.password_hash, password, owner=owner)
            elif canonical is not None:
                await self._hasher.verify_dummy(password, username=canonical, owner=owner)
        except BaseException:
            await reservation.cancel()  # no verdict (a full hashing queue, say): not a failure
            raise
        if user is None or not valid:
            self._audit.record(
                AuditEvent.LOGIN_FAILED, user_id=user.id if user else None, client=client
            )
            raise InvalidCredentials()  # the reservation stays: it is this failure's count
        if user.disabled:
            self._audit.record(AuditEvent.LOGIN_DISABLED, user_id=user.id, client=client)
            raise InvalidCredentials()  # as a wrong password: the reservation stays
        try:
            summary = await self._factors.summary(user.id)
        except BaseException:
            await reservation.cancel()
            raise
        if summary.any:
            await reservation.cancel()  # not cleared: the second step's failures keep counting
            await self._rehash_if_needed(user, password, client)
            await self._pend(user, summary.methods, client)
        await reservation.succeed()
        await self._rehash_if_needed(user, password, client)
        return await self._open.execute(
            user,
            methods=AuthMethod.PASSWORD,
            password_hash=user.password_hash,
            device_id=device_id,
            client=client,
            presented_token=presented_token,
            password=password,
        )

    async def _pend(self, user: User, methods: list[str], client: Client) -> None:
        token = self._tokens.session_token()
        now = self._clock.now()
        await self._challenges.add(
            Challenge(
                key_hash=hash_token(token),
                purpose=ChallengePurpose.LOGIN,
                created_at=now,
                expires_at=now + self._mfa_pending_ttl,
                user_id=user.id,
                password_hash=user.password_hash,
            )
        )
        self._audit.record(
            AuditEvent.MFA_REQUIRED, user_id=user.id, client=client, factor="any", methods=methods
        )
        raise MfaPending(token, methods, int(self._mfa_pending_ttl.total_seconds()))

    async def _rehash_if_needed(self, user: User, password: str, client: Client) -> None:
        if not self._hasher.needs_rehash(user.password_hash):
            return
        try:
            new_hash = await self._hasher.hash(password, owner=address_group(client.address))
        except HashingOverloaded:
            return  # the login itself succeeded; the next one will rehash
        await self._users.update_password_hash(user.id, new_hash)
        user.password_hash = new_hash
        self._audit.record(AuditEvent.PASSWORD_REHASHED, user_id=user.id, client=client)


def _parse_or_none(username: str) -> Username | None:
    try:
        return Username.parse(username)
    except PolicyViolation:
        return None
