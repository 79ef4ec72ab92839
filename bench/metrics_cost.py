"""What the metrics add to the hot paths, in-process (issue 20, item 5).

    .venv/bin/python -m bench.metrics_cost

Prints the best mean of several rounds of:
- a session check answered by the session cache (`CachedSessionRepository.get_with_user`), which
  now counts its hits in a plain int, and that count alone (an attribute increment);
- the timing of a wait for a pooled connection as `PostgresStore` does it (two `perf_counter`
  calls) and its observation in the single-process histogram.

The metrics read those numbers when scraped, so nothing else runs per request. The tests do not
time anything; this shows what the steps cost on this machine.
"""

import asyncio
import math
from datetime import UTC, datetime, timedelta
from time import perf_counter

from adapters.prometheus_metrics import PrometheusMetrics
from adapters.session_cache import CachedSessionRepository
from adapters.system import SystemClock
from domain.session import Session
from domain.user import User, Username

ROUNDS, CALLS = 9, 100_000
TOKEN_HASH = b"h" * 32


class _Found:
    """A repository that always finds the same session (only the first lookup reaches it)."""

    def __init__(self, found: tuple[Session, User]) -> None:
        self._found = found

    async def get_with_user(self, token_hash: bytes) -> tuple[Session, User]:
        return self._found


def _best(run) -> float:
    """The best of ROUNDS means, in seconds per call."""
    best = math.inf
    for _ in range(ROUNDS):
        started = perf_counter()
        run()
        best = min(best, (perf_counter() - started) / CALLS)
    return best


async def _cache_hit() -> float:
    now = datetime.now(UTC)
    user = User(id="u", username=Username.parse("alice"), password_hash="x", created_at=now)
    session = Session(
        id="s",
        user_id="u",
        token_hash=TOKEN_HASH,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(days=1),
    )
    cache = CachedSessionRepository(_Found((session, user)), SystemClock(), timedelta(minutes=5))
    cache.set_enabled(True)
    await cache.get_with_user(TOKEN_HASH)  # cached from now on
    best = math.inf
    for _ in range(ROUNDS):
        started = perf_counter()
        for _ in range(CALLS):
            await cache.get_with_user(TOKEN_HASH)
        best = min(best, (perf_counter() - started) / CALLS)
    assert cache.misses == 1
    return best


def _increment() -> None:
    class Counted:
        hits = 0

    counted = Counted()
    for _ in range(CALLS):
        counted.hits += 1


def _empty_loop() -> None:
    for _ in range(CALLS):
        pass


def _timed_wait() -> None:
    observe = _OBSERVE
    for _ in range(CALLS):
        started = perf_counter()
        observe(perf_counter() - started)


_OBSERVE = PrometheusMetrics().pool_wait_observer()


def main() -> None:
    hit = asyncio.run(_cache_hit())
    loop = _best(_empty_loop)
    print(f"session check from the cache, in all: {hit * 1e9:6.0f} ns")
    print(f"  of which the hit count:               {(_best(_increment) - loop) * 1e9:6.0f} ns")
    print(f"timing and observing a pool wait:       {(_best(_timed_wait) - loop) * 1e9:6.0f} ns")


if __name__ == "__main__":
    main()
