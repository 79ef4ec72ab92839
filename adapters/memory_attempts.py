"""In-memory throttle counters for one process: atomic without a lock, bounded in size."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta

from domain.ports import AttemptCounter, Count

DEFAULT_MAX_KEYS = 100_000


class InMemoryAttemptCounter(AttemptCounter):
    """Fixed-window counters in a dict, with no `await` between reading and writing a window, so
    every call is atomic with respect to other asyncio tasks.

    - At most `max_keys` windows are kept, at a cost per call that does not grow with their number
      (O(1) amortised). Windows are kept in the order they opened; all windows of one service have
      the same length, so that is also the order they close in. Opening a window first drops the
      closed ones at the front (each window is dropped once), and when every window is still open
      and there is no room, the oldest, the nearest to its end, gives way.
    - A window that gives way forgets its count early: someone who opens `max_keys` windows in
      less than a window can shorten other counters' windows, never lengthen them. The
      per-address limits keep one address from opening more than a few windows (see ThrottlePolicy).
    """

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._max_keys = max_keys
        # OrderedDict, not dict: dropping from the front of a plain dict leaves holes that every
        # later look at its first item walks over, which makes the front O(n).
        self._windows: OrderedDict[str, Count] = OrderedDict()

    def __len__(self) -> int:
        return len(self._windows)

    async def get(self, keys: Sequence[str], now: datetime) -> dict[str, Count]:
        return {k: c for k in keys if (c := self._windows.get(k)) is not None and c.resets_at > now}

    async def acquire(
        self, key: str, limit: int, now: datetime, window: timedelta
    ) -> tuple[bool, Count]:
        count = self._windows.get(key)
        if count is not None and count.resets_at > now:
            if count.value >= limit:
                return False, count
            count = Count(count.value + 1, count.resets_at)
            self._windows[key] = count  # an existing key keeps its place in the order
            return True, count
        if count is not None:
            del self._windows[key]  # closed: its new window opens now, so it moves to the back
        self._make_room(now)
        count = Count(1, now + window)
        self._windows[key] = count
        return True, count

    async def release(self, key: str, resets_at: datetime) -> None:
        count = self._windows.get(key)
        if count is None or count.resets_at != resets_at or count.value <= 0:
            return
        if count.value == 1:
            # The last one given back: the window goes, so that attempts that got no verdict
            # (refused a hashing place, say) leave no key behind.
            del self._windows[key]
        else:
            self._windows[key] = Count(count.value - 1, count.resets_at)

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    async def purge(self, now: datetime) -> int:
        closed = [k for k, c in self._windows.items() if c.resets_at <= now]
        for key in closed:
            del self._windows[key]
        return len(closed)

    def _make_room(self, now: datetime) -> None:
        windows = self._windows
        while windows:
            oldest = next(iter(windows.values()))
            if oldest.resets_at > now and len(windows) < self._max_keys:
                return
            windows.popitem(last=False)
