from application.user_lookup import user_named
from domain.audit import AuditEvent
from domain.errors import UnknownUser
from domain.ports import AuditLog, UserRepository


class EnableUser:
    """An operator enables a disabled account again, named by username.

    - The account can log in again with its password; no session comes back.
    - Enabling an enabled account changes nothing and is not an error.
    - An unknown username is UnknownUser.
    """

    def __init__(self, *, users: UserRepository, audit: AuditLog) -> None:
        self._users = users
        self._audit = audit

    async def execute(self, *, username: str) -> None:
        user = await user_named(self._users, username)
        if await self._users.set_disabled(user.id, False) is None:  # deleted meanwhile
            raise UnknownUser()
        self._audit.record(AuditEvent.ACCOUNT_ENABLED, user_id=user.id)
