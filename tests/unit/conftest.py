import pytest

from adapters.memory import InMemoryStore
from tests.wiring import Wired, throttle_limits


class World:
    """The use-cases wired to in-memory adapters, a fake clock and a fast hasher."""

    def __init__(self, **throttle: int) -> None:
        wired = Wired(InMemoryStore(), throttle_policy=throttle_limits(**throttle))
        self.store = wired.store
        self.clock = wired.clock
        self.hasher = wired.hasher
        self.tokens = wired.tokens
        self.audit = wired.audit
        self.policy = wired.session_policy
        self.throttle_policy = wired.throttle_policy
        self.devices = wired.devices
        self.use_cases = wired.use_cases
        self.throttle = self.use_cases.throttle
        self.sign_up = self.use_cases.sign_up
        self.login = self.use_cases.login
        self.resolve = self.use_cases.resolve_session
        self.logout = self.use_cases.logout
        self.list_sessions = self.use_cases.list_sessions
        self.revoke_session = self.use_cases.revoke_session
        self.revoke_others = self.use_cases.revoke_other_sessions
        self.change_password = self.use_cases.change_password
        self.revoke_user_sessions = self.use_cases.revoke_user_sessions
        self.purge = self.use_cases.purge_expired_sessions


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def make_world() -> type[World]:
    """World itself, for tests that set throttle limits (World(login_per_address=3)): test
    modules take it from here rather than importing this conftest."""
    return World
