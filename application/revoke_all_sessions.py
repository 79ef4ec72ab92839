from domain.audit import AuditEvent
from domain.ports import AuditLog, SessionRepository


class RevokeAllSessions:
    """Incident response: end every session of every user (a leaked session table, say).

    - Every instance stops serving them at once (their caches are told); accounts are unchanged
      and can log in again.
    Returns how many sessions ended.
    """

    def __init__(self, *, sessions: SessionRepository, audit: AuditLog) -> None:
        self._sessions = sessions
        self._audit = audit

    async def execute(self) -> int:
        revoked = await self._sessions.revoke_all()
        self._audit.record(AuditEvent.SESSION_REVOKED, scope="everyone", revoked_sessions=revoked)
        return revoked
