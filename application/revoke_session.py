from application.list_sessions import ListSessions
from application.resolve_session import Authenticated
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import SessionNotFound
from domain.ports import AuditLog, SessionRepository


class RevokeSession:
    """End one of the caller's sessions by its public id.

    - Only an active session of the caller can be ended; an unknown, foreign, expired or already
      revoked id is SessionNotFound, one answer for all, so ids of others reveal nothing.
    - The audit event names its scope ("single"), so it can be told from the other ways a
      session ends.
    Returns True when the caller ended the session it is using.
    """

    def __init__(
        self, *, sessions: SessionRepository, listing: ListSessions, audit: AuditLog
    ) -> None:
        self._sessions = sessions
        self._listing = listing
        self._audit = audit

    async def execute(
        self, *, current: Authenticated, session_id: str, client: Client = Client()
    ) -> bool:
        active = {s.session.id for s in await self._listing.execute(current=current)}
        if session_id not in active or not await self._sessions.revoke_by_id(
            current.user.id, session_id
        ):
            raise SessionNotFound()
        self._audit.record(
            AuditEvent.SESSION_REVOKED,
            user_id=current.user.id,
            session_id=session_id,
            client=client,
            scope="single",
        )
        return session_id == current.session.id
