from domain.ports import (
    AccountTokenRepository,
    AttemptCounter,
    ChallengeRepository,
    Clock,
    SessionRepository,
)
from domain.session import SessionPolicy


class PurgeExpiredSessions:
    """Delete sessions past either deadline, throttle windows that have closed, expired
    account tokens (links in mail) and expired second-factor ceremonies (pending logins, passkey
    logins, registrations, re-auths): all are refused or ignored anyway, this reclaims the space.
    Returns how many sessions were deleted."""

    def __init__(
        self,
        *,
        sessions: SessionRepository,
        attempts: AttemptCounter,
        tokens: AccountTokenRepository,
        challenges: ChallengeRepository,
        clock: Clock,
        policy: SessionPolicy,
    ) -> None:
        self._sessions = sessions
        self._attempts = attempts
        self._tokens = tokens
        self._challenges = challenges
        self._clock = clock
        self._policy = policy

    async def execute(self) -> int:
        now = self._clock.now()
        await self._attempts.purge(now)
        await self._tokens.purge_expired(now)
        await self._challenges.purge_expired(now)
        return await self._sessions.purge_expired(now, self._policy.idle_timeout)
