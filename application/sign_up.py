from application.throttle import Throttle
from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import Throttled, UsernameTaken
from domain.ports import AuditLog, Clock, PasswordHasher, TokenGenerator, UserRepository
from domain.throttle import address_group
from domain.user import PasswordPolicy, User, Username


class SignUp:
    """Create an account.

    - The username must satisfy the input rules; uniqueness compares its canonical form.
    - The password must satisfy the password policy; only its argon2 hash is stored.
    - Sign-ups are limited per client address; every attempt that passes the input rules and gets
      an answer counts, taken names included, so that 409s cannot be used to enumerate usernames
      at speed. The attempt is reserved before the work, so the limit holds however many
      sign-ups arrive at once; one that gets no answer (a full hashing queue) is given back.
    - A taken username is refused before any hashing work; a concurrent duplicate that slips past
      that check is still refused by the store (UsernameTaken, never a second account).
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        hasher: PasswordHasher,
        clock: Clock,
        ids: TokenGenerator,
        policy: PasswordPolicy,
        throttle: Throttle,
        audit: AuditLog,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._clock = clock
        self._ids = ids
        self._policy = policy
        self._throttle = throttle
        self._audit = audit

    async def execute(self, *, username: str, password: str, client: Client = Client()) -> User:
        name = Username.parse(username)
        normalized = self._policy.check(password)
        limits = self._throttle.policy.signup_limits(client.address)
        try:
            reservation = await self._throttle.reserve(limits)
        except Throttled:
            self._audit.record(AuditEvent.THROTTLED, action="signup", client=client)
            raise
        try:
            if await self._users.get_by_username(name.canonical) is not None:
                raise UsernameTaken()
            user = User(
                id=self._ids.public_id(),
                username=name,
                password_hash=await self._hasher.hash(
                    normalized, owner=address_group(client.address)
                ),
                created_at=self._clock.now(),
            )
            await self._users.add(user)
        except UsernameTaken:
            raise  # an answer: it keeps its reservation, so 409s count
        except BaseException:
            await (
                reservation.cancel()
            )  # no answer (a full hashing queue, a store error): not counted
            raise
        self._audit.record(AuditEvent.SIGNUP, user_id=user.id, client=client)
        return user
