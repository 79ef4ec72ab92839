"""The argon2id adapter: real hashes, off the event loop, shedding load instead of queueing forever."""

import asyncio
import os
import threading

import pytest

from adapters.argon2_hasher import Argon2PasswordHasher
from domain.errors import HashingOverloaded

CHEAP = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


async def test_hashes_are_argon2id_with_the_configured_cost_and_verify():
    hasher = Argon2PasswordHasher(time_cost=2, memory_cost=1024, parallelism=2)
    digest = await hasher.hash("correct horse battery staple")
    assert digest.startswith("$argon2id$v=19$m=1024,t=2,p=2$")
    assert await hasher.verify(digest, "correct horse battery staple")
    assert not await hasher.verify(digest, "wrong")
    assert not await hasher.verify("not a hash", "wrong")
    await hasher.verify_dummy("anything")
    hasher.close()


async def test_a_closed_hasher_starts_a_new_pool_on_the_next_hash():
    # An app whose lifespan runs twice closes the hasher at the end of the first run.
    hasher = Argon2PasswordHasher(**CHEAP)
    digest = await hasher.hash("correct horse battery staple")
    hasher.close()
    assert await hasher.verify(digest, "correct horse battery staple")
    await hasher.verify_dummy("anything")
    hasher.close()
    hasher.close()


async def test_the_same_password_hashes_differently_each_time():
    hasher = Argon2PasswordHasher(**CHEAP)
    assert await hasher.hash("same password!") != await hasher.hash("same password!")
    hasher.close()


async def test_hashing_never_blocks_the_event_loop():
    # About 50 ms per hash here: long enough that a blocked loop would miss many ticks.
    hasher = Argon2PasswordHasher(time_cost=3, memory_cost=32 * 1024, parallelism=1, concurrency=1)
    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(3):
        await hasher.hash("a password to hash")
    elapsed = loop.time() - started
    stop.set()
    await task
    hasher.close()
    # The loop kept running during hashing: it ticked at least a few times per hash.
    assert ticks >= 3 * 3, (ticks, elapsed)


class Gate:
    """A hash function stand-in that blocks its pool thread until released."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args):
        self.entered.set()
        assert self.release.wait(30)
        return "done"


async def test_a_full_queue_is_refused_at_once():
    hasher = Argon2PasswordHasher(**CHEAP, concurrency=1, queue_size=1, queue_timeout=30)
    gate = Gate()
    busy = asyncio.ensure_future(hasher._run(gate))
    queued = asyncio.ensure_future(hasher._run(gate))
    await asyncio.sleep(0)
    assert await asyncio.to_thread(gate.entered.wait, 10)
    with pytest.raises(HashingOverloaded):
        await asyncio.wait_for(hasher.hash("one too many"), 10)
    assert hasher.refusals == {"queue_full": 1, "address_share": 0, "deadline": 0}
    gate.release.set()
    assert await busy == await queued == "done"
    assert hasher.in_flight == 0
    await hasher.hash("room again")
    hasher.close()


async def test_past_the_deadline_both_a_running_and_a_queued_hash_are_refused():
    hasher = Argon2PasswordHasher(**CHEAP, concurrency=1, queue_size=4, queue_timeout=0.2)
    gate = Gate()
    running = asyncio.ensure_future(hasher._run(gate))
    assert await asyncio.to_thread(gate.entered.wait, 10)
    queued = asyncio.ensure_future(hasher.hash("waits in the queue"))
    for late in (running, queued):
        with pytest.raises(HashingOverloaded):
            await asyncio.wait_for(late, 10)
    assert hasher.refusals == {"queue_full": 0, "address_share": 0, "deadline": 2}
    # the thread is still busy: its slot and the queued one stay taken until the work is done
    assert hasher.in_flight == 2
    gate.release.set()
    for _ in range(1000):
        if hasher.in_flight == 0:
            break
        await asyncio.sleep(0.01)
    assert hasher.in_flight == 0
    assert await hasher.hash("room again")
    hasher.close()


def test_the_capacity_is_the_threads_and_the_queue():
    hasher = Argon2PasswordHasher(**CHEAP, concurrency=3, queue_size=5)
    assert (hasher.concurrency, hasher.capacity) == (3, 8)
    assert hasher.refusals == {"queue_full": 0, "address_share": 0, "deadline": 0}
    hasher.close()


def test_hashing_threads_run_at_the_lowest_priority():
    hasher = Argon2PasswordHasher(**CHEAP)
    policy = hasher._executor.submit(lambda: os.sched_getscheduler(0)).result(10)
    hasher.close()
    assert policy == os.SCHED_IDLE


async def test_the_queue_depth_is_reported_at_each_change():
    depths: list[int] = []
    hasher = Argon2PasswordHasher(
        **CHEAP, concurrency=1, queue_size=2, queue_timeout=30, on_queue_change=depths.append
    )
    gate = Gate()
    admitted = [
        asyncio.ensure_future(hasher._run(gate)) for _ in range(3)
    ]  # one running, two waiting
    await asyncio.sleep(0)
    assert await asyncio.to_thread(gate.entered.wait, 10)
    with pytest.raises(HashingOverloaded):
        await hasher.hash("one too many")
    assert depths == [1, 2, 3]  # the refused one was never admitted
    gate.release.set()
    assert await asyncio.gather(*admitted) == ["done"] * 3
    for _ in range(1000):
        if hasher.in_flight == 0:
            break
        await asyncio.sleep(0.01)
    assert depths == [1, 2, 3, 2, 1, 0]
    hasher.close()


async def test_one_owner_holds_at_most_its_share_of_the_queue():
    hasher = Argon2PasswordHasher(
        time_cost=1, memory_cost=1024, parallelism=1, concurrency=1, queue_size=7, queue_timeout=60
    )
    # a quarter of concurrency + queue_size by default: 2 of 8
    flood = [hasher.verify_dummy("guess", owner="203.0.113.66") for _ in range(10)]
    others = [hasher.verify_dummy("guess", owner=f"198.51.100.{i}") for i in range(4)]
    anonymous = [hasher.verify_dummy("guess") for _ in range(2)]
    results = await asyncio.gather(*flood, *others, *anonymous, return_exceptions=True)
    assert [isinstance(r, HashingOverloaded) for r in results[:10]] == [False] * 2 + [True] * 8
    assert not any(isinstance(r, BaseException) for r in results[10:])
    assert hasher.refusals == {"queue_full": 0, "address_share": 8, "deadline": 0}
    assert hasher._admitted_by_owner == {} and hasher.in_flight == 0  # every slot given back
    again = await asyncio.gather(
        *(hasher.verify_dummy("guess", owner="203.0.113.66") for _ in range(2))
    )
    assert again == [None, None]
    hasher.close()


@pytest.mark.parametrize(("share", "admitted"), [(3, 3), (0, 8)])
async def test_the_share_per_owner_is_a_setting_and_zero_is_no_cap(share, admitted):
    hasher = Argon2PasswordHasher(
        **CHEAP, concurrency=1, queue_size=7, queue_timeout=60, per_owner=share
    )
    results = await asyncio.gather(
        *(hasher.verify_dummy("guess", owner="203.0.113.66") for _ in range(10)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, HashingOverloaded) for r in results) == admitted
    hasher.close()
