from application.token_refusal import link_usable, refusal_reason
from domain.account_token import TokenPurpose
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import EmailTaken, InvalidToken
from domain.ports import AccountTokenRepository, AuditLog, Clock, UserRepository
from domain.session import hash_token, is_well_formed_token
from domain.user import User


class VerifyEmail:
    """Confirm an address by the token of the link mailed to it; no session is needed.

    - The token is single-use and consumed atomically with the confirmation: of two uses at
      once, one confirms and the other is InvalidToken.
    - Unknown, used, expired (at its expiry instant included), malformed, for another purpose,
      or for an address the account no longer names: one answer, InvalidToken. The audit log
      tells them apart where the store still can (an expired token is there until purged).
    - An address that another account holds verified is EmailTaken; the token is then not
      consumed, so it works once the other account lets the address go.
    Returns the user, its address verified.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        tokens: AccountTokenRepository,
        clock: Clock,
        audit: AuditLog,
    ) -> None:
        self._users = users
        self._tokens = tokens
        self._clock = clock
        self._audit = audit

    async def usable(self, *, token: str) -> bool:
        """Whether the link would still work now (nothing used, nothing audited)."""
        return await link_usable(self._tokens, token, TokenPurpose.VERIFY_EMAIL, self._clock.now())

    async def execute(self, *, token: str, client: Client = Client()) -> User:
        purpose = TokenPurpose.VERIFY_EMAIL
        if not is_well_formed_token(token):
            self._audit.record(
                AuditEvent.TOKEN_REFUSED, client=client, purpose=purpose, reason="malformed"
            )
            raise InvalidToken()
        token_hash, now = hash_token(token), self._clock.now()
        try:
            user = await self._users.verify_email(token_hash, now)
        except EmailTaken:
            held = await self._tokens.find(token_hash)
            self._audit.record(
                AuditEvent.TOKEN_REFUSED,
                user_id=held.user_id if held else None,
                client=client,
                purpose=purpose,
                reason="address_taken",
            )
            raise
        if user is None:
            held = await self._tokens.find(token_hash)
            self._audit.record(
                AuditEvent.TOKEN_REFUSED,
                user_id=held.user_id if held else None,
                client=client,
                purpose=purpose,
                reason=refusal_reason(held, purpose, now),
            )
            raise InvalidToken()
        self._audit.record(AuditEvent.EMAIL_VERIFIED, user_id=user.id, client=client)
        return user
