from dataclasses import dataclass, replace

from domain.errors import NotAuthenticated, SessionExpired
from domain.ports import Clock, SessionRepository
from domain.session import Session, SessionPolicy, hash_token, is_well_formed_token
from domain.user import User


@dataclass(frozen=True, slots=True)
class Authenticated:
    user: User
    session: Session


class ResolveSession:
    """Turn a presented token into the user it authenticates. Runs on every authenticated request.

    - A malformed token is refused without touching the store.
    - A session past its idle or its absolute deadline is refused (SessionExpired).
    - A session of a disabled account is refused, should one exist (disabling ends them all).
    - A use slides the idle deadline, but the store is written only when the last use has moved by
      the policy's touch interval, so most requests cost one read and no write.
    """

    def __init__(self, *, sessions: SessionRepository, clock: Clock, policy: SessionPolicy) -> None:
        self._sessions = sessions
        self._clock = clock
        self._policy = policy

    async def execute(self, *, token: str) -> Authenticated:
        if not is_well_formed_token(token):
            raise NotAuthenticated()
        token_hash = hash_token(token)
        found = await self._sessions.get_with_user(token_hash)
        if found is None:
            raise NotAuthenticated()
        session, user = found
        if user.disabled:
            raise NotAuthenticated()
        now = self._clock.now()
        if self._policy.is_expired(session, now):
            raise SessionExpired()
        if self._policy.needs_touch(session, now):
            await self._sessions.touch(token_hash, now)
            session = replace(session, last_seen_at=now)
        return Authenticated(user=user, session=session)
