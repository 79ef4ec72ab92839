from application.mail_messages import Messages
from application.user_lookup import user_named
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import UnknownUser
from domain.mail import MailKind
from domain.ports import AuditLog, FactorRepository, UserRepository


class ResetFactors:
    """An operator removes every second factor of an account whose owner lost them all (the
    app, every key and every recovery code), named by username: after checking who asks, out of
    band, as the runbook says (docs/second-factors.md).

    - The TOTP set-up, the WebAuthn credentials and the recovery codes go, and every session of
      the account ends, in one step, on every instance; the password stays.
    - A notice goes to the account's verified address, queued in that step, when mail is on.
    - An account with no factor is not an error (its sessions still end).
    - An unknown username is UnknownUser.
    Returns how many sessions ended.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        factors: FactorRepository,
        messages: Messages | None,
        audit: AuditLog,
    ) -> None:
        self._users = users
        self._factors = factors
        self._messages = messages
        self._audit = audit

    async def execute(self, *, username: str) -> int:
        user = await user_named(self._users, username)
        notice = (
            self._messages.notice(
                MailKind.FACTOR_REMOVED, user, Client(), factor="Every second factor"
            )
            if self._messages is not None
            else None
        )
        revoked = await self._factors.remove_all(
            user.id, mail=[notice] if notice is not None else []
        )
        if revoked is None:  # deleted meanwhile
            raise UnknownUser()
        self._audit.record(
            AuditEvent.FACTOR_REMOVED,
            user_id=user.id,
            factor="any",
            by="admin",
            revoked_sessions=revoked,
        )
        if notice is not None:
            self._audit.record(AuditEvent.NOTICE_QUEUED, user_id=user.id, kind=notice.kind)
        return revoked
