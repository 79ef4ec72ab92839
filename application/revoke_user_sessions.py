from domain.audit import AuditEvent
from domain.errors import PolicyViolation, UnknownUser
from domain.ports import AuditLog, SessionRepository, UserRepository
from domain.user import Username


class RevokeUserSessions:
    """Incident response: end every session of a user, named by username.

    - The username is compared in its canonical form; an unknown one is UnknownUser.
    Returns how many sessions ended.
    """

    def __init__(
        self, *, users: UserRepository, sessions: SessionRepository, audit: AuditLog
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._audit = audit

    async def execute(self, *, username: str) -> int:
        try:
            canonical = Username.parse(username).canonical
        except PolicyViolation:
            raise UnknownUser() from None
        user = await self._users.get_by_username(canonical)
        if user is None:
            raise UnknownUser()
        revoked = await self._sessions.revoke_all_for_user(user.id)
        self._audit.record(
            AuditEvent.SESSION_REVOKED, user_id=user.id, scope="all", revoked_sessions=revoked
        )
        return revoked
