import math
from datetime import datetime

from domain.errors import Throttled
from domain.ports import AttemptCounter, Clock
from domain.throttle import Limit, ThrottlePolicy


class Reservation:
    """The attempts one request took from its counters. The use-case settles it once:

    - a failure keeps it: the attempt it reserved is the failure's count;
    - `succeed()` clears the counter the request was judged by and gives back the others (a
      success is not a failure of the account, nor of the address across accounts);
    - `cancel()` gives everything back, for an outcome that is no verdict on the password (a
      refused new password, a full hashing queue, a store error).
    """

    def __init__(self, counter: AttemptCounter) -> None:
        self._counter = counter
        self._taken: list[tuple[Limit, datetime]] = []

    def _took(self, limit: Limit, resets_at: datetime) -> None:
        self._taken.append((limit, resets_at))

    async def succeed(self) -> None:
        taken, self._taken = self._taken, []
        for limit, resets_at in taken:
            if limit.cleared_by_success:
                await self._counter.clear(limit.key)
            else:
                await self._counter.release(limit.key, resets_at)

    async def cancel(self) -> None:
        taken, self._taken = self._taken, []
        for limit, resets_at in reversed(taken):
            await self._counter.release(limit.key, resets_at)


class Throttle:
    """Reserves an attempt on each counter a ThrottlePolicy names before the work it limits;
    shared by the use-cases that count failures (Login, ChangePassword) or attempts (SignUp).

    - The reservation comes before any hashing, so a throttled request costs no argon2 work.
    - It is atomic per counter, on every instance sharing the store: with a limit of N, at most
      N attempts of a window hold a reservation, however many arrive at once. So at most N get
      a verdict; the others are Throttled. Reserving, not checking then counting, is the point:
      a check passes every request already in flight while the hash runs.
    - Counters are taken in the policy's order; the first that is full refuses the request,
      gives back what it took, and the later counters are not touched. A refusal is not a
      failure: it keeps nothing.
    - Over a limit means Throttled with the seconds until the full counters' windows close,
      even when the password would have been right.
    - A limit of 0 is no limit and is never counted.
    """

    def __init__(self, *, counter: AttemptCounter, clock: Clock, policy: ThrottlePolicy) -> None:
        self._counter = counter
        self._clock = clock
        self.policy = policy

    async def reserve(self, limits: list[Limit]) -> Reservation:
        active = [limit for limit in limits if limit.allowed > 0]
        now = self._clock.now()
        reservation = Reservation(self._counter)
        try:
            for i, limit in enumerate(active):
                taken, count = await self._counter.acquire(
                    limit.key, limit.allowed, now, self.policy.window
                )
                if not taken:
                    await reservation.cancel()
                    raise Throttled(
                        retry_after=await self._retry_after(count.resets_at, active[i + 1 :], now)
                    )
                reservation._took(limit, count.resets_at)
        except BaseException:
            await reservation.cancel()
            raise
        return reservation

    async def _retry_after(self, first_full: datetime, later: list[Limit], now: datetime) -> int:
        # The later counters were not taken; any of them that is full too must have closed before
        # a retry can pass, so the wait is the longest.
        counts = await self._counter.get([limit.key for limit in later], now) if later else {}
        ends = [first_full] + [
            counts[limit.key].resets_at
            for limit in later
            if limit.key in counts and counts[limit.key].value >= limit.allowed
        ]
        return max(1, math.ceil(max((end - now).total_seconds() for end in ends)))
