from application.reauthenticate import Reauthenticate
from application.resolve_session import Authenticated
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import NotAuthenticated
from domain.factors import FactorProof, Reauth
from domain.ports import AuditLog, UserRepository


class DeleteAccount:
    """Users delete their own account.

    - The current password must be given (Reauthenticate: a wrong one is WrongPassword and
      counts as a failed login for the account, under the same throttle as Login), and a second
      factor when the account has one (`proof`).
    - The account goes with everything stored for it (sessions, link tokens, queued mail), all
      or nothing; its sessions end at once on every instance.
    - An account deleted meanwhile (by a racing request or an operator) is NotAuthenticated:
      the caller's session went with it.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        confirm: Reauthenticate,
        audit: AuditLog,
    ) -> None:
        self._users = users
        self._confirm = confirm
        self._audit = audit

    async def execute(
        self,
        *,
        current: Authenticated,
        current_password: str,
        client: Client = Client(),
        proof: FactorProof = FactorProof(),
    ) -> int:
        user = current.user
        await self._confirm.check(
            current, Reauth(current_password, proof), client, action="account_delete"
        )

        revoked = await self._users.delete(user.id)
        if revoked is None:
            raise NotAuthenticated()
        self._audit.record(
            AuditEvent.ACCOUNT_DELETED,
            user_id=user.id,
            session_id=current.session.id,
            client=client,
            by="self",
            revoked_sessions=revoked,
        )
        return revoked
