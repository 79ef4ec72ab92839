from datetime import timedelta

import pytest

from adapters.memory import InMemoryStore
from adapters.system import SecretsTokenGenerator
from application import (
    ChangePassword,
    ListSessions,
    Login,
    Logout,
    PurgeExpiredSessions,
    ResolveSession,
    RevokeOtherSessions,
    RevokeSession,
    RevokeUserSessions,
    SignUp,
    Throttle,
)
from domain.device import DeviceCookies
from domain.session import SessionPolicy
from domain.throttle import ThrottlePolicy
from domain.user import PasswordPolicy
from tests.constants import ABSOLUTE, IDLE
from tests.fakes import FakeClock, FastPasswordHasher, RecordingAuditLog


class World:
    """The use-cases wired to in-memory adapters, a fake clock and a fast hasher."""

    def __init__(self, **throttle: int) -> None:
        self.store = InMemoryStore()
        self.clock = FakeClock()
        self.hasher = FastPasswordHasher()
        self.tokens = SecretsTokenGenerator()
        self.audit = RecordingAuditLog()
        self.policy = SessionPolicy.from_seconds(IDLE, ABSOLUTE)
        limits = {
            "login_per_address": 0,
            "login_per_account": 0,
            "login_per_device": 0,
            "signup_per_address": 0,
        }
        self.throttle_policy = ThrottlePolicy(
            window=timedelta(minutes=15), **{**limits, **throttle}
        )
        self.throttle = Throttle(self.store.attempts, self.clock, self.throttle_policy)
        self.devices = DeviceCookies(self.store, timedelta(days=30))
        users, sessions = self.store.users, self.store.sessions
        self.sign_up = SignUp(
            users, self.hasher, self.clock, self.tokens, PasswordPolicy(), self.throttle, self.audit
        )
        self.login = Login(
            users,
            sessions,
            self.hasher,
            self.clock,
            self.tokens,
            self.policy,
            self.throttle,
            self.devices,
            self.audit,
        )
        self.resolve = ResolveSession(sessions, self.clock, self.policy)
        self.logout = Logout(sessions, self.audit)
        self.list_sessions = ListSessions(sessions, self.clock, self.policy)
        self.revoke_session = RevokeSession(sessions, self.list_sessions, self.audit)
        self.revoke_others = RevokeOtherSessions(sessions, self.list_sessions, self.audit)
        self.change_password = ChangePassword(
            users,
            self.hasher,
            self.clock,
            self.tokens,
            PasswordPolicy(),
            self.throttle,
            self.devices,
            self.audit,
        )
        self.revoke_user_sessions = RevokeUserSessions(users, sessions, self.audit)
        self.purge = PurgeExpiredSessions(sessions, self.store.attempts, self.clock, self.policy)


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def make_world() -> type[World]:
    """World itself, for tests that set throttle limits (World(login_per_address=3)): test
    modules take it from here rather than importing this conftest."""
    return World
