from application.mail_messages import Messages
from application.second_factor import SecondFactor
from application.throttle import Throttle
from application.token_refusal import link_usable, refusal_reason
from domain.account_token import AccountToken, TokenPurpose
from domain.audit import AuditEvent
from domain.client import Client
from domain.device import DeviceCookies
from domain.errors import (
    InvalidCode,
    InvalidToken,
    SecondFactorRequired,
    Throttled,
    WrongSecondFactor,
)
from domain.factors import FactorProof
from domain.mail import MailKind
from domain.ports import (
    AccountTokenRepository,
    AuditLog,
    Clock,
    FactorRepository,
    PasswordHasher,
    UserRepository,
)
from domain.session import hash_token, is_well_formed_token
from domain.throttle import address_group
from domain.user import PasswordPolicy, User


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
    - For an account with a second factor (ASVS 6.4.3) a TOTP code or a recovery code must come
      with it: none is SecondFactorRequired, and the token stays usable. The check is reserved
      on the login throttle of the account as a login from that client would be (Throttled
      over a limit); a wrong one is WrongSecondFactor, counted as a failed login (action
      "password_reset") and the token stays usable. A WebAuthn assertion is not taken here
      (there is no session to bind its challenge to): it is answered as no factor at all.
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
        factors: FactorRepository,
        second_factor: SecondFactor,
        throttle: Throttle,
        devices: DeviceCookies,
    ) -> None:
        self._users = users
        self._tokens = tokens
        self._hasher = hasher
        self._clock = clock
        self._policy = policy
        self._mail = mail
        self._audit = audit
        self._factors = factors
        self._second_factor = second_factor
        self._throttle = throttle
        self._devices = devices

    async def usable(self, *, token: str) -> bool:
        """Whether the link would still work now (nothing used, nothing audited): the page shows
        its form only then, so that a dead link is said before a password is typed."""
        return await link_usable(
            self._tokens, token, TokenPurpose.RESET_PASSWORD, self._clock.now()
        )

    async def execute(
        self,
        *,
        token: str,
        new_password: str,
        client: Client = Client(),
        proof: FactorProof = FactorProof(),
    ) -> int:
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
        if (await self._factors.summary(user.id)).any:
            await self._check_factor(user, proof, client)
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

    async def _check_factor(self, user: User, proof: FactorProof, client: Client) -> None:
        if proof.code is None and proof.recovery_code is None:
            raise SecondFactorRequired()
        now = self._clock.now()
        device_id = await self._devices.device_for(client.device_cookie, user.id, now)
        limits = self._throttle.policy.login_limits(
            user.username.canonical, client.address, device_id
        )
        action = "password_reset"
        try:
            reservation = await self._throttle.reserve(limits)
        except Throttled:
            self._audit.record(AuditEvent.THROTTLED, action=action, user_id=user.id, client=client)
            raise
        try:
            await self._second_factor.check(user, proof, client=client, action=action)
        except InvalidCode:
            self._audit.record(
                AuditEvent.LOGIN_FAILED, action=action, user_id=user.id, client=client
            )
            raise WrongSecondFactor() from None  # the reservation stays: it counts
        except BaseException:
            await reservation.cancel()
            raise
        await reservation.succeed()

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
