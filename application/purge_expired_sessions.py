from domain.ports import AccountTokenRepository, AttemptCounter, Clock, SessionRepository
from domain.session import SessionPolicy


class PurgeExpiredSessions:
    """Delete sessions past either deadline, throttle windows that have closed and expired
    account tokens (links in mail): all are refused or ignored anyway, this reclaims the space.
    Returns how many sessions were deleted."""

    def __init__(
        self,
        *,
        sessions: SessionRepository,
        attempts: AttemptCounter,
        tokens: AccountTokenRepository,
        clock: Clock,
        policy: SessionPolicy,
    ) -> None:
        self._sessions = sessions
        self._attempts = attempts
        self._tokens = tokens
        self._clock = clock
        self._policy = policy

    async def execute(self) -> int:
        now = self._clock.now()
        await self._attempts.purge(now)
        await self._tokens.purge_expired(now)
        return await self._sessions.purge_expired(now, self._policy.idle_timeout)
