from dataclasses import dataclass, field

from domain.errors import InvalidCredentials, PolicyViolation
from domain.ports import Clock, PasswordHasher, SessionRepository, TokenGenerator, UserRepository
from domain.session import Session, SessionPolicy, hash_token, is_well_formed_token
from domain.user import PASSWORD_MAX, User, Username, normalize_password


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User
    session: Session
    token: str = field(repr=False)


class Login:
    """Check credentials and open a new session.

    - Unknown user, wrong password, a username that breaks the input rules and an over-long
      password all fail alike with InvalidCredentials; the last two without hashing.
    - An unknown user costs a dummy verify, so timing does not reveal which usernames exist.
    - Every login issues a new token; a token the client presented is revoked, never reused
      (no session fixation).
    - The session's absolute deadline is fixed now; no database work happens while hashing.
    """

    def __init__(
        self,
        users: UserRepository,
        sessions: SessionRepository,
        hasher: PasswordHasher,
        clock: Clock,
        tokens: TokenGenerator,
        policy: SessionPolicy,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._hasher = hasher
        self._clock = clock
        self._tokens = tokens
        self._policy = policy

    async def execute(
        self,
        *,
        username: str,
        password: str,
        presented_token: str | None = None,
        user_agent: str | None = None,
        ip: str | None = None,
    ) -> LoginResult:
        password = normalize_password(password)
        try:
            name = Username.parse(username)
        except PolicyViolation:
            raise InvalidCredentials() from None
        if len(password) > PASSWORD_MAX:
            raise InvalidCredentials()
        user = await self._users.get_by_username(name.canonical)
        if user is None:
            await self._hasher.verify_dummy(password)
            raise InvalidCredentials()
        if not await self._hasher.verify(user.password_hash, password):
            raise InvalidCredentials()

        if presented_token is not None and is_well_formed_token(presented_token):
            await self._sessions.revoke(hash_token(presented_token))
        token = self._tokens.session_token()
        now = self._clock.now()
        session = Session(
            id=self._tokens.public_id(),
            user_id=user.id,
            token_hash=hash_token(token),
            created_at=now,
            last_seen_at=now,
            expires_at=self._policy.absolute_deadline(now),
            user_agent=user_agent,
            ip=ip,
        )
        await self._sessions.add(session)
        return LoginResult(user=user, session=session, token=token)
