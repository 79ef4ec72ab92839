from application.mail_messages import Messages
from application.resolve_session import Authenticated
from application.throttle import Throttle
from domain.audit import AuditEvent
from domain.client import Client
from domain.device import DeviceCookies
from domain.errors import Throttled, WrongPassword
from domain.mail import MailKind
from domain.ports import AuditLog, Clock, PasswordHasher, TokenGenerator, UserRepository
from domain.session import hash_token
from domain.throttle import address_group
from domain.user import PASSWORD_MAX, PasswordPolicy, normalize_password


class ChangePassword:
    """Change the caller's password.

    - The current password must be given; a wrong one is WrongPassword and counts as a failed
      login for the account, under the same throttle as Login (reserved before any hashing, so
      that its limits hold however many attempts run at once).
    - The new password must satisfy the password policy.
    - The change, the end of every other session of the user and a new token for the current
      session happen together or not at all: ending sessions is tied to the change itself, never
      derived from the stored hash (a rehash logs nobody out).
    - A notice goes to the account's verified address (ASVS 6.3.7), queued in that same
      transaction. It is never dropped by the mail quota: the owner must learn of every change,
      and changes are already bounded by the login throttle and the current password.
    Returns the current session's new token.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        hasher: PasswordHasher,
        clock: Clock,
        tokens: TokenGenerator,
        policy: PasswordPolicy,
        throttle: Throttle,
        devices: DeviceCookies,
        audit: AuditLog,
        messages: Messages,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._clock = clock
        self._tokens = tokens
        self._policy = policy
        self._throttle = throttle
        self._devices = devices
        self._audit = audit
        self._messages = messages

    async def execute(
        self,
        *,
        current: Authenticated,
        current_password: str,
        new_password: str,
        client: Client = Client(),
    ) -> str:
        user = current.user
        device_id = await self._devices.device_for(client.device_cookie, user.id, self._clock.now())
        limits = self._throttle.policy.login_limits(
            user.username.canonical, client.address, device_id
        )
        try:
            reservation = await self._throttle.reserve(limits)
        except Throttled:
            self._audit.record(
                AuditEvent.THROTTLED, action="password_change", user_id=user.id, client=client
            )
            raise
        try:
            new = self._policy.check(new_password, field="new_password")
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
                action="password_change",
                user_id=user.id,
                session_id=current.session.id,
                client=client,
            )
            raise WrongPassword()  # the reservation stays: it is this failure's count
        await reservation.succeed()

        new_hash = await self._hasher.hash(new, owner=address_group(client.address))
        token = self._tokens.session_token()
        notice = self._messages.notice(MailKind.PASSWORD_CHANGED, user, client)
        revoked = await self._users.change_password(
            user.id,
            new_hash,
            keep_session_id=current.session.id,
            new_token_hash=hash_token(token),
            mail=[notice] if notice is not None else [],
        )
        self._audit.record(
            AuditEvent.PASSWORD_CHANGED,
            user_id=user.id,
            session_id=current.session.id,
            client=client,
            revoked_sessions=revoked,
        )
        if notice is not None:
            self._audit.record(
                AuditEvent.NOTICE_QUEUED,
                user_id=user.id,
                session_id=current.session.id,
                client=client,
                kind=notice.kind,
            )
        return token
