from application.resolve_session import Authenticated
from domain.audit import AuditEvent
from domain.client import Client
from domain.ports import AuditLog, SessionRepository


class Logout:
    """End the caller's session.

    - Only the presented session ends; the user's other sessions stay.
    - Ending a session that a concurrent request already ended is not an error.
    """

    def __init__(self, *, sessions: SessionRepository, audit: AuditLog) -> None:
        self._sessions = sessions
        self._audit = audit

    async def execute(self, *, current: Authenticated, client: Client = Client()) -> None:
        await self._sessions.revoke(current.session.token_hash)
        self._audit.record(
            AuditEvent.LOGOUT, user_id=current.user.id, session_id=current.session.id, client=client
        )
