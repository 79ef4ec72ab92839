from application.user_lookup import user_named
from domain.audit import AuditEvent
from domain.errors import UnknownUser
from domain.ports import AuditLog, UserRepository


class DisableUser:
    """An operator disables an account, named by username.

    - Every session of the account ends at once, in the same step as the change, on every
      instance; a login racing the disable leaves no session behind, and later logins answer
      as a wrong password does.
    - Disabling a disabled account changes nothing and is not an error.
    - An unknown username is UnknownUser.
    Returns how many sessions ended.
    """

    def __init__(self, *, users: UserRepository, audit: AuditLog) -> None:
        self._users = users
        self._audit = audit

    async def execute(self, *, username: str) -> int:
        user = await user_named(self._users, username)
        revoked = await self._users.set_disabled(user.id, True)
        if revoked is None:  # deleted meanwhile
            raise UnknownUser()
        self._audit.record(AuditEvent.ACCOUNT_DISABLED, user_id=user.id, revoked_sessions=revoked)
        return revoked
