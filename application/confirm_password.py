from collections.abc import Callable

from application.resolve_session import Authenticated
from application.throttle import Throttle
from domain.audit import AuditEvent
from domain.client import Client
from domain.device import DeviceCookies
from domain.errors import Throttled, WrongPassword
from domain.ports import AuditLog, Clock, PasswordHasher
from domain.throttle import address_group
from domain.user import PASSWORD_MAX, normalize_password


class ConfirmPassword:
    """The current password, given by a signed-in user to confirm a sensitive change (a new
    password, a new address, deleting the account). Shared by those use-cases, so that each
    confirms the same way:

    - An attempt is reserved on the login throttle, exactly as a login of that account from that
      client would be, before any hashing: over a limit is Throttled even with the right
      password, and the limits hold however many attempts run at once.
    - A wrong password is WrongPassword, audited as a failed login with the change's `action`;
      its reservation stays (it is this failure's count).
    - A right one settles the reservation as a successful login does; an attempt that gets no
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
    ) -> None:
        self._hasher = hasher
        self._clock = clock
        self._throttle = throttle
        self._devices = devices
        self._audit = audit

    async def check(
        self,
        current: Authenticated,
        current_password: str,
        client: Client,
        *,
        action: str,
        validate: Callable[[], object] = lambda: None,
    ) -> None:
        """Return when `current_password` is the user's; `validate` runs once the attempt is
        reserved, before the hash, so that what it refuses is no verdict on the password."""
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
            given = normalize_password(current_password)
            valid = len(given) <= PASSWORD_MAX and await self._hasher.verify(
                user.password_hash, given, owner=address_group(client.address)
            )
        except BaseException:
            await reservation.cancel()  # no verdict on the current password: not a failure
            raise
        if not valid:
            self._audit.record(
                AuditEvent.LOGIN_FAILED,
                action=action,
                user_id=user.id,
                session_id=current.session.id,
                client=client,
            )
            raise WrongPassword()  # the reservation stays: it is this failure's count
        await reservation.succeed()
