from application.mail_messages import Messages
from application.token_refusal import link_usable, refusal_reason
from domain.account_token import AccountToken, TokenPurpose
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import InvalidToken
from domain.mail import MailKind
from domain.ports import (
    AccountTokenRepository,
    AuditLog,
    Clock,
    PasswordHasher,
    UserRepository,
)
from domain.session import hash_token, is_well_formed_token
from domain.throttle import address_group
from domain.user import PasswordPolicy


class ResetPassword:
    """Replace a password by the token of a reset link; no session is needed, and none is made.

    - The new password is checked against the policy first: a refused one leaves the token
      usable.
    - Unknown, used, expired (at its expiry instant included), malformed or not a reset token:
      one answer, InvalidToken, before any hashing.
    - In one step: the token is consumed (of two uses at once, exactly one wins), the password
      replaced, every session of the account ended (on every instance), every other reset link
      of the account killed, and a notice queued to the verified address.
    - Device cookies keep their standing: the owner's browser is still known to the throttle.
    Returns how many sessions ended.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        tokens: AccountTokenRepository,
        hasher: PasswordHasher,
        clock: Clock,
        policy: PasswordPolicy,
        mail: Messages,
        audit: AuditLog,
    ) -> None:
        self._users = users
        self._tokens = tokens
        self._hasher = hasher
        self._clock = clock
        self._policy = policy
        self._mail = mail
        self._audit = audit

    async def usable(self, *, token: str) -> bool:
        """Whether the link would still work now (nothing used, nothing audited): the page shows
        its form only then, so that a dead link is said before a password is typed."""
        return await link_usable(
            self._tokens, token, TokenPurpose.RESET_PASSWORD, self._clock.now()
        )

    async def execute(self, *, token: str, new_password: str, client: Client = Client()) -> int:
        new = self._policy.check(new_password, field="new_password")
        purpose = TokenPurpose.RESET_PASSWORD
        if not is_well_formed_token(token):
            self._refused(None, purpose, client, "malformed")
            raise InvalidToken()
        token_hash = hash_token(token)
        # A look first, so that a dead token costs no hashing; the use below is what counts.
        held = await self._tokens.find(token_hash)
        if held is None or held.purpose != purpose or held.is_expired(self._clock.now()):
            self._refused(held, purpose, client, refusal_reason(held, purpose, self._clock.now()))
            raise InvalidToken()
        user = await self._users.get(held.user_id)
        if user is None:
            raise InvalidToken()  # deleted meanwhile (its tokens go with it)
        new_hash = await self._hasher.hash(new, owner=address_group(client.address))
        notices = []
        if user.verified_email is not None:
            notices.append(
                self._mail.notice_to(
                    MailKind.PASSWORD_WAS_RESET, to=user.verified_email, user=user, client=client
                )
            )
        now = self._clock.now()
        ended = await self._users.reset_password(token_hash, new_hash, now, mail=notices)
        if ended is None:
            latest = await self._tokens.find(token_hash)
            self._refused(held, purpose, client, refusal_reason(latest, purpose, now))
            raise InvalidToken()
        self._audit.record(
            AuditEvent.PASSWORD_RESET, user_id=user.id, client=client, revoked_sessions=ended
        )
        return ended

    def _refused(
        self, held: AccountToken | None, purpose: TokenPurpose, client: Client, reason: str
    ) -> None:
        self._audit.record(
            AuditEvent.TOKEN_REFUSED,
            user_id=held.user_id if held else None,
            client=client,
            purpose=purpose,
            reason=reason,
        )
