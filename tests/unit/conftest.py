import pytest

from adapters.memory import InMemoryStore
from adapters.system import SecretsTokenGenerator
from application import Login, Logout, ResolveSession, SignUp
from domain.session import SessionPolicy
from domain.user import PasswordPolicy
from tests.fakes import FakeClock, FastPasswordHasher

IDLE, ABSOLUTE = 600, 3600
PASSWORD = "correct horse battery staple"


class World:
    """The use-cases wired to in-memory adapters, a fake clock and a fast hasher."""

    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.clock = FakeClock()
        self.hasher = FastPasswordHasher()
        self.tokens = SecretsTokenGenerator()
        self.policy = SessionPolicy.from_seconds(IDLE, ABSOLUTE)
        self.sign_up = SignUp(self.store.users, self.hasher, self.clock, self.tokens, PasswordPolicy())
        self.login = Login(
            self.store.users, self.store.sessions, self.hasher, self.clock, self.tokens, self.policy
        )
        self.resolve = ResolveSession(self.store.sessions, self.clock, self.policy)
        self.logout = Logout(self.store.sessions)


@pytest.fixture
def world() -> World:
    return World()
