"""Races on real Postgres, through the use-cases: what concurrent requests must never produce."""

import asyncio
from datetime import timedelta

import pytest

from adapters.postgres import PostgresStore
from domain.client import Client
from domain.errors import InvalidCredentials, NotAuthenticated
from tests.postgres_provider import truncate_all
from tests.wiring import Wired, throttle_limits

OLD, NEW = "the old passphrase", "the new passphrase"


class Service:
    def __init__(self, store: PostgresStore, per_account: int = 0) -> None:
        wired = Wired(store, throttle_policy=throttle_limits(login_per_account=per_account))
        self.store = store
        self.clock = wired.clock
        use_cases = wired.use_cases
        self.sign_up = use_cases.sign_up
        self.login = use_cases.login
        self.resolve = use_cases.resolve_session
        self.logout = use_cases.logout
        self.change = use_cases.change_password


@pytest.fixture(params=[True, False], ids=["cache", "no-cache"])
async def service(request, migrated_database_url):
    await truncate_all(migrated_database_url)
    store = PostgresStore(
        migrated_database_url,
        max_size=30,
        session_cache_for=timedelta(minutes=1) if request.param else None,
    )
    await store.open()
    if request.param:
        await asyncio.wait_for(store._listener.connected.wait(), 10)
    yield Service(store)
    await store.close()


async def test_concurrent_logins_of_one_user_make_distinct_sessions(service):
    await service.sign_up.execute(username="many", password=OLD)
    results = await asyncio.gather(
        *(service.login.execute(username="many", password=OLD) for _ in range(20))
    )
    assert len({r.token for r in results}) == len({r.session.id for r in results}) == 20
    for result in results:
        assert (await service.resolve.execute(token=result.token)).session.id == result.session.id


async def test_a_logout_racing_a_request_leaves_the_session_dead(service):
    await service.sign_up.execute(username="racer", password=OLD)
    for _ in range(25):
        token = (await service.login.execute(username="racer", password=OLD)).token
        current = await service.resolve.execute(token=token)
        await asyncio.gather(
            service.logout.execute(current=current),
            service.resolve.execute(token=token),
            return_exceptions=True,
        )
        with pytest.raises(NotAuthenticated):
            await service.resolve.execute(token=token)


async def test_a_login_with_the_old_password_never_outlives_a_password_change(service):
    await service.sign_up.execute(username="changer", password=OLD)
    password = OLD
    for round_ in range(20):
        current = await service.resolve.execute(
            token=(await service.login.execute(username="changer", password=password)).token
        )
        new = f"{NEW} {round_}"
        changed, racing = await asyncio.gather(
            service.change.execute(current=current, current_password=password, new_password=new),
            service.login.execute(username="changer", password=password),
            return_exceptions=True,
        )
        assert isinstance(changed, str), changed
        if not isinstance(racing, InvalidCredentials):
            # it logged in with the old password before the change: the change must have ended it
            with pytest.raises(NotAuthenticated):
                await service.resolve.execute(token=racing.token)
        assert (await service.resolve.execute(token=changed)).user.username.canonical == "changer"
        password = new


async def test_concurrent_failures_are_all_counted(migrated_database_url):
    await truncate_all(migrated_database_url)
    store = PostgresStore(migrated_database_url, max_size=30)
    await store.open()
    try:
        service = Service(store, per_account=1000)
        await service.sign_up.execute(username="target", password=OLD)
        attempts = [
            service.login.execute(
                username="target", password="wrong guess", client=Client(address=f"203.0.113.{i}")
            )
            for i in range(40)
        ]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        assert all(isinstance(r, InvalidCredentials) for r in results)
        counts = await store.attempts.get(["login:account:target"], service.clock.now())
        assert counts["login:account:target"].value == 40
    finally:
        await store.close()
