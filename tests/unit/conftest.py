from datetime import timedelta

import pytest

from adapters.memory import InMemoryStore
from adapters.system import SecretsTokenGenerator
from application import build_use_cases
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
        self.devices = DeviceCookies(self.store, timedelta(days=30))
        self.use_cases = build_use_cases(
            store=self.store,
            hasher=self.hasher,
            clock=self.clock,
            tokens=self.tokens,
            audit=self.audit,
            devices=self.devices,
            session_policy=self.policy,
            password_policy=PasswordPolicy(),
            throttle_policy=self.throttle_policy,
        )
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
