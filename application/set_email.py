from datetime import timedelta

from application.mail_messages import Messages
from application.mail_quota import MailQuota
from application.reauthenticate import Reauthenticate
from application.resolve_session import Authenticated
from domain.account_token import AccountToken, TokenPurpose
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import NotAuthenticated, Throttled
from domain.factors import FactorProof, Reauth
from domain.mail import MailKind
from domain.ports import (
    AuditLog,
    Clock,
    EmailAddresses,
    TokenGenerator,
    UserRepository,
)
from domain.user import User


class SetEmail:
    """Set or replace the caller's email address.

    - The address is normalised first (a malformed one is InvalidEmail, before any other work).
    - The current password must be given, and a second factor when the account has one
      (Reauthenticate); a wrong one counts as a failed login for the account, under the same
      throttle as Login and ChangePassword.
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
        confirm: Reauthenticate,
        clock: Clock,
        tokens: TokenGenerator,
        emails: EmailAddresses,
        mail: Messages,
        mail_quota: MailQuota,
        verify_ttl: timedelta,
        audit: AuditLog,
    ) -> None:
        self._users = users
        self._confirm = confirm
        self._clock = clock
        self._tokens = tokens
        self._emails = emails
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
        proof: FactorProof = FactorProof(),
    ) -> User:
        address = self._emails.normalize(email)
        await self._confirm.check(
            current, Reauth(current_password, proof), client, action="email_change"
        )
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
