from datetime import timedelta

from application.mail_messages import Messages
from application.mail_quota import MailQuota
from application.throttle import Throttle
from domain.account_token import AccountToken, TokenPurpose
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import Throttled, UsernameTaken
from domain.mail import MailKind, MailMessage
from domain.ports import (
    AuditLog,
    Clock,
    EmailAddresses,
    PasswordHasher,
    TokenGenerator,
    UserRepository,
)
from domain.throttle import address_group
from domain.user import PasswordPolicy, User, Username


class SignUp:
    """Create an account.

    - The username must satisfy the input rules; uniqueness compares its canonical form.
    - The password must satisfy the password policy; only its argon2 hash is stored.
    - Sign-ups are limited per client address; every attempt that passes the input rules and gets
      an answer counts, taken names included, so that 409s cannot be used to enumerate usernames
      at speed. The attempt is reserved before the work, so the limit holds however many
      sign-ups arrive at once; one that gets no answer (a full hashing queue) is given back.
    - A taken username is refused before any hashing work; a concurrent duplicate that slips past
      that check is still refused by the store (UsernameTaken, never a second account).
    - An email address is optional; it is normalised (a malformed one is InvalidEmail, before
      any other work) and stored unverified. With mail on, a link that confirms it is stored and
      queued with the account, in one step (and counted in the account's mail quota).
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        hasher: PasswordHasher,
        clock: Clock,
        ids: TokenGenerator,
        policy: PasswordPolicy,
        throttle: Throttle,
        audit: AuditLog,
        emails: EmailAddresses,
        mail: Messages | None,
        mail_quota: MailQuota,
        verify_ttl: timedelta,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._clock = clock
        self._ids = ids
        self._policy = policy
        self._throttle = throttle
        self._audit = audit
        self._emails = emails
        self._mail = mail
        self._mail_quota = mail_quota
        self._verify_ttl = verify_ttl

    async def execute(
        self,
        *,
        username: str,
        password: str,
        email: str | None = None,
        client: Client = Client(),
    ) -> User:
        name = Username.parse(username)
        normalized = self._policy.check(password)
        address = self._emails.normalize(email) if email is not None else None
        limits = self._throttle.policy.signup_limits(client.address)
        try:
            reservation = await self._throttle.reserve(limits)
        except Throttled:
            self._audit.record(AuditEvent.THROTTLED, action="signup", client=client)
            raise
        try:
            if await self._users.get_by_username(name.canonical) is not None:
                raise UsernameTaken()
            user = User(
                id=self._ids.public_id(),
                username=name,
                password_hash=await self._hasher.hash(
                    normalized, owner=address_group(client.address)
                ),
                created_at=self._clock.now(),
                email=address,
            )
            token, mail = await self._verification(user)
            await self._users.add(user, token=token, mail=mail)
        except UsernameTaken:
            raise  # an answer: it keeps its reservation, so 409s count
        except BaseException:
            await (
                reservation.cancel()
            )  # no answer (a full hashing queue, a store error): not counted
            raise
        self._audit.record(AuditEvent.SIGNUP, user_id=user.id, client=client)
        if token is not None:
            self._audit.record(
                AuditEvent.EMAIL_VERIFICATION_REQUESTED,
                user_id=user.id,
                client=client,
            )
        return user

    async def _verification(self, user: User) -> tuple[AccountToken | None, list[MailMessage]]:
        if self._mail is None or user.email is None:
            return None, []
        await self._mail_quota.take(MailKind.VERIFY_EMAIL, user.id)  # a new account has room
        secret = self._ids.session_token()
        token = AccountToken.issue(
            secret,
            purpose=TokenPurpose.VERIFY_EMAIL,
            user_id=user.id,
            now=user.created_at,
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
        return token, [link]
