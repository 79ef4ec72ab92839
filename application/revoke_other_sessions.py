from application.list_sessions import ListSessions
from application.resolve_session import Authenticated
from domain.audit import AuditEvent
from domain.client import Client
from domain.ports import AuditLog, SessionRepository


class RevokeOtherSessions:
    """End every session of the caller except the one it is using ("log out everywhere else").

    - One audit event per ended session, with scope "others".
    Returns how many active sessions ended."""

    def __init__(
        self, *, sessions: SessionRepository, listing: ListSessions, audit: AuditLog
    ) -> None:
        self._sessions = sessions
        self._listing = listing
        self._audit = audit

    async def execute(self, *, current: Authenticated, client: Client = Client()) -> int:
        others = [
            s.session.id for s in await self._listing.execute(current=current) if not s.current
        ]
        await self._sessions.revoke_all_for_user(
            current.user.id, keep_session_id=current.session.id
        )
        for session_id in others:
            self._audit.record(
                AuditEvent.SESSION_REVOKED,
                user_id=current.user.id,
                session_id=session_id,
                client=client,
                scope="others",
            )
        return len(others)
