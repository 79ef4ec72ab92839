from domain.ports import Clock, SessionRepository
from domain.session import SessionPolicy


class PurgeExpiredSessions:
    """Delete sessions past either deadline (they are refused anyway; this reclaims the space).
    Returns how many were deleted."""

    def __init__(self, sessions: SessionRepository, clock: Clock, policy: SessionPolicy) -> None:
        self._sessions = sessions
        self._clock = clock
        self._policy = policy

    async def execute(self) -> int:
        return await self._sessions.purge_expired(self._clock.now(), self._policy.idle_timeout)
