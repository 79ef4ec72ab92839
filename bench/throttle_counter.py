"""Per-call cost of the in-memory throttle counter as it fills (issue 16, item 3).

    .venv/bin/python -m bench.throttle_counter

Opens windows for distinct keys, as logins with made-up usernames used to, and prints the mean
time of one `acquire` around a few sizes. Before the bound, a counter past 100,000 keys rebuilt
its whole dict on every call (0.17 ms at 400 keys, 7.6 ms at 101,000); now the cost stays flat,
the size stays at `max_keys`. The tests count steps instead of timing them
(tests/unit/test_memory_attempts.py); this shows what the steps cost on this machine.
"""

import asyncio
import time
from datetime import UTC, datetime, timedelta

from adapters.memory_attempts import DEFAULT_MAX_KEYS, InMemoryAttemptCounter

WINDOW = timedelta(minutes=15)
SIZES = (1_000, 50_000, DEFAULT_MAX_KEYS - 1_000, DEFAULT_MAX_KEYS + 1_000, 3 * DEFAULT_MAX_KEYS)
SAMPLE = 1_000


async def main() -> None:
    counter = InMemoryAttemptCounter()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    opened = 0
    for size in SIZES:
        while opened < size - SAMPLE:
            await counter.acquire(f"login:address:user{opened}:203.0.113.7", 10, start, WINDOW)
            opened += 1
        began = time.perf_counter()
        for _ in range(SAMPLE):
            await counter.acquire(f"login:address:user{opened}:203.0.113.7", 10, start, WINDOW)
            opened += 1
        mean_us = (time.perf_counter() - began) / SAMPLE * 1e6
        print(f"{opened:>8} keys opened, {len(counter):>7} kept: {mean_us:6.2f} µs per acquire")


if __name__ == "__main__":
    asyncio.run(main())
