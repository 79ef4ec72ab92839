"""The in-memory throttle counter stays within its size bound, at a cost per call that does not
depend on how many windows it holds (issue 16, item 3)."""

from collections import OrderedDict
from datetime import UTC, datetime, timedelta

from adapters.memory_attempts import InMemoryAttemptCounter

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = timedelta(minutes=15)


class CountingWindows(OrderedDict):
    """Counts the windows the counter looks at or drops: per-call work shown without timing."""

    steps = 0

    def _counted(self, iterator):
        for item in iterator:
            self.steps += 1
            yield item

    def __iter__(self):
        return self._counted(super().__iter__())

    def values(self):
        return self._counted(super().values())

    def items(self):
        return self._counted(super().items())

    def popitem(self, last=True):
        self.steps += 1
        return super().popitem(last)


async def test_it_keeps_at_most_max_keys_windows_and_the_oldest_give_way():
    counter = InMemoryAttemptCounter(max_keys=100)
    for i in range(1000):
        await counter.acquire(f"k{i}", 5, T0 + timedelta(milliseconds=i), WINDOW)
    assert len(counter) == 100
    kept = await counter.get([f"k{i}" for i in range(1000)], T0)
    assert set(kept) == {f"k{i}" for i in range(900, 1000)}


async def test_closed_windows_are_dropped_as_new_ones_open():
    counter = InMemoryAttemptCounter(max_keys=1000)
    for i in range(300):
        await counter.acquire(f"k{i}", 5, T0, WINDOW)
    await counter.acquire("late", 5, T0 + WINDOW, WINDOW)
    assert len(counter) == 1


async def test_a_window_that_reopens_moves_to_the_back():
    counter = InMemoryAttemptCounter(max_keys=2)
    await counter.acquire("a", 5, T0, WINDOW)
    await counter.acquire("b", 5, T0 + timedelta(minutes=1), WINDOW)
    await counter.acquire("a", 5, T0 + WINDOW, WINDOW)  # a's window closed and opens again
    await counter.acquire("c", 5, T0 + WINDOW + timedelta(minutes=1), WINDOW)  # b gives way, not a
    assert set(await counter.get(["a", "b", "c"], T0 + WINDOW + timedelta(minutes=1))) == {"a", "c"}


async def test_a_full_counter_does_each_call_with_a_bounded_number_of_steps():
    counter = InMemoryAttemptCounter(max_keys=1000)
    for i in range(1000):
        await counter.acquire(f"k{i}", 5, T0, WINDOW)
    counter._windows = windows = CountingWindows(counter._windows)
    most = 0
    for i in range(1000, 3000):
        before = windows.steps
        await counter.acquire(f"k{i}", 5, T0 + timedelta(milliseconds=i), WINDOW)
        most = max(most, windows.steps - before)
    # each new key looks at the oldest window, drops it, looks at the next: no pass over the store
    assert most <= 3 and len(counter) == 1000


async def test_dropping_closed_windows_costs_one_step_each_over_time():
    counter = InMemoryAttemptCounter(max_keys=1000)
    counter._windows = windows = CountingWindows()
    for i in range(10_000):  # a new key every second: windows keep closing as others open
        await counter.acquire(f"k{i}", 5, T0 + timedelta(seconds=i), WINDOW)
    assert len(counter) == WINDOW.total_seconds()
    # a look and a drop for each window that closed, and one look that stops, per call
    assert windows.steps <= 2 * (10_000 - len(counter)) + 10_000
