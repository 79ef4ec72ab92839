"""The outbox's contract (domain.ports.Outbox): what the repositories queue, a sender claims,
sends, postpones or fails; the in-memory and the Postgres adapters both pass it."""

import asyncio
import uuid
from datetime import timedelta

import pytest

from adapters.memory import InMemoryStore
from domain.mail import MailKind, MailMessage, OutboxStats
from tests.records import T0, a_user

LEASE = timedelta(minutes=15)


@pytest.fixture(params=["memory", "postgres"])
def store(request):
    return InMemoryStore() if request.param == "memory" else request.getfixturevalue("pg_store")


def a_message(user_id: str | None, at=T0, kind=MailKind.VERIFY_EMAIL) -> MailMessage:
    return MailMessage(
        id=str(uuid.uuid4()),
        kind=kind,
        to="alice@example.com",
        subject="Confirm your email address",
        text="https://auth.example/ui/verify-email?token=secret-token",
        html='<a href="https://auth.example/ui/verify-email?token=secret-token">Confirm</a>',
        user_id=user_id,
        created_at=at,
    )


async def queued(store, count=1, **fields) -> list[MailMessage]:
    user = a_user(f"mailed{uuid.uuid4().hex[:8]}")
    await store.users.add(user)
    messages = [a_message(user.id, **fields) for _ in range(count)]
    await store.outbox.add(messages)
    return messages


async def test_a_queued_message_is_claimed_whole_once_due_and_counted_an_attempt(store):
    [message] = await queued(store)
    assert await store.outbox.claim(T0 - timedelta(seconds=1), limit=10, lease=LEASE) == []
    [claimed] = await store.outbox.claim(T0, limit=10, lease=LEASE)
    assert claimed.message == message
    assert claimed.attempts == 1


async def test_a_claimed_message_is_held_for_the_lease_then_given_back(store):
    await queued(store)
    assert len(await store.outbox.claim(T0, limit=10, lease=LEASE)) == 1
    assert await store.outbox.claim(T0 + LEASE - timedelta(seconds=1), limit=10, lease=LEASE) == []
    [again] = await store.outbox.claim(T0 + LEASE, limit=10, lease=LEASE)
    assert again.attempts == 2


async def test_a_claim_takes_at_most_its_limit_the_earliest_due_first(store):
    early = await queued(store, 2, at=T0 - timedelta(minutes=1))
    await queued(store, 3)
    claimed = await store.outbox.claim(T0, limit=2, lease=LEASE)
    assert {c.message.id for c in claimed} == {m.id for m in early}
    assert len(await store.outbox.claim(T0, limit=10, lease=LEASE)) == 3


async def test_claims_made_at_once_never_return_one_message_twice(store):
    await queued(store, 30)
    rounds = await asyncio.gather(
        *(store.outbox.claim(T0, limit=4, lease=LEASE) for _ in range(10))
    )
    ids = [c.message.id for claimed in rounds for c in claimed]
    assert len(ids) == len(set(ids)) == 30


async def test_a_delivered_message_is_gone(store):
    [message] = await queued(store)
    await store.outbox.claim(T0, limit=10, lease=LEASE)
    await store.outbox.delivered(message.id)
    assert await store.outbox.claim(T0 + timedelta(days=1), limit=10, lease=LEASE) == []
    assert (await store.outbox.stats()).depth == 0


async def test_a_postponed_message_comes_back_when_its_time_comes(store):
    [message] = await queued(store)
    await store.outbox.claim(T0, limit=10, lease=LEASE)
    retry_at = T0 + timedelta(seconds=30)
    await store.outbox.postpone(message.id, until=retry_at, error="451 try later")
    assert await store.outbox.claim(retry_at - timedelta(seconds=1), limit=10, lease=LEASE) == []
    [again] = await store.outbox.claim(retry_at, limit=10, lease=LEASE)
    assert (again.message, again.attempts) == (message, 2)


async def test_a_failed_message_is_kept_counted_never_claimed_and_purged_later(store):
    message, _ = await queued(store, 2)
    await store.outbox.claim(T0, limit=10, lease=LEASE)
    await store.outbox.fail(message.id, now=T0, error="550 no such user")
    assert await store.outbox.claim(T0 + timedelta(days=1), limit=10, lease=LEASE) != []
    stats = await store.outbox.stats()
    assert (stats.depth, stats.failed) == (1, 1)
    assert await store.outbox.purge_failed(T0) == 0
    assert await store.outbox.purge_failed(T0 + timedelta(seconds=1)) == 1
    assert (await store.outbox.stats()).failed == 0
    assert (await store.outbox.stats()).depth == 1  # a pending one is never purged


async def test_stats_tell_the_depth_and_the_oldest_pending_message(store):
    assert await store.outbox.stats() == OutboxStats(depth=0, oldest=None, failed=0)
    await queued(store, 1, at=T0 - timedelta(hours=1))
    await queued(store, 2)
    stats = await store.outbox.stats()
    assert (stats.depth, stats.oldest, stats.failed) == (3, T0 - timedelta(hours=1), 0)


async def test_operations_on_a_message_that_is_gone_change_nothing(store):
    gone = str(uuid.uuid4())
    await store.outbox.delivered(gone)
    await store.outbox.postpone(gone, until=T0, error="x")
    await store.outbox.fail(gone, now=T0, error="x")
    assert await store.outbox.stats() == OutboxStats(depth=0, oldest=None, failed=0)
