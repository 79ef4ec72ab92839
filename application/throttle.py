import math

from domain.errors import Throttled
from domain.ports import AttemptCounter, Clock
from domain.throttle import Limit, ThrottlePolicy


class Throttle:
    """Checks, counts and clears the counters a ThrottlePolicy names; shared by the use-cases that
    count failures (Login, ChangePassword) or attempts (SignUp).

    - The check comes before any hashing, so a throttled request costs no argon2 work.
    - Over a limit means Throttled with the seconds until that counter's window closes, even
      when the password would have been right.
    - A limit of 0 is no limit and is never counted.
    """

    def __init__(self, counter: AttemptCounter, clock: Clock, policy: ThrottlePolicy) -> None:
        self._counter = counter
        self._clock = clock
        self.policy = policy

    async def check(self, limits: list[Limit]) -> None:
        active = [limit for limit in limits if limit.allowed > 0]
        if not active:
            return
        now = self._clock.now()
        counts = await self._counter.get([limit.key for limit in active], now)
        waits = [
            (counts[limit.key].resets_at - now).total_seconds()
            for limit in active
            if limit.key in counts and counts[limit.key].value >= limit.allowed
        ]
        if waits:
            raise Throttled(retry_after=math.ceil(max(waits)))

    async def count(self, limits: list[Limit]) -> None:
        keys = [limit.key for limit in limits if limit.allowed > 0]
        if keys:
            await self._counter.increment(keys, self._clock.now(), self.policy.window)

    async def clear(self, limit: Limit) -> None:
        if limit.allowed > 0:
            await self._counter.clear(limit.key)
