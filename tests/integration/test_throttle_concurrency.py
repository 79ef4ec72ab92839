"""Throttle limits under concurrency, on both stores and across two instances sharing Postgres.

The spec: with a limit of N, at most N attempts of one window receive a verdict on the password
(a 401, a 403 at /password, or a success), however many arrive at once; the others get 429.
The hasher is the real argon2 adapter at its lowest cost: it yields to the event loop while it
hashes, which is what let every attempt already in flight slip past a check-then-count."""

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from adapters.argon2_hasher import Argon2PasswordHasher
from adapters.memory import InMemoryStore
from adapters.postgres import PostgresStore
from domain.client import Client
from domain.errors import InvalidCredentials, Throttled
from tests.fakes import FakeClock
from tests.postgres_provider import truncate_all
from tests.wiring import Wired, throttle_limits

PASSWORD = "correct horse battery staple"
ATTACKER = Client(address="203.0.113.66")
CHEAP_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


class Instance:
    """The use-cases of one service instance over `store`, with the real (cheap) argon2 hasher."""

    def __init__(
        self, store, clock: FakeClock, hasher: Argon2PasswordHasher | None = None, **limits: int
    ) -> None:
        self.store = store
        self.hasher = hasher or Argon2PasswordHasher(
            **CHEAP_ARGON2, concurrency=2, queue_size=200, queue_timeout=60
        )
        use_cases = Wired(
            store, clock=clock, hasher=self.hasher, throttle_policy=throttle_limits(**limits)
        ).use_cases
        self.sign_up = use_cases.sign_up
        self.login = use_cases.login
        self.resolve = use_cases.resolve_session
        self.change = use_cases.change_password


@pytest.fixture(params=["memory", "postgres"])
async def stores(request):
    """Two instances' stores: on Postgres two pools on one database (two instances); in memory
    the one store both use (one process)."""
    if request.param == "memory":
        store = InMemoryStore()
        yield store, store
        return
    url = request.getfixturevalue("migrated_database_url")
    await truncate_all(url)
    pair = (PostgresStore(url, max_size=30), PostgresStore(url, max_size=30))
    for store in pair:
        await store.open()
    yield pair
    for store in pair:
        await store.close()


def instances(stores, **limits: int) -> tuple[Instance, Instance]:
    clock = FakeClock()
    first, second = (Instance(store, clock, **limits) for store in stores)
    return first, second


def tally(results) -> Counter:
    return Counter(type(r).__name__ if isinstance(r, BaseException) else "success" for r in results)


async def test_concurrent_wrong_logins_get_at_most_the_limit_of_verdicts(stores):
    one, _ = instances(stores, login_per_address=3)
    await one.sign_up.execute(username="alice", password=PASSWORD)
    attempts = [
        one.login.execute(username="alice", password="wrong password", client=ATTACKER)
        for _ in range(20)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert tally(results) == {"InvalidCredentials": 3, "Throttled": 17}


async def test_concurrent_wrong_logins_at_two_instances_share_one_limit(stores):
    instances_ = instances(stores, login_per_address=3, login_per_account=5)
    await instances_[0].sign_up.execute(username="alice", password=PASSWORD)
    attempts = [
        instances_[i % 2].login.execute(
            username="alice", password="wrong password", client=ATTACKER
        )
        for i in range(20)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert tally(results) == {"InvalidCredentials": 3, "Throttled": 17}


async def test_concurrent_logins_from_many_addresses_get_at_most_the_account_limit(stores):
    instances_ = instances(stores, login_per_address=3, login_per_account=5)
    await instances_[0].sign_up.execute(username="alice", password=PASSWORD)
    attempts = [
        instances_[i % 2].login.execute(
            username="alice", password="wrong password", client=Client(address=f"198.51.100.{i}")
        )
        for i in range(20)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert tally(results) == {"InvalidCredentials": 5, "Throttled": 15}


async def test_concurrent_sign_ups_from_one_address_create_at_most_the_limit(stores):
    instances_ = instances(stores, signup_per_address=3)
    attempts = [
        instances_[i % 2].sign_up.execute(username=f"user{i}", password=PASSWORD, client=ATTACKER)
        for i in range(12)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert tally(results) == {"success": 3, "Throttled": 9}


async def test_concurrent_wrong_current_passwords_get_at_most_the_limit_of_403s(stores):
    instances_ = instances(stores, login_per_address=3)
    await instances_[0].sign_up.execute(username="alice", password=PASSWORD)
    token = (
        await instances_[0].login.execute(username="alice", password=PASSWORD, client=ATTACKER)
    ).token
    current = await instances_[0].resolve.execute(token=token)
    attempts = [
        instances_[i % 2].change.execute(
            current=current,
            current_password="wrong password",
            new_password="a brand new passphrase",
            client=ATTACKER,
        )
        for i in range(20)
    ]
    results = await asyncio.gather(*attempts, return_exceptions=True)
    assert tally(results) == {"WrongPassword": 3, "Throttled": 17}


async def test_an_address_flooding_unknown_user_logins_cannot_starve_another_address():
    # One hashing thread and three waiting places: without a share per address, the flood's
    # first four dummy verifies fill the queue and the owner's login, arriving next, is refused.
    hasher = Argon2PasswordHasher(
        time_cost=1, memory_cost=1024, parallelism=1, concurrency=1, queue_size=3, queue_timeout=60
    )
    service = Instance(InMemoryStore(), FakeClock(), hasher=hasher)
    await service.sign_up.execute(username="alice", password=PASSWORD)
    flood = [
        service.login.execute(username=f"nobody{i}", password="wrong password", client=ATTACKER)
        for i in range(30)
    ]
    owner = service.login.execute(
        username="alice", password=PASSWORD, client=Client(address="192.0.2.1")
    )
    *flooded, owners = await asyncio.gather(*flood, owner, return_exceptions=True)
    assert not isinstance(owners, BaseException), owners
    assert tally(flooded)["HashingOverloaded"] > 0  # the flood did fill what it may take
    assert set(tally(flooded)) == {"InvalidCredentials", "HashingOverloaded"}
    hasher.close()


# What one address can make the counters hold (issue 16, item 3). `purge` far in the future
# forgets every window and says how many there were: the keys (or rows) the store held.

FOREVER = timedelta(days=365)


async def keys_held(store) -> int:
    return await store.attempts.purge(FakeClock().now() + FOREVER)


async def test_unusable_usernames_mint_no_counters(stores):
    one, two = instances(stores, login_per_address=3, login_per_account=50)
    for i in range(200):
        with pytest.raises((InvalidCredentials, Throttled)):
            await (one, two)[i % 2].login.execute(
                username=f"no body {i}", password="wrong password", client=ATTACKER
            )
    assert await keys_held(stores[0]) == 1  # one for every unusable name from that address


async def test_an_over_long_password_mints_no_counter_for_the_name(stores):
    one, _ = instances(stores, login_per_address=3, login_per_account=50)
    for i in range(50):
        with pytest.raises((InvalidCredentials, Throttled)):
            await one.login.execute(username=f"someone{i}", password="x" * 1100, client=ATTACKER)
    assert await keys_held(stores[0]) == 1


async def test_unusable_usernames_share_the_failures_of_their_address(stores):
    one, _ = instances(stores, login_per_address=3, failures_per_address=1000)
    for i in range(200):
        with pytest.raises((InvalidCredentials, Throttled)):
            await one.login.execute(
                username=f"no body {i}", password="wrong password", client=ATTACKER
            )
    assert await keys_held(stores[0]) == 2  # the address's failures, and its unusable names'


async def test_refused_attempts_mint_no_counters(stores):
    one, two = instances(stores, login_per_address=3, login_per_account=50, failures_per_address=10)
    for i in range(100):
        with pytest.raises((InvalidCredentials, Throttled)):
            await (one, two)[i % 2].login.execute(
                username=f"victim{i}", password="wrong password", client=ATTACKER
            )
    # the address's failures counter, and a per-(account, address) and a per-account counter for
    # each of the 10 names tried before the address was refused
    assert await keys_held(stores[0]) == 1 + 2 * 10


async def test_attempts_refused_by_the_hashing_share_mint_no_counters(stores):
    # Refused at once for want of a hashing place, the attempt gives its reservations back;
    # the windows it opened go with them, or a flood past the share would mint rows for free.
    hasher = Argon2PasswordHasher(
        time_cost=1, memory_cost=1024, parallelism=1, concurrency=1, queue_size=0, queue_timeout=60
    )
    one = Instance(
        stores[0],
        FakeClock(),
        hasher=hasher,
        login_per_address=3,
        login_per_account=50,
        failures_per_address=100,
    )
    flood = [
        one.login.execute(username=f"victim{i}", password="wrong password", client=ATTACKER)
        for i in range(30)
    ]
    outcomes = tally(await asyncio.gather(*flood, return_exceptions=True))
    assert set(outcomes) == {"InvalidCredentials", "HashingOverloaded"}
    # the address's failures, and two for each name that got a verdict; none for the others
    assert await keys_held(stores[0]) == 1 + 2 * outcomes["InvalidCredentials"]
    hasher.close()


async def test_rotating_through_an_ipv6_64_mints_no_counters(stores):
    one, _ = instances(stores, login_per_address=3, failures_per_address=1000)
    for i in range(200):
        with pytest.raises((InvalidCredentials, Throttled)):
            await one.login.execute(
                username=f"no body {i}",
                password="wrong password",
                client=Client(address=f"2001:db8::{i:x}"),
            )
    assert await keys_held(stores[0]) == 2  # the /64's failures, and its unusable names'
