from application.user_lookup import user_named
from domain.audit import AuditEvent
from domain.errors import UnknownUser
from domain.ports import AuditLog, UserRepository


class DeleteUser:
    """An operator deletes an account, named by username.

    - The account goes with everything stored for it (sessions, link tokens, queued mail), all
      or nothing; its sessions end at once on every instance. Its username is free again.
    - An unknown username is UnknownUser.
    Returns how many sessions ended.
    """

    def __init__(self, *, users: UserRepository, audit: AuditLog) -> None:
        self._users = users
        self._audit = audit

    async def execute(self, *, username: str) -> int:
        user = await user_named(self._users, username)
        revoked = await self._users.delete(user.id)
        if revoked is None:  # deleted meanwhile
            raise UnknownUser()
        self._audit.record(
            AuditEvent.ACCOUNT_DELETED, user_id=user.id, by="admin", revoked_sessions=revoked
        )
        return revoked
