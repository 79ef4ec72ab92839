import logging

from application.factor_change import TOTP_NOTICE_NAME, FactorChange
from application.factor_results import Rotated
from application.resolve_session import Authenticated
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import NoFactorSetup, WrongSetupCode
from domain.factors import Factor
from domain.mail import MailKind
from domain.ports import Clock, FactorRepository, OneTimePasswords, SecretBox
from domain.session import AuthMethod

log = logging.getLogger("sessionauth.factors")


class ConfirmTotp:
    """Activate the pending TOTP set-up with a first code from the app.

    - No set-up pending (or TOTP active already) is NoFactorSetup.
    - A wrong code is WrongSetupCode and the set-up stays pending (the user may try again).
    - A right one activates TOTP with its time step used (the same code cannot log in), ends
      the account's other sessions, rotates the caller's token and raises its session to the
      methods it holds plus TOTP (the code was just proven), and mails a notice (FactorChange).
    - When it is the account's first second factor, a fresh set of recovery codes is stored
      with it (as hashes) and answered once; otherwise the answer has none.
    """

    def __init__(
        self,
        *,
        factors: FactorRepository,
        otp: OneTimePasswords,
        box: SecretBox,
        clock: Clock,
        change: FactorChange,
    ) -> None:
        self._factors = factors
        self._otp = otp
        self._box = box
        self._clock = clock
        self._change = change

    async def execute(self, *, current: Authenticated, code: str, client: Client) -> Rotated:
        user = current.user
        pending = await self._factors.totp(user.id)
        if pending is None or pending.confirmed:
            raise NoFactorSetup()
        try:
            secret = (
                await self._box.open(pending.sealed_secret, context=user.id.encode())
            ).decode()
        except ValueError:
            log.error(
                "a pending TOTP secret does not open with the current key: was SECRETS_KEY "
                "changed?",
                extra={"user_id": user.id},
            )
            raise NoFactorSetup() from None
        step = self._otp.matching_step(secret, code, self._clock.now())
        if step is None:
            raise WrongSetupCode()
        prepared = self._change.prepare(
            current,
            client,
            notice=MailKind.FACTOR_ADDED,
            factor_name=TOTP_NOTICE_NAME,
            methods=current.session.methods | AuthMethod.TOTP,
            with_codes=True,
        )
        enrolled = await self._factors.confirm_totp(
            user.id,
            step,
            recovery_code_hashes=prepared.recovery_code_hashes,
            rotation=prepared.rotation,
            mail=prepared.mail,
        )
        if enrolled is None:
            raise NoFactorSetup()  # confirmed or replaced meanwhile
        self._change.record(
            AuditEvent.FACTOR_ENROLLED,
            current,
            client,
            prepared,
            factor=Factor.TOTP,
            revoked_sessions=enrolled.revoked_sessions,
        )
        codes = prepared.recovery_codes if enrolled.recovery_codes_stored else []
        return Rotated(token=prepared.token, recovery_codes=codes)
