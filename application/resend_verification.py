from datetime import timedelta

from application.mail_messages import Messages
from application.mail_quota import MailQuota
from application.resolve_session import Authenticated
from domain.account_token import AccountToken, TokenPurpose
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import EmailAlreadyVerified, NoEmailAddress, NotAuthenticated, Throttled
from domain.mail import MailKind
from domain.ports import AccountTokenRepository, AuditLog, Clock, TokenGenerator, UserRepository


class ResendVerification:
    """Mail a new link for the caller's unverified address.

    - An account without an address is NoEmailAddress; one whose address is verified already,
      EmailAlreadyVerified (both 409: the account's state, not the request, is in the way).
    - Links of one kind per account are limited by the mail quota; over it the request is
      Throttled (the caller learns nothing it did not know).
    - Earlier links for the same address keep working until they expire or one is used.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        tokens: AccountTokenRepository,
        clock: Clock,
        ids: TokenGenerator,
        mail: Messages,
        mail_quota: MailQuota,
        verify_ttl: timedelta,
        audit: AuditLog,
    ) -> None:
        self._users = users
        self._tokens = tokens
        self._clock = clock
        self._ids = ids
        self._mail = mail
        self._mail_quota = mail_quota
        self._verify_ttl = verify_ttl
        self._audit = audit

    async def execute(self, *, current: Authenticated, client: Client = Client()) -> None:
        # Read again: the session's copy of the user may come from a cache.
        user = await self._users.get(current.user.id)
        if user is None:
            raise NotAuthenticated()
        if user.email is None:
            raise NoEmailAddress()
        if user.email_verified:
            raise EmailAlreadyVerified()
        try:
            await self._mail_quota.take_or_refuse(MailKind.VERIFY_EMAIL, user.id)
        except Throttled:
            self._audit.record(
                AuditEvent.THROTTLED,
                action="verification_resend",
                user_id=user.id,
                client=client,
                reason="mail_quota",
            )
            raise
        secret = self._ids.session_token()
        token = AccountToken.issue(
            secret,
            purpose=TokenPurpose.VERIFY_EMAIL,
            user_id=user.id,
            now=self._clock.now(),
            ttl=self._verify_ttl,
            email=user.email,
        )
        link = self._mail.link(
            MailKind.VERIFY_EMAIL,
            to=user.email,
            user=user,
            token=secret,
            expires_at=token.expires_at,
        )
        await self._tokens.add(token, mail=[link])
        self._audit.record(
            AuditEvent.EMAIL_VERIFICATION_REQUESTED,
            user_id=user.id,
            client=client,
        )
