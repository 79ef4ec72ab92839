import asyncio
import logging
from datetime import timedelta

from application.mail_messages import Messages
from application.mail_quota import MailQuota
from application.throttle import Throttle
from domain.account_token import AccountToken, TokenPurpose
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import PolicyViolation, StoreUnavailable, Throttled
from domain.mail import MailKind
from domain.ports import (
    AccountTokenRepository,
    AuditLog,
    Clock,
    EmailAddresses,
    TokenGenerator,
    UserRepository,
)
from domain.user import User, Username

log = logging.getLogger("sessionauth.recovery")


class ForgotPassword:
    """Mail a reset link to an account's verified address, named by username or by address.

    - Exactly one of username and email is given (a PolicyViolation otherwise); a malformed
      address is InvalidEmail. Neither says anything about accounts.
    - Requests are limited per client address (each counts, whatever it names): over the limit
      is Throttled. That check, and the input's, are all the request waits for.
    - The rest runs after the answer, in a task of its own: finding the account, and storing a
      link with its message. So the answer is the same, in the same time, for an unknown user,
      one without a verified address, a disabled one and a real one; a failure there (the store
      went down) is logged, never answered.
    - A link goes only to a verified address. Beyond the account's mail quota of reset links in
      the window, requests are dropped silently (no mail bombing).
    - Links live `reset_ttl`; earlier ones keep working until used, expired, or killed by a
      reset or a password change.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        tokens: AccountTokenRepository,
        clock: Clock,
        ids: TokenGenerator,
        emails: EmailAddresses,
        throttle: Throttle,
        mail: Messages,
        mail_quota: MailQuota,
        reset_ttl: timedelta,
        audit: AuditLog,
    ) -> None:
        self._users = users
        self._tokens = tokens
        self._clock = clock
        self._ids = ids
        self._emails = emails
        self._throttle = throttle
        self._mail = mail
        self._mail_quota = mail_quota
        self._reset_ttl = reset_ttl
        self._audit = audit
        self._pending: set[asyncio.Task[None]] = set()

    async def execute(
        self,
        *,
        username: str | None = None,
        email: str | None = None,
        client: Client = Client(),
    ) -> None:
        username, email = username or None, email or None  # an empty form field is no field
        if (username is None) == (email is None):
            raise PolicyViolation(
                "username", "missing", "Give either a username or an email address"
            )
        address = self._emails.normalize(email) if email is not None else None
        try:
            await self._throttle.reserve(self._throttle.policy.reset_limits(client.address))
        except Throttled:
            self._audit.record(AuditEvent.THROTTLED, action="password_forgot", client=client)
            raise
        task = asyncio.create_task(
            self._mail_link(username, address, client), name="sessionauth-password-forgot"
        )
        self._pending.add(task)
        task.add_done_callback(self._finished)

    async def settle(self) -> None:
        """Wait for the requests still being handled (tests; a shutdown, before the store
        closes)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        # The type and an outage's cause only: a driver's message may quote a query's values,
        # and this one's hold a token.
        cause = error.cause.value if isinstance(error, StoreUnavailable) else ""
        log.warning(
            "a password reset request was not completed",
            extra={"error": type(error).__name__, "cause": cause},
        )

    async def _mail_link(self, username: str | None, email: str | None, client: Client) -> None:
        user = await self._find(username, email)
        if user is None:
            outcome = "no_account"
        elif user.disabled:
            outcome = "disabled"
        elif user.verified_email is None:
            outcome = "no_verified_address"
        elif not await self._mail_quota.take(MailKind.PASSWORD_RESET, user.id):
            outcome = "mail_quota"
        else:
            await self._store_link(user, user.verified_email)
            outcome = "mailed"
        self._audit.record(
            AuditEvent.PASSWORD_RESET_REQUESTED,
            user_id=user.id if user else None,
            client=client,
            outcome=outcome,
        )

    async def _find(self, username: str | None, email: str | None) -> User | None:
        if email is not None:
            return await self._users.get_by_verified_email(email)
        try:
            canonical = Username.parse(username or "").canonical
        except PolicyViolation:
            return None  # a name no account can have
        return await self._users.get_by_username(canonical)

    async def _store_link(self, user: User, to: str) -> None:
        secret = self._ids.session_token()
        token = AccountToken.issue(
            secret,
            purpose=TokenPurpose.RESET_PASSWORD,
            user_id=user.id,
            now=self._clock.now(),
            ttl=self._reset_ttl,
        )
        link = self._mail.link(
            MailKind.PASSWORD_RESET, to=to, user=user, token=secret, expires_at=token.expires_at
        )
        await self._tokens.add(token, mail=[link])
