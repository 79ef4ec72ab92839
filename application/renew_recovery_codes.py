from application.factor_change import FactorChange
from application.factor_results import Rotated
from application.reauthenticate import Reauthenticate
from application.resolve_session import Authenticated
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import NoSecondFactor
from domain.factors import Factor, Reauth
from domain.mail import MailKind
from domain.ports import FactorRepository


class RenewRecoveryCodes:
    """A new set of recovery codes, the old set dead.

    - Only for an account with a second factor (else NoSecondFactor): codes alone are no factor.
    - A re-auth body is required (Reauthenticate).
    - The new codes are stored only as hashes and answered once. The renewal ends the
      account's other sessions, rotates the caller's token and mails a notice (FactorChange).
    """

    def __init__(
        self,
        *,
        factors: FactorRepository,
        reauthenticate: Reauthenticate,
        change: FactorChange,
    ) -> None:
        self._factors = factors
        self._reauthenticate = reauthenticate
        self._change = change

    async def execute(self, *, current: Authenticated, reauth: Reauth, client: Client) -> Rotated:
        user = current.user
        if not (await self._factors.summary(user.id)).any:
            raise NoSecondFactor()
        await self._reauthenticate.check(current, reauth, client, action="recovery_codes")
        prepared = self._change.prepare(
            current, client, notice=MailKind.RECOVERY_CODES_RENEWED, with_codes=True
        )
        revoked = await self._factors.replace_recovery_codes(
            user.id,
            prepared.recovery_code_hashes,
            rotation=prepared.rotation,
            mail=prepared.mail,
        )
        if revoked is None:
            raise NoSecondFactor()  # the last factor went meanwhile
        self._change.record(
            AuditEvent.RECOVERY_CODES_RENEWED,
            current,
            client,
            prepared,
            factor=Factor.RECOVERY_CODE,
            revoked_sessions=revoked,
        )
        return Rotated(token=prepared.token, recovery_codes=prepared.recovery_codes)
