from domain.errors import UsernameTaken
from domain.ports import Clock, PasswordHasher, TokenGenerator, UserRepository
from domain.user import PasswordPolicy, User, Username


class SignUp:
    """Create an account.

    - The username must satisfy the input rules; uniqueness compares its canonical form.
    - The password must satisfy the password policy; only its argon2 hash is stored.
    - A taken username is refused before any hashing work; a concurrent duplicate that slips past
      that check is still refused by the store (UsernameTaken, never a second account).
    """

    def __init__(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        clock: Clock,
        ids: TokenGenerator,
        policy: PasswordPolicy,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._clock = clock
        self._ids = ids
        self._policy = policy

    async def execute(self, *, username: str, password: str) -> User:
        name = Username.parse(username)
        normalized = self._policy.check(password)
        if await self._users.get_by_username(name.canonical) is not None:
            raise UsernameTaken()
        user = User(
            id=self._ids.public_id(),
            username=name,
            password_hash=await self._hasher.hash(normalized),
            created_at=self._clock.now(),
        )
        await self._users.add(user)
        return user
