from domain.errors import PolicyViolation, UnknownUser
from domain.ports import UserRepository
from domain.user import User, Username


async def user_named(users: UserRepository, username: str) -> User:
    """The user an operator names (on the command line): compared in the canonical form, so
    `ALICE` names `alice`; a name that breaks the input rules names nobody (UnknownUser)."""
    try:
        canonical = Username.parse(username).canonical
    except PolicyViolation:
        raise UnknownUser() from None
    user = await users.get_by_username(canonical)
    if user is None:
        raise UnknownUser()
    return user
