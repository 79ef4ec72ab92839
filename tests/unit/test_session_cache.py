"""The session cache's rules, with an in-memory store behind it and a fake clock."""

import asyncio
from dataclasses import FrozenInstanceError
from datetime import timedelta
from time import monotonic

import pytest

from adapters.memory import InMemoryStore
from adapters.session_cache import CachedSessionRepository, CachedUserRepository
from adapters.system import SystemClock
from application import ResolveSession
from domain.errors import SessionExpired
from domain.session import SessionPolicy
from tests.fakes import FakeClock
from tests.records import T0, a_session, a_user

TOKEN = "T" * 43


class CountingSessions:
    """Wraps the in-memory repository and counts reads, to see what the cache saved."""

    def __init__(self, inner):
        self.inner = inner
        self.reads = 0

    async def get_with_user(self, token_hash):
        self.reads += 1
        return await self.inner.get_with_user(token_hash)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
async def setup():
    store, clock = InMemoryStore(), FakeClock(T0)
    policy = SessionPolicy.from_seconds(idle=600, absolute=3600)  # touch interval: 60 s
    backing = CountingSessions(store.sessions)
    cache = CachedSessionRepository(backing, clock, policy.touch_interval)
    cache.set_enabled(True)
    user = a_user()
    await store.users.add(user)
    session = a_session(user, token=TOKEN, expires_at=T0 + timedelta(seconds=3600))
    await cache.add(session, password_hash=user.password_hash)
    return (
        cache,
        backing,
        clock,
        ResolveSession(sessions=cache, clock=clock, policy=policy),
        session,
    )


async def test_a_fresh_session_is_served_from_the_cache(setup):
    cache, backing, _, _, session = setup
    for _ in range(5):
        assert (await cache.get_with_user(session.token_hash))[0].id == session.id
    assert backing.reads == 1


async def test_lookups_are_counted_as_hits_from_memory_and_misses_from_the_store(setup):
    cache, backing, clock, _, session = setup
    for _ in range(3):  # read once, then served twice
        await cache.get_with_user(session.token_hash)
    clock.advance(seconds=60)  # stale: read again
    await cache.get_with_user(session.token_hash)
    await cache.get_with_user(b"unknown token hash")
    cache.set_enabled(False)  # the listener is down: every lookup goes to the store
    await cache.get_with_user(session.token_hash)
    assert (cache.hits, cache.misses) == (2, 4)
    assert cache.misses == backing.reads


async def test_an_entry_is_read_again_once_its_last_use_is_a_touch_interval_old(setup):
    cache, backing, clock, _, session = setup
    await cache.get_with_user(session.token_hash)
    clock.advance(seconds=60)
    await cache.get_with_user(session.token_hash)
    assert backing.reads == 2


async def test_a_touch_refreshes_the_cached_entry(setup):
    cache, backing, clock, _, session = setup
    await cache.get_with_user(session.token_hash)
    clock.advance(seconds=60)
    await cache.touch(session.token_hash, clock.now())
    await cache.get_with_user(session.token_hash)
    assert backing.reads == 1  # the touch made the cached entry fresh again


async def test_returned_sessions_cannot_be_changed(setup):
    cache, _, _, _, session = setup
    found, _ = await cache.get_with_user(session.token_hash)
    with pytest.raises(FrozenInstanceError):
        found.last_seen_at = T0 + timedelta(days=1)
    assert (await cache.get_with_user(session.token_hash))[0].last_seen_at == T0


@pytest.mark.parametrize(
    "how", ["local revoke", "notification", "flush", "unreadable notification", "revoke all"]
)
async def test_a_revocation_is_never_served_from_the_cache(setup, how):
    cache, backing, _, _, session = setup
    await cache.get_with_user(session.token_hash)
    await backing.inner.revoke(session.token_hash)  # gone in the store (another instance did it)
    if how == "local revoke":
        await cache.revoke(session.token_hash)
    elif how == "notification":
        cache.on_notification(f"{'00' * 32},{session.token_hash.hex()}")
    elif how == "flush":
        cache.on_notification("*")
    elif how == "unreadable notification":
        cache.on_notification("zz-not-hex")
    else:
        await cache.revoke_all_for_user(session.user_id)
    assert await cache.get_with_user(session.token_hash) is None


async def test_a_read_racing_a_notification_is_not_cached(setup):
    cache, backing, _, _, session = setup

    class Racing:
        async def get_with_user(self, token_hash):
            found = await backing.inner.get_with_user(token_hash)  # read before the revocation...
            await backing.inner.revoke(token_hash)  # ...which commits and notifies meanwhile
            cache.on_notification(token_hash.hex())
            return found

    cache._inner = Racing()
    assert await cache.get_with_user(session.token_hash) is not None  # the racing read itself
    cache._inner = backing
    assert await cache.get_with_user(session.token_hash) is None


async def test_the_cache_is_off_and_empty_while_the_listener_is_down(setup):
    cache, backing, _, _, session = setup
    await cache.get_with_user(session.token_hash)
    cache.set_enabled(False)
    await backing.inner.revoke(session.token_hash)  # a notification this instance cannot hear
    assert await cache.get_with_user(session.token_hash) is None
    cache.set_enabled(True)
    assert await cache.get_with_user(session.token_hash) is None


async def test_the_cache_never_serves_a_session_past_its_absolute_deadline(setup):
    _, backing, clock, resolve, session = setup
    # in use every 10 s, so the cache keeps serving it, right up to a second before the deadline
    uses = 0
    while clock.now() + timedelta(seconds=11) < session.expires_at:
        clock.advance(seconds=10)
        await resolve.execute(token=TOKEN)
        uses += 1
    clock.current = session.expires_at - timedelta(seconds=1)
    await resolve.execute(token=TOKEN)
    assert backing.reads < uses / 2  # most of those came from the cache
    clock.current = session.expires_at
    with pytest.raises(SessionExpired):
        await resolve.execute(token=TOKEN)


async def test_the_cache_never_serves_a_session_past_its_idle_deadline(setup):
    cache, backing, clock, _, session = setup
    await cache.get_with_user(session.token_hash)
    clock.advance(seconds=600)
    reads = backing.reads
    found, _ = await cache.get_with_user(session.token_hash)
    assert backing.reads == reads + 1  # long past its freshness: read again, not served
    assert found.last_seen_at == T0


async def test_the_cache_is_bounded(setup):
    cache, _, _, _, session = setup
    cache._max_entries = 3
    _, user = await cache.get_with_user(session.token_hash)
    for _ in range(5):
        extra = a_session(user)
        await cache.add(extra, password_hash=user.password_hash)
        await cache.get_with_user(extra.token_hash)
    assert len(cache._entries) == 3


async def test_entries_no_longer_servable_are_dropped(setup):
    cache, _, clock, _, session = setup
    _, user = await cache.get_with_user(session.token_hash)  # then abandoned: never used again
    clock.advance(seconds=60)  # the touch interval: that entry can never be served again
    later = a_session(user)
    await cache.add(later, password_hash=user.password_hash)
    await cache.get_with_user(later.token_hash)
    assert list(cache._entries) == [later.token_hash]


class HeldRevocations:
    """The in-memory repository, with every revocation held before it commits until the test
    lets it go: the window in which Postgres has not yet committed the DELETE."""

    def __init__(self, inner):
        self.inner = inner
        self.started = asyncio.Event()
        self.commit = asyncio.Event()

    async def _held(self, revoke, *args, **kwargs):
        self.started.set()
        await self.commit.wait()
        return await revoke(*args, **kwargs)

    async def revoke(self, token_hash):
        return await self._held(self.inner.revoke, token_hash)

    async def revoke_by_id(self, user_id, session_id):
        return await self._held(self.inner.revoke_by_id, user_id, session_id)

    async def revoke_all_for_user(self, user_id, *, keep_session_id=None):
        return await self._held(
            self.inner.revoke_all_for_user, user_id, keep_session_id=keep_session_id
        )

    async def change_password(self, user_id, password_hash, **kwargs):
        return await self._held(self.inner.change_password, user_id, password_hash, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


REVOCATIONS = {
    "revoke": lambda cache, users, s: cache.revoke(s.token_hash),
    "revoke by id": lambda cache, users, s: cache.revoke_by_id(s.user_id, s.id),
    "revoke all": lambda cache, users, s: cache.revoke_all_for_user(s.user_id),
    "password change": lambda cache, users, s: users.change_password(
        s.user_id, "$argon2id$new", keep_session_id=s.id, new_token_hash=b"n" * 32
    ),
}


@pytest.mark.parametrize("how", list(REVOCATIONS))
async def test_a_read_between_the_forget_and_the_commit_of_a_revocation_is_not_served_after_it(how):
    # The real clock: entries are served while fresh, as in production.
    store, clock = InMemoryStore(), SystemClock()
    held, held_users = HeldRevocations(store.sessions), HeldRevocations(store.users)
    held_users.started, held_users.commit = held.started, held.commit
    cache = CachedSessionRepository(held, clock, timedelta(minutes=1))
    users = CachedUserRepository(held_users, cache)
    cache.set_enabled(True)
    user = a_user(at=clock.now())
    await store.users.add(user)
    session = a_session(user, at=clock.now())
    await cache.add(session, password_hash=user.password_hash)
    assert await cache.get_with_user(session.token_hash) is not None  # cached

    revocation = asyncio.create_task(REVOCATIONS[how](cache, users, session))
    await held.started.wait()  # the cache has forgotten it; the store has not deleted it yet
    assert await cache.get_with_user(session.token_hash) is not None  # a resolve reads it again...
    held.commit.set()
    await revocation  # ...then the delete commits and the revocation (a /logout) answers
    assert await cache.get_with_user(session.token_hash) is None


async def test_a_read_that_started_before_a_revocation_and_ends_after_it_is_not_cached():
    store, clock = InMemoryStore(), SystemClock()
    cache = CachedSessionRepository(store.sessions, clock, timedelta(minutes=1))
    cache.set_enabled(True)
    user = a_user(at=clock.now())
    await store.users.add(user)
    session = a_session(user, at=clock.now())
    await cache.add(session, password_hash=user.password_hash)
    read, release = asyncio.Event(), asyncio.Event()

    class SlowRead:
        async def get_with_user(self, token_hash):
            found = await store.sessions.get_with_user(token_hash)
            read.set()
            await release.wait()  # the row is in hand; the revocation runs to its end meanwhile
            return found

        def __getattr__(self, name):
            return getattr(store.sessions, name)

    cache._inner = SlowRead()
    racing = asyncio.create_task(cache.get_with_user(session.token_hash))
    await read.wait()
    await cache.revoke(session.token_hash)
    release.set()
    assert await racing is not None  # the racing read itself answers what it read
    cache._inner = store.sessions
    assert await cache.get_with_user(session.token_hash) is None


async def test_the_cache_serves_nothing_once_the_listeners_lease_has_lapsed(setup):
    cache, backing, _, _, session = setup
    cache.set_enabled(True, until=monotonic() + 3600)
    await cache.get_with_user(session.token_hash)
    await cache.get_with_user(session.token_hash)
    assert backing.reads == 1 and cache.serving
    cache.renew(monotonic() - 0.001)  # the last check is older than MAX_SILENCE: a silent drop?
    await cache.get_with_user(session.token_hash)
    assert backing.reads == 2 and not cache.serving
    cache.renew(monotonic() + 3600)  # a check passed: nothing was lost meanwhile
    await cache.get_with_user(session.token_hash)
    assert backing.reads == 2


async def test_a_user_change_notification_forgets_that_users_sessions_only(setup):
    cache, backing, _, _, session = setup
    bob = a_user("Bob")
    await backing.inner._users.add(bob)
    other = a_session(bob, token="B" * 43, expires_at=T0 + timedelta(seconds=3600))
    await cache.add(other, password_hash=bob.password_hash)
    for cached in (session, other):
        await cache.get_with_user(cached.token_hash)
    cache.on_notification("user:" + session.user_id)
    assert session.token_hash not in cache._entries
    assert other.token_hash in cache._entries
