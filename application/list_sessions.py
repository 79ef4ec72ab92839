from dataclasses import dataclass
from datetime import datetime

from application.resolve_session import Authenticated
from domain.ports import Clock, SessionRepository
from domain.session import Session, SessionPolicy


@dataclass(frozen=True, slots=True)
class SessionSummary:
    session: Session
    idle_expires_at: datetime
    current: bool


class ListSessions:
    """The caller's active sessions, newest first.

    - Sessions past either deadline are left out even before they are purged.
    - The session making the request is marked as current.
    """

    def __init__(self, *, sessions: SessionRepository, clock: Clock, policy: SessionPolicy) -> None:
        self._sessions = sessions
        self._clock = clock
        self._policy = policy

    async def execute(self, *, current: Authenticated) -> list[SessionSummary]:
        now = self._clock.now()
        stored = await self._sessions.list_for_user(current.user.id)
        return [
            SessionSummary(
                session=s,
                idle_expires_at=self._policy.idle_deadline(s),
                current=s.id == current.session.id,
            )
            for s in sorted(stored, key=lambda s: s.created_at, reverse=True)
            if not self._policy.is_expired(s, now)
        ]
