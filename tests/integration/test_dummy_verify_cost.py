"""An unknown user costs what a stored user costs, also while stored hashes have several argon2
costs (after a change of ARGON2_*, until every user has logged in again). Shown without timing
anything: argon2's own parameters of each hash a login verifies against, on both stores."""

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime

import argon2
import pytest
from dependency_injector import providers

from adapters.argon2_hasher import Argon2PasswordHasher
from domain.client import Client
from domain.errors import InvalidCredentials
from domain.user import User, Username
from entrypoints.container import build_container
from entrypoints.lifecycle import running
from entrypoints.settings import load_settings
from tests.fakes import FastPasswordHasher
from tests.postgres_provider import truncate_all

OLD = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
NEW = {"time_cost": 2, "memory_cost": 16, "parallelism": 1}
PASSWORD = "correct horse battery staple"


def cost(parameters: dict) -> tuple[int, int]:
    return parameters["time_cost"], parameters["memory_cost"]


@pytest.fixture
def verified(monkeypatch) -> list[tuple[int, int]]:
    """The (time cost, memory cost) of every hash argon2 verifies a password against."""
    seen: list[tuple[int, int]] = []
    original = argon2.PasswordHasher.verify

    def verify(self, password_hash, password):
        parameters = argon2.extract_parameters(password_hash)
        seen.append((parameters.time_cost, parameters.memory_cost))
        return original(self, password_hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", verify)
    return seen


@pytest.fixture(params=["memory", "postgres"])
async def container(request):
    url = None
    if request.param == "postgres":
        url = request.getfixturevalue("migrated_database_url")
        await truncate_all(url)
    settings = load_settings(
        database_url=url,
        argon2_time_cost=NEW["time_cost"],
        argon2_memory_cost=NEW["memory_cost"],
        argon2_parallelism=NEW["parallelism"],
        purge_interval=0,
    )
    container = build_container(settings)
    # Opened by hand, not with `running`: its own calibration at start could finish after the
    # test's and put back the picture from before the test added its users.
    store = container.store()
    await store.open()
    yield container
    await store.close()
    container.hasher().close()


async def add_users(container, prefix: str, how_many: int, parameters: dict) -> None:
    hasher = Argon2PasswordHasher(**parameters)
    try:
        for i in range(how_many):
            await container.store().users.add(
                User(
                    id=str(uuid.uuid4()),
                    username=Username.parse(f"{prefix}{i}"),
                    password_hash=await hasher.hash(PASSWORD),
                    created_at=datetime.now(UTC),
                )
            )
    finally:
        hasher.close()


async def failed_login(container, username: str, attempt: int) -> None:
    # A fresh client address each time: only the argon2 work is under test, not the throttle.
    client = Client(address=f"198.51.100.{attempt % 250}", user_agent="test")
    with pytest.raises(InvalidCredentials):
        await container.login().execute(
            username=username, password="a wrong password", client=client
        )


async def test_unknown_users_cost_what_stored_users_cost_in_proportion_and_name_by_name(
    container, verified
):
    await add_users(container, "old", 1, OLD)
    await add_users(container, "new", 3, NEW)
    await container.calibrate_dummy_verify().execute()

    await failed_login(container, "old0", 0)
    await failed_login(container, "new0", 1)
    assert verified == [cost(OLD), cost(NEW)]  # stored users verify at their own hash's cost

    verified.clear()
    names = [f"nobody{i}" for i in range(200)]
    for attempt, name in enumerate(names):
        await failed_login(container, name, attempt)
    first = dict(zip(names, verified, strict=True))  # one verify per attempt
    assert set(first.values()) == {cost(OLD), cost(NEW)}
    # 1 stored user in 4 has the old cost: about a quarter of unknown names cost that (the bounds
    # are 5 standard deviations and more from the expected 50 of 200).
    assert 20 <= Counter(first.values())[cost(OLD)] <= 90

    # A real user costs the same on every attempt; so does an unknown name.
    verified.clear()
    for attempt, name in enumerate(names):
        await failed_login(container, name, attempt)
    assert dict(zip(names, verified, strict=True)) == first


async def test_with_every_stored_hash_at_the_current_cost_unknown_users_cost_that(
    container, verified
):
    await add_users(container, "new", 2, NEW)
    await container.calibrate_dummy_verify().execute()
    for attempt in range(20):
        await failed_login(container, f"nobody{attempt}", attempt)
    assert set(verified) == {cost(NEW)}


async def test_a_running_service_looks_at_the_stored_costs_at_start_without_being_asked():
    container = build_container(load_settings(database_url=None, purge_interval=0))
    hasher = FastPasswordHasher()
    container.hasher.override(providers.Object(hasher))
    await add_users(container, "old", 2, OLD)
    await add_users(container, "new", 1, NEW)
    async with running(container):
        for _ in range(600):  # a bound so that a mistake fails instead of hanging
            if hasher.calibrated is not None:
                break
            await asyncio.sleep(0.01)
    assert hasher.calibrated == {"$argon2id$v=19$m=8,t=1,p=1": 2, "$argon2id$v=19$m=16,t=2,p=1": 1}
