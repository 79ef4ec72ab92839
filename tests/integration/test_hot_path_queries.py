"""The session check stays one statement on Postgres, whatever the account carries (an email
address, its verification, the disabled flag) and however the session was reached (its methods,
the assurance level): those columns travel in the same row."""

import secrets
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.postgres import PostgresStore
from application.resolve_session import ResolveSession
from domain.session import AuthMethod, SessionPolicy
from tests.fakes import FakeClock
from tests.postgres_provider import truncate_all
from tests.records import T0, a_session, a_user


class CountedStore:
    """Counts every way the repositories reach Postgres (the `Connections` protocol)."""

    def __init__(self, store: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        fetchrow, connection = store.fetchrow, store.connection

        def counted(method):
            def call(*args, **kwargs):
                self.calls += 1
                return method(*args, **kwargs)

            return call

        monkeypatch.setattr(store, "fetchrow", counted(fetchrow))
        monkeypatch.setattr(store, "connection", counted(connection))


@pytest.mark.parametrize(
    ("verified", "methods"),
    [(False, AuthMethod.PASSWORD), (True, AuthMethod.PASSWORD | AuthMethod.TOTP)],
)
async def test_resolving_a_session_is_one_statement_and_carries_the_account(
    migrated_database_url, monkeypatch, verified, methods
):
    await truncate_all(migrated_database_url)
    store = PostgresStore(migrated_database_url)  # no session cache: every check reaches Postgres
    await store.open()
    try:
        user = replace(a_user(), email="alice@example.com", email_verified=verified)
        await store.users.add(user)
        token = secrets.token_urlsafe(32)
        assert await store.sessions.add(
            a_session(user, token=token, methods=methods), password_hash=user.password_hash
        )
        policy = SessionPolicy.from_seconds(1800, 28800)
        clock = FakeClock(T0 + timedelta(seconds=1))  # within the touch interval: no write
        resolve = ResolveSession(sessions=store.sessions, clock=clock, policy=policy)
        counted = CountedStore(store, monkeypatch)

        current = await resolve.execute(token=token)

        assert counted.calls == 1
        assert current.user.email == "alice@example.com"
        assert current.user.email_verified is verified
        assert current.user.disabled is False
        assert current.session.methods == methods
        assert current.session.aal == methods.aal
    finally:
        await store.close()
