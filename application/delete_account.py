from application.resolve_session import Authenticated
from application.throttle import Throttle
from domain.audit import AuditEvent
from domain.client import Client
from domain.device import DeviceCookies
from domain.errors import NotAuthenticated, Throttled, WrongPassword
from domain.ports import AuditLog, Clock, PasswordHasher, UserRepository
from domain.throttle import address_group
from domain.user import PASSWORD_MAX, normalize_password


class DeleteAccount:
    """Users delete their own account.

    - The current password must be given; a wrong one is WrongPassword and counts as a failed
      login for the account, under the same throttle as Login and ChangePassword (reserved
      before any hashing, so that its limits hold however many attempts run at once).
    - The account goes with everything stored for it (sessions, link tokens, queued mail), all
      or nothing; its sessions end at once on every instance.
    - An account deleted meanwhile (by a racing request or an operator) is NotAuthenticated:
      the caller's session went with it.
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
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._clock = clock
        self._throttle = throttle
        self._devices = devices
        self._audit = audit

    async def execute(
        self, *, current: Authenticated, current_password: str, client: Client = Client()
    ) -> int:
        user = current.user
        device_id = await self._devices.device_for(client.device_cookie, user.id, self._clock.now())
        limits = self._throttle.policy.login_limits(
            user.username.canonical, client.address, device_id
        )
        try:
            reservation = await self._throttle.reserve(limits)
        except Throttled:
            self._audit.record(
                AuditEvent.THROTTLED, action="account_delete", user_id=user.id, client=client
            )
            raise
        try:
            given = normalize_password(current_password)
            valid = len(given) <= PASSWORD_MAX and await self._hasher.verify(
                user.password_hash, given, owner=address_group(client.address)
            )
        except BaseException:
            await reservation.cancel()  # no verdict on the password: not a failure
            raise
        if not valid:
            self._audit.record(
                AuditEvent.LOGIN_FAILED,
                action="account_delete",
                user_id=user.id,
                session_id=current.session.id,
                client=client,
            )
            raise WrongPassword()  # the reservation stays: it is this failure's count
        await reservation.succeed()

        revoked = await self._users.delete(user.id)
        if revoked is None:
            raise NotAuthenticated()
        self._audit.record(
            AuditEvent.ACCOUNT_DELETED,
            user_id=user.id,
            session_id=current.session.id,
            client=client,
            by="self",
            revoked_sessions=revoked,
        )
        return revoked
