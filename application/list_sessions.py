from dataclasses import dataclass
from datetime import datetime

from application.resolve_session import Authenticated
from domain.ports import Clock, SessionRepository, UserAgents
from domain.session import Session, SessionPolicy


@dataclass(frozen=True, slots=True)
class SessionSummary:
    session: Session
    idle_expires_at: datetime
    current: bool
    device: str  # the browser and system, "Chrome 156 on Linux", for people to read


class ListSessions:
    """The caller's active sessions, newest first.

    - Sessions past either deadline are left out even before they are purged.
    - The session making the request is marked as current.
    - Each names its device from the stored User-Agent header (UserAgents), beside the header.
    """

    def __init__(
        self,
        *,
        sessions: SessionRepository,
        clock: Clock,
        policy: SessionPolicy,
        user_agents: UserAgents,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._policy = policy
        self._user_agents = user_agents

    async def execute(self, *, current: Authenticated) -> list[SessionSummary]:
        now = self._clock.now()
        stored = await self._sessions.list_for_user(current.user.id)
        return [
            SessionSummary(
                session=s,
                idle_expires_at=self._policy.idle_deadline(s),
                current=s.id == current.session.id,
                device=self._user_agents.describe(s.user_agent),
            )
            for s in sorted(stored, key=lambda s: s.created_at, reverse=True)
            if not self._policy.is_expired(s, now)
        ]
