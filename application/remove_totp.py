from application.factor_change import TOTP_NOTICE_NAME, FactorChange
from application.factor_results import Rotated
from application.reauthenticate import Reauthenticate
from application.resolve_session import Authenticated
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import FactorNotFound
from domain.factors import Factor, Reauth
from domain.mail import MailKind
from domain.ports import FactorRepository


class RemoveTotp:
    """Remove the caller's active TOTP.

    - None active is FactorNotFound (a pending set-up is not a factor).
    - A re-auth body is required (Reauthenticate: the password and a second factor, which may be
      a code of this very TOTP).
    - The removal ends the account's other sessions, rotates the caller's token and mails a
      notice (FactorChange); the recovery codes go too when no factor is left.
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
        active = await self._factors.totp(user.id)
        if active is None or not active.confirmed:
            raise FactorNotFound("TOTP")
        await self._reauthenticate.check(current, reauth, client, action="totp_remove")
        prepared = self._change.prepare(
            current, client, notice=MailKind.FACTOR_REMOVED, factor_name=TOTP_NOTICE_NAME
        )
        revoked = await self._factors.remove_totp(
            user.id, rotation=prepared.rotation, mail=prepared.mail
        )
        if revoked is None:
            raise FactorNotFound("TOTP")  # removed meanwhile
        self._change.record(
            AuditEvent.FACTOR_REMOVED,
            current,
            client,
            prepared,
            factor=Factor.TOTP,
            revoked_sessions=revoked,
        )
        return Rotated(token=prepared.token)
