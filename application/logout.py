from domain.ports import SessionRepository
from domain.session import Session


class Logout:
    """End the caller's session.

    - Only the presented session ends; the user's other sessions stay.
    - Ending a session that a concurrent request already ended is not an error.
    """

    def __init__(self, sessions: SessionRepository) -> None:
        self._sessions = sessions

    async def execute(self, *, session: Session) -> None:
        await self._sessions.revoke(session.token_hash)
