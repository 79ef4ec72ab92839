"""Password hashing with argon2id, off the event loop, with bounded concurrency and queue.

The dummy verify of an unknown user follows the costs of the stored hashes (calibrate_dummy),
not only the current parameters: after a change of ARGON2_*, users keep their old-cost hash until
they log in again, and a dummy at the new cost alone would tell an unknown user from each of
them. Simpler fixes leave a leak: a dummy at the old cost moves the leak to the re-hashed users; a
dummy chosen at random on each attempt makes an unknown name's cost vary from one attempt to the
next, where a real user's never does. So the choice is weighted by how many users have each cost,
and fixed per username.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import argon2
from argon2.exceptions import HashingError, InvalidHashError, VerificationError, VerifyMismatchError

from domain.errors import HashingOverloaded
from domain.ports import PasswordHasher

T = TypeVar("T")

# Why a hash was refused (HashingOverloaded): the queue was full, the owner's share of it was, or
# its answer was not ready in time.
QUEUE_FULL, OWNER_SHARE, DEADLINE = "queue_full", "address_share", "deadline"
REFUSAL_REASONS = (QUEUE_FULL, OWNER_SHARE, DEADLINE)


class Argon2PasswordHasher(PasswordHasher):
    """argon2id in a thread pool of `concurrency` threads running at the lowest CPU priority.

    - At most `concurrency + queue_size` hash operations are admitted at once; one more is refused
      at once with HashingOverloaded, and so is one whose answer is not ready `queue_timeout`
      seconds after it was admitted (still queued, or still hashing). Both turn into 503 with
      Retry-After: under a login storm clients get a quick answer instead of a time-out, and memory
      stays bounded by `concurrency` x the argon2 memory cost.
    - One owner (a client address, or an IPv6 /64) holds at most `per_owner` of the admitted hashes; one more for
      it is refused at once the same way, while other owners are still admitted. So an address
      that floods logins (unknown users cost a dummy verify each) fills its own share, not the
      queue, and cannot make everyone else's login answer 503. The default is a quarter of
      `concurrency + queue_size`, at least 1; 0 is no cap. Work for no known owner is not capped.
    - The threads run under Linux SCHED_IDLE (argon2's own lane threads inherit it), so hashing
      only uses CPU time that request handling leaves: a login storm cannot slow down the
      authenticated requests of everyone else.
    - An unknown user costs what a stored user costs (see `calibrate_dummy`), also while stored
      hashes have several costs after the argon2 parameters changed.
    """

    def __init__(
        self,
        *,
        time_cost: int = argon2.DEFAULT_TIME_COST,
        memory_cost: int = argon2.DEFAULT_MEMORY_COST,
        parallelism: int = argon2.DEFAULT_PARALLELISM,
        concurrency: int = 1,
        queue_size: int = 8,
        queue_timeout: float = 2.0,
        on_queue_change: Callable[[int], None] | None = None,
        per_owner: int | None = None,
    ) -> None:
        self._argon2 = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._concurrency = concurrency
        self._executor: ThreadPoolExecutor | None = self._new_pool()
        self._capacity = concurrency + queue_size
        self._admitted = 0
        # Refusals by reason since start: plain ints, which the metrics read when scraped.
        self.refusals = dict.fromkeys(REFUSAL_REASONS, 0)
        # None: the default share; 0: no share, any owner may take the whole capacity.
        self._per_owner = (
            max(1, self._capacity // 4) if per_owner is None else per_owner or self._capacity
        )
        # Only owners with hashes admitted now, so at most `capacity` entries.
        self._admitted_by_owner: dict[str, int] = {}
        self._queue_timeout = queue_timeout
        # Told the number of admitted hashes (running or waiting) at each change: the metrics'
        # queue-depth gauge, kept without this adapter knowing about Prometheus.
        self._queue_changed = on_queue_change or _ignore
        # Made once at start with the current parameters, so an unknown user costs a real verify;
        # made in the pool, so its thread (and that thread's allocator arena) exists from the start.
        self._dummy_hash = self._executor.submit(
            self._argon2.hash, secrets.token_urlsafe(24)
        ).result()
        # Filled by calibrate_dummy: a dummy per stored parameter set, and how to choose one.
        self._dummies: dict[str, str] = {}
        self._dummy_choice: tuple[tuple[float, ...], tuple[str, ...]] = ((), ())
        self._dummy_secret = b""

    @property
    def in_flight(self) -> int:
        return self._admitted

    @property
    def concurrency(self) -> int:
        """Hashes run at once (HASH_CONCURRENCY)."""
        return self._concurrency

    @property
    def capacity(self) -> int:
        """Hashes admitted at once, running or waiting (HASH_CONCURRENCY + HASH_QUEUE_SIZE)."""
        return self._capacity

    async def hash(self, password: str, *, owner: str | None = None) -> str:
        return await self._run(self._argon2.hash, password, owner=owner)

    async def verify(self, password_hash: str, password: str, *, owner: str | None = None) -> bool:
        return await self._run(self._verify, password_hash, password, owner=owner)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def verify_dummy(
        self, password: str, *, username: str = "", owner: str | None = None
    ) -> None:
        await self._run(self._verify, self._dummy_for(username), password, owner=owner)

    async def calibrate_dummy(self, stored: Mapping[str, int], secret: bytes) -> None:
        """Follow the costs of the stored hashes, so that timing cannot tell an unknown user
        from a stored user of either cost.

        - One dummy hash per argon2 parameter set in `stored` (the MAX_DUMMY_COSTS sets that the
          most users have), made here, off the request path, and kept while the set is stored.
        - An unknown username verifies against the dummy of one set, chosen with the sets'
          shares of users as weights: unknown users cost the stored costs in the stored
          proportions.
        - The choice is fixed per username, by an HMAC under `secret` (which every instance
          shares): a real user costs the same on every attempt and every instance, and an
          unknown name must too, or a few repeated attempts would tell it apart. Only the
          names near a boundary between two shares change their choice as the shares move, as
          real users change theirs when they log in and their hash is renewed.
        - Hashes of other formats are left out; with none usable, the dummy made at start (the
          current parameters) stays.
        """
        usable = [(p, n) for p, n in stored.items() if n > 0 and _ARGON2_PARAMETERS.fullmatch(p)]
        usable = sorted(sorted(usable, key=lambda item: -item[1])[:MAX_DUMMY_COSTS])
        dummies: dict[str, str] = {}
        for parameters, _ in usable:
            try:
                known = self._dummies.get(parameters)
                if known is None:
                    known = await self._in_pool(_dummy_hash_with, parameters)
                dummies[parameters] = known
            except (HashingError, ValueError):
                continue  # parameters argon2 refuses: no real verify with them costs anything either
        total = sum(n for p, n in usable if p in dummies)
        bounds, hashes, seen = [], [], 0
        for parameters, n in usable:
            if parameters in dummies:
                seen += n
                bounds.append(seen / total)
                hashes.append(dummies[parameters])
        self._dummies, self._dummy_secret = dummies, secret
        self._dummy_choice = (tuple(bounds), tuple(hashes))

    def close(self) -> None:
        """Stop the threads. The hasher stays usable: the next hash starts a new pool, so an app
        whose lifespan runs again (tests, an embedding app restarting) keeps working."""
        pool, self._executor = self._executor, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _dummy_for(self, username: str) -> str:
        bounds, hashes = self._dummy_choice
        if not hashes:
            return self._dummy_hash
        message = b"sessionauth dummy cost\0" + username.encode("utf-8", "replace")  # its own label
        digest = hmac.new(self._dummy_secret, message, hashlib.sha256).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64  # in [0, 1), the same each time
        return hashes[min(bisect.bisect_right(bounds, point), len(hashes) - 1)]

    async def _in_pool(self, fn: Callable[..., T], *args: object) -> T:
        # Not through the admission of _run: calibration is the service's own work, rare, and
        # must not be refused because logins fill the queue.
        if self._executor is None:
            self._executor = self._new_pool()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _new_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(
            max_workers=self._concurrency, thread_name_prefix="argon2", initializer=_lowest_priority
        )

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def _run(self, fn: Callable[..., T], *args: object, owner: str | None = None) -> T:
        if self._admitted >= self._capacity:
            self.refusals[QUEUE_FULL] += 1
            raise HashingOverloaded()
        if owner is not None:
            held = self._admitted_by_owner.get(owner, 0)
            if held >= self._per_owner:
                self.refusals[OWNER_SHARE] += 1
                raise HashingOverloaded()
            self._admitted_by_owner[owner] = held + 1
        self._admitted += 1
        self._queue_changed(self._admitted)
        deadline = time.monotonic() + self._queue_timeout
        if self._executor is None:
            self._executor = self._new_pool()
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, _before_deadline, deadline, fn, args
        )
        # The slot is held until the thread is done with it, even if the caller stops waiting.
        future.add_done_callback(lambda done: self._release(done, owner))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self._queue_timeout)
        except (TimeoutError, HashingOverloaded):
            # Past the deadline: told by the timer here, or by the thread that found it passed
            # before starting (whichever came first; the other is not counted again).
            self.refusals[DEADLINE] += 1
            raise HashingOverloaded() from None

    def _release(self, future: asyncio.Future[T], owner: str | None) -> None:
        self._admitted -= 1
        self._queue_changed(self._admitted)
        if owner is not None:
            held = self._admitted_by_owner.pop(owner) - 1
            if held:
                self._admitted_by_owner[owner] = held
        if not future.cancelled():
            future.exception()  # retrieved, so asyncio does not log a refused or abandoned hash


MAX_DUMMY_COSTS = 8  # parameter sets followed; more only come from many changes of ARGON2_*
_ARGON2_PARAMETERS = re.compile(r"\$argon2(id|i|d)\$v=(\d+)\$m=(\d+),t=(\d+),p=(\d+)")
_TYPES = {"id": argon2.Type.ID, "i": argon2.Type.I, "d": argon2.Type.D}


def _dummy_hash_with(parameters: str) -> str:
    """A hash of a random password that costs what a hash with these parameters costs."""
    match = _ARGON2_PARAMETERS.fullmatch(parameters)
    if match is None:
        raise ValueError("not argon2 parameters")
    kind, _, memory, time_cost, lanes = match.groups()
    hasher = argon2.PasswordHasher(
        time_cost=int(time_cost), memory_cost=int(memory), parallelism=int(lanes), type=_TYPES[kind]
    )
    return hasher.hash(secrets.token_urlsafe(24))


def _ignore(depth: int) -> None:
    pass


def _lowest_priority() -> None:
    # Not Linux, or not allowed: hashing still works, at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # this thread only (Linux)


def _before_deadline(deadline: float, fn: Callable[..., T], args: tuple[object, ...]) -> T:
    # Runs in the pool thread: a request that sat in the queue too long is not worth hashing now,
    # its client is better served by a prompt 503.
    if time.monotonic() > deadline:
        raise HashingOverloaded()
    return fn(*args)
