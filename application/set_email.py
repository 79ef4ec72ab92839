from datetime import timedelta

from application.mail_messages import Messages
from application.mail_quota import MailQuota
from application.resolve_session import Authenticated
from application.throttle import Throttle
from domain.account_token import AccountToken, TokenPurpose
from domain.audit import AuditEvent
from domain.client import Client
from domain.device import DeviceCookies
from domain.errors import NotAuthenticated, Throttled, WrongPassword
from domain.mail import MailKind
from domain.ports import (
    AuditLog,
    Clock,
    EmailAddresses,
    PasswordHasher,
    TokenGenerator,
    UserRepository,
)
from domain.throttle import address_group
from domain.user import PASSWORD_MAX, User, normalize_password


class SetEmail:
    """Set or replace the caller's email address.

    - The address is normalised first (a malformed one is InvalidEmail, before any other work).
    - The current password must be given; a wrong one is WrongPassword and counts as a failed
      login for the account, under the same throttle as Login and ChangePassword.
    - The new address is unverified: it is used for nothing until its link is followed. The
      account's other verification links die with the old address.
    - A link is mailed to the new address; over the account's quota of such links in the window
      the request is Throttled (the caller asked for it, so it learns nothing it did not know),
      and nothing changes. A notice goes to the old address when it was verified.
    - Giving the address the account already holds verified changes nothing and mails nothing.
    - The address, the link and the notices are stored together or not at all.
    Returns the user as it is now.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        hasher: PasswordHasher,
        clock: Clock,
        tokens: TokenGenerator,
        emails: EmailAddresses,
        throttle: Throttle,
        devices: DeviceCookies,
        mail: Messages,
        mail_quota: MailQuota,
        verify_ttl: timedelta,
        audit: AuditLog,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._clock = clock
        self._tokens = tokens
        self._emails = emails
        self._throttle = throttle
        self._devices = devices
        self._mail = mail
        self._mail_quota = mail_quota
        self._verify_ttl = verify_ttl
        self._audit = audit

    async def execute(
        self,
        *,
        current: Authenticated,
        email: str,
        current_password: str,
        client: Client = Client(),
    ) -> User:
        address = self._emails.normalize(email)
        await self._check_password(current, current_password, client)
        # Read again: the session's copy of the user may come from a cache.
        user = await self._users.get(current.user.id)
        if user is None:
            raise NotAuthenticated()
        if user.verified_email == address:
            return user
        try:
            await self._mail_quota.take_or_refuse(MailKind.VERIFY_EMAIL, user.id)
        except Throttled:
            self._audit.record(
                AuditEvent.THROTTLED,
                action="email_change",
                user_id=user.id,
                client=client,
                reason="mail_quota",
            )
            raise
        now = self._clock.now()
        secret = self._tokens.session_token()
        token = AccountToken.issue(
            secret,
            purpose=TokenPurpose.VERIFY_EMAIL,
            user_id=user.id,
            now=now,
            ttl=self._verify_ttl,
            email=address,
        )
        mail = [
            self._mail.link(
                MailKind.VERIFY_EMAIL,
                to=address,
                user=user,
                token=secret,
                expires_at=token.expires_at,
            )
        ]
        old = user.verified_email
        if old is not None:
            mail.append(
                self._mail.notice_to(
                    MailKind.EMAIL_CHANGED, to=old, user=user, client=client, new_email=address
                )
            )
        changed = await self._users.set_email(user.id, address, token=token, mail=mail)
        if changed is None:
            raise NotAuthenticated()  # the account went away meanwhile
        self._audit.record(
            AuditEvent.EMAIL_CHANGED,
            user_id=user.id,
            session_id=current.session.id,
            client=client,
            old_verified=old is not None,
        )
        self._audit.record(
            AuditEvent.EMAIL_VERIFICATION_REQUESTED,
            user_id=user.id,
            client=client,
        )
        return changed

    async def _check_password(
        self, current: Authenticated, current_password: str, client: Client
    ) -> None:
        """As ChangePassword: reserved on the login throttle before any hashing; a failure keeps
        its reservation, a success settles it, no verdict gives it back."""
        user = current.user
        device_id = await self._devices.device_for(client.device_cookie, user.id, self._clock.now())
        limits = self._throttle.policy.login_limits(
            user.username.canonical, client.address, device_id
        )
        try:
            reservation = await self._throttle.reserve(limits)
        except Throttled:
            self._audit.record(
                AuditEvent.THROTTLED, action="email_change", user_id=user.id, client=client
            )
            raise
        try:
            given = normalize_password(current_password)
            valid = len(given) <= PASSWORD_MAX and await self._hasher.verify(
                user.password_hash, given, owner=address_group(client.address)
            )
        except BaseException:
            await reservation.cancel()
            raise
        if not valid:
            self._audit.record(
                AuditEvent.LOGIN_FAILED,
                action="email_change",
                user_id=user.id,
                session_id=current.session.id,
                client=client,
            )
            raise WrongPassword()
        await reservation.succeed()
