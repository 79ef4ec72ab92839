"""One contract for the storage ports; the in-memory and the Postgres adapters both pass it."""

import asyncio
import uuid
from dataclasses import FrozenInstanceError
from datetime import timedelta

import pytest

from adapters.memory import InMemoryStore
from domain.errors import NotAuthenticated, UsernameTaken
from domain.mail import MailKind, MailMessage
from domain.ports import Count
from domain.session import SessionStored, hash_token
from tests.records import FAKE_HASH, IDLE, T0, a_session, a_user


@pytest.fixture(params=["memory", "postgres"])
def store(request):
    # sync, so that the async pg_store fixture is set up by pytest-asyncio, not from inside a loop
    return InMemoryStore() if request.param == "memory" else request.getfixturevalue("pg_store")


async def with_user_and_session(store, **fields):
    user = a_user()
    await store.users.add(user)
    session = a_session(user, **fields)
    await store.sessions.add(session, password_hash=FAKE_HASH)
    return user, session


# users


async def test_users_are_counted_by_the_parameters_of_their_password_hash(store):
    hashes = [
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$ZGlnZXN0",
        "$argon2id$v=19$m=65536,t=3,p=4$b3RoZXJzYWx0$b3RoZXI",
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$ZGlnZXN0",
        "fake$digest",
    ]
    for i, password_hash in enumerate(hashes):
        user = a_user(f"counted{i}")
        user.password_hash = password_hash
        await store.users.add(user)
    assert await store.users.password_hash_parameters() == {
        "$argon2id$v=19$m=65536,t=3,p=4": 2,
        "$argon2id$v=19$m=8,t=1,p=1": 1,
        "fake$digest": 1,
    }


async def test_a_user_is_found_by_id_and_by_canonical_username(store):
    user = a_user("Jürgen")
    await store.users.add(user)
    assert await store.users.get(user.id) == user
    assert await store.users.get_by_username("jürgen") == user
    assert await store.users.get_by_username("Jürgen") is None  # callers pass the canonical form
    assert await store.users.get(str(uuid.uuid4())) is None
    assert await store.users.get("not-a-uuid") is None


async def test_a_duplicate_canonical_username_is_username_taken_and_the_first_stays(store):
    first = a_user("alice")
    await store.users.add(first)
    with pytest.raises(UsernameTaken):
        await store.users.add(a_user("ALICE"))
    assert (await store.users.get_by_username("alice")).id == first.id


async def test_times_round_trip_as_aware_utc_with_microseconds(store):
    user, session = await with_user_and_session(store)
    found = await store.users.get(user.id)
    assert found.created_at == T0 and found.created_at.utcoffset() == timedelta(0)
    stored, _ = await store.sessions.get_with_user(session.token_hash)
    assert (stored.created_at, stored.last_seen_at, stored.expires_at) == (
        session.created_at,
        session.last_seen_at,
        session.expires_at,
    )


async def test_returned_objects_are_copies_or_immutable(store):
    user, session = await with_user_and_session(store)
    found = await store.users.get(user.id)
    found.password_hash = "changed"
    (await store.users.get_by_username("alice")).password_hash = "changed"
    stored, its_user = await store.sessions.get_with_user(session.token_hash)
    its_user.password_hash = "changed"
    for returned in (stored, (await store.sessions.list_for_user(user.id))[0]):
        with pytest.raises(FrozenInstanceError):
            returned.last_seen_at = T0 + timedelta(days=1)
    assert (await store.users.get(user.id)).password_hash == "$argon2id$fake"
    assert (await store.sessions.get_with_user(session.token_hash))[0].last_seen_at == T0


async def test_objects_given_to_the_store_are_not_kept_by_reference(store):
    user, _ = await with_user_and_session(store)
    user.password_hash = "changed"
    assert (await store.users.get(user.id)).password_hash == "$argon2id$fake"


async def test_ids_that_name_nothing_change_nothing(store):
    user, session = await with_user_and_session(store)
    for unknown in ("not-a-uuid", str(uuid.uuid4())):
        await store.users.update_password_hash(unknown, "$argon2id$new")
        assert await store.sessions.revoke_all_for_user(unknown) == 0
        assert (
            await store.sessions.add(a_session(user, user_id=unknown), password_hash=FAKE_HASH)
            is None
        )
        with pytest.raises(NotAuthenticated):
            await store.users.change_password(
                unknown,
                "$argon2id$new",
                keep_session_id=session.id,
                new_token_hash=hash_token("n" * 43),
            )
        with pytest.raises(NotAuthenticated):
            await store.users.change_password(
                user.id,
                "$argon2id$new",
                keep_session_id=unknown,
                new_token_hash=hash_token("n" * 43),
            )
    assert (await store.users.get(user.id)).password_hash == "$argon2id$fake"
    assert [s.id for s in await store.sessions.list_for_user(user.id)] == [session.id]


async def test_update_password_hash_keeps_sessions(store):
    user, session = await with_user_and_session(store)
    await store.users.update_password_hash(user.id, "$argon2id$new")
    assert (await store.users.get(user.id)).password_hash == "$argon2id$new"
    assert await store.sessions.get_with_user(session.token_hash) is not None


# sessions


async def test_a_session_is_found_with_its_user_by_token_hash(store):
    user, session = await with_user_and_session(store)
    found_session, found_user = await store.sessions.get_with_user(session.token_hash)
    assert found_session == session and found_user == user
    assert await store.sessions.get_with_user(hash_token("x" * 43)) is None


async def test_touch_moves_last_seen_forward_only(store):
    _, session = await with_user_and_session(store)
    await store.sessions.touch(session.token_hash, T0 + timedelta(minutes=5))
    await store.sessions.touch(session.token_hash, T0 + timedelta(minutes=1))
    stored, _ = await store.sessions.get_with_user(session.token_hash)
    assert stored.last_seen_at == T0 + timedelta(minutes=5)


async def test_revoke_ends_the_session_once(store):
    _, session = await with_user_and_session(store)
    assert await store.sessions.revoke(session.token_hash) is True
    assert await store.sessions.revoke(session.token_hash) is False
    assert await store.sessions.get_with_user(session.token_hash) is None


async def test_sessions_of_a_user_are_listed_newest_first(store):
    alice, bob = a_user("alice"), a_user("bob")
    for user in (alice, bob):
        await store.users.add(user)
    older, newer = a_session(alice, T0), a_session(alice, T0 + timedelta(seconds=1))
    for session in (older, newer, a_session(bob)):
        await store.sessions.add(session, password_hash=FAKE_HASH)
    assert [s.id for s in await store.sessions.list_for_user(alice.id)] == [newer.id, older.id]
    assert await store.sessions.list_for_user(str(uuid.uuid4())) == []


async def test_revoke_by_id_only_within_the_owner(store):
    alice, bob = a_user("alice"), a_user("bob")
    for user in (alice, bob):
        await store.users.add(user)
    session = a_session(alice)
    await store.sessions.add(session, password_hash=FAKE_HASH)
    assert await store.sessions.revoke_by_id(bob.id, session.id) is False
    assert await store.sessions.revoke_by_id(alice.id, "not-a-uuid") is False
    assert await store.sessions.revoke_by_id(alice.id, session.id) is True
    assert await store.sessions.revoke_by_id(alice.id, session.id) is False


async def test_revoke_all_for_user_keeps_the_kept_one_and_other_users(store):
    alice, bob = a_user("alice"), a_user("bob")
    for user in (alice, bob):
        await store.users.add(user)
    kept, other1, other2, bobs = (
        a_session(alice),
        a_session(alice),
        a_session(alice),
        a_session(bob),
    )
    for session in (kept, other1, other2, bobs):
        await store.sessions.add(session, password_hash=FAKE_HASH)
    assert await store.sessions.revoke_all_for_user(alice.id, keep_session_id=kept.id) == 2
    assert [s.id for s in await store.sessions.list_for_user(alice.id)] == [kept.id]
    assert await store.sessions.revoke_all_for_user(alice.id) == 1
    assert len(await store.sessions.list_for_user(bob.id)) == 1


async def test_change_password_rekeys_the_kept_session_and_ends_the_others(store):
    user, kept = await with_user_and_session(store)
    other = a_session(user)
    await store.sessions.add(other, password_hash=FAKE_HASH)
    new_hash = hash_token("n" * 43)
    assert (
        await store.users.change_password(
            user.id, "$argon2id$new", keep_session_id=kept.id, new_token_hash=new_hash
        )
        == 1
    )
    assert (await store.users.get(user.id)).password_hash == "$argon2id$new"
    assert await store.sessions.get_with_user(kept.token_hash) is None
    assert (await store.sessions.get_with_user(new_hash))[0].id == kept.id
    assert await store.sessions.get_with_user(other.token_hash) is None


async def test_change_password_for_a_vanished_session_changes_nothing(store):
    user, kept = await with_user_and_session(store)
    other = a_session(user)
    await store.sessions.add(other, password_hash=FAKE_HASH)
    await store.sessions.revoke(kept.token_hash)
    with pytest.raises(NotAuthenticated):
        await store.users.change_password(
            user.id, "$argon2id$new", keep_session_id=kept.id, new_token_hash=hash_token("n" * 43)
        )
    assert (await store.users.get(user.id)).password_hash == "$argon2id$fake"
    assert await store.sessions.get_with_user(other.token_hash) is not None


@pytest.mark.parametrize(
    ("offset", "purged"),
    [
        (IDLE - timedelta(seconds=1), 0),  # a second before the idle deadline
        (IDLE, 1),  # at it
        (IDLE + timedelta(seconds=1), 1),
    ],
)
async def test_purge_at_the_idle_deadline(store, offset, purged):
    _, session = await with_user_and_session(store)
    assert await store.sessions.purge_expired(T0 + offset, IDLE) == purged
    assert (await store.sessions.get_with_user(session.token_hash) is None) == bool(purged)


@pytest.mark.parametrize(
    ("offset", "purged"), [(timedelta(seconds=-1), 0), (timedelta(0), 1), (timedelta(seconds=1), 1)]
)
async def test_purge_at_the_absolute_deadline(store, offset, purged):
    # kept in use (last seen just now), so only the absolute deadline can end it
    expires = T0 + timedelta(hours=1)
    await with_user_and_session(
        store, expires_at=expires, last_seen_at=expires - timedelta(seconds=2)
    )
    assert await store.sessions.purge_expired(expires + offset, IDLE) == purged


async def test_purge_leaves_live_sessions_and_counts(store):
    user = a_user()
    await store.users.add(user)
    for at in (T0, T0, T0 + timedelta(hours=1)):
        await store.sessions.add(a_session(user, at), password_hash=FAKE_HASH)
    assert await store.sessions.purge_expired(T0 + IDLE, IDLE) == 2
    assert len(await store.sessions.list_for_user(user.id)) == 1


# throttle counters and the device key


async def test_counters_count_within_a_window_and_restart_after_it(store):
    window = timedelta(minutes=15)
    assert await store.attempts.acquire("a", 5, T0, window) == (True, Count(1, T0 + window))
    await store.attempts.acquire("b", 5, T0, window)
    assert await store.attempts.acquire("a", 5, T0 + timedelta(minutes=1), window) == (
        True,
        Count(2, T0 + window),
    )
    counts = await store.attempts.get(["a", "b", "c"], T0 + timedelta(minutes=2))
    assert {k: c.value for k, c in counts.items()} == {"a": 2, "b": 1}
    assert counts["a"].resets_at == T0 + window  # the window is fixed at its first attempt
    assert await store.attempts.get(["a"], T0 + window) == {}
    assert await store.attempts.acquire("a", 5, T0 + window, window) == (
        True,
        Count(1, T0 + 2 * window),
    )


async def test_a_full_window_refuses_and_changes_nothing(store):
    window = timedelta(minutes=15)
    for _ in range(3):
        await store.attempts.acquire("a", 3, T0, window)
    assert await store.attempts.acquire("a", 3, T0 + timedelta(minutes=5), window) == (
        False,
        Count(3, T0 + window),
    )
    assert (await store.attempts.get(["a"], T0))["a"].value == 3
    assert (await store.attempts.acquire("a", 3, T0 + window, window))[0] is True  # a new window


async def test_release_gives_one_back_to_its_own_window_only(store):
    window = timedelta(minutes=15)
    _, first = await store.attempts.acquire("a", 5, T0, window)
    await store.attempts.acquire("a", 5, T0, window)
    await store.attempts.release("a", first.resets_at)
    assert (await store.attempts.get(["a"], T0))["a"].value == 1
    await store.attempts.release("a", T0)  # a window that is not the key's: nothing
    assert (await store.attempts.get(["a"], T0))["a"].value == 1
    await store.attempts.acquire("a", 5, T0 + window, window)  # a new window opens
    await store.attempts.release("a", first.resets_at)  # a late release of the old one: nothing
    assert (await store.attempts.get(["a"], T0 + window))["a"].value == 1
    await store.attempts.release("unknown", T0)
    await store.attempts.release("a", T0 + 2 * window)
    assert await store.attempts.get(["a"], T0 + window) == {}  # the last one back: the window goes
    assert await store.attempts.purge(T0 + 3 * window) == 0


async def test_clear_and_purge_counters(store):
    window = timedelta(minutes=15)
    await store.attempts.acquire("a", 5, T0, window)
    await store.attempts.acquire("b", 5, T0, window)
    await store.attempts.clear("a")
    assert set(await store.attempts.get(["a", "b"], T0)) == {"b"}
    assert await store.attempts.purge(T0) == 0
    assert await store.attempts.purge(T0 + window) == 1


async def test_concurrent_acquires_never_pass_the_limit_nor_lose_one(store):
    window = timedelta(minutes=5)
    results = await asyncio.gather(*(store.attempts.acquire("k", 7, T0, window) for _ in range(50)))
    assert sorted(count.value for taken, count in results if taken) == list(range(1, 8))
    assert [taken for taken, _ in results].count(True) == 7
    unlimited = await asyncio.gather(
        *(store.attempts.acquire("shared", 1000, T0, window) for _ in range(50))
    )
    assert sorted(count.value for _, count in unlimited) == list(range(1, 51))


async def test_the_device_key_is_stable_and_long(store):
    first = await store.device_key()
    assert len(first) >= 32 and await store.device_key() == first


async def test_a_session_is_not_stored_once_the_password_hash_has_changed(store):
    user = a_user()
    await store.users.add(user)
    await store.users.update_password_hash(user.id, "$argon2id$changed")
    session = a_session(user)
    assert await store.sessions.add(session, password_hash=FAKE_HASH) is None
    assert await store.sessions.get_with_user(session.token_hash) is None
    assert await store.sessions.add(session, password_hash="$argon2id$changed") is not None


# the account lifecycle


def a_message(user):
    return MailMessage(
        id=str(uuid.uuid4()),
        kind=MailKind.PASSWORD_CHANGED,
        to="alice@example.com",
        subject="Your password was changed",
        text="text",
        html="<p>html</p>",
        user_id=user.id,
        created_at=T0,
    )


async def queued_mail(store, user) -> int:
    if isinstance(store, InMemoryStore):
        return sum(m.user_id == user.id for m in store.outbox.pending.values())
    async with store.connection() as c:
        return await c.fetchval(
            "SELECT count(*) FROM mail_outbox WHERE user_id = $1", uuid.UUID(user.id)
        )


async def test_disabling_ends_the_users_sessions_and_refuses_new_ones(store):
    alice, bob = a_user("alice"), a_user("bob")
    for user in (alice, bob):
        await store.users.add(user)
    for session in (a_session(alice), a_session(alice), a_session(bob)):
        await store.sessions.add(session, password_hash=FAKE_HASH)
    assert await store.users.set_disabled(alice.id, True) == 2
    assert (await store.users.get(alice.id)).disabled is True
    assert await store.sessions.list_for_user(alice.id) == []
    assert len(await store.sessions.list_for_user(bob.id)) == 1
    refused = a_session(alice)
    for limit in (0, 3):
        assert await store.sessions.add(refused, password_hash=FAKE_HASH, limit=limit) is None
    assert await store.sessions.get_with_user(refused.token_hash) is None
    assert await store.users.set_disabled(alice.id, True) == 0


async def test_enabling_lets_sessions_be_stored_again(store):
    user = a_user()
    await store.users.add(user)
    await store.users.set_disabled(user.id, True)
    assert await store.users.set_disabled(user.id, False) == 0
    assert (await store.users.get(user.id)).disabled is False
    session = a_session(user)
    assert await store.sessions.add(session, password_hash=FAKE_HASH) is not None
    _, its_user = await store.sessions.get_with_user(session.token_hash)
    assert its_user.disabled is False


async def test_disable_and_delete_of_users_that_do_not_exist_answer_none(store):
    for unknown in ("not-a-uuid", str(uuid.uuid4())):
        assert await store.users.set_disabled(unknown, True) is None
        assert await store.users.set_disabled(unknown, False) is None
        assert await store.users.delete(unknown) is None


async def test_deleting_a_user_removes_it_with_its_sessions_and_queued_mail(store):
    alice, bob = a_user("alice"), a_user("bob")
    for user in (alice, bob):
        await store.users.add(user)
    sessions = [a_session(alice), a_session(alice)]
    for session in (*sessions, a_session(bob)):
        await store.sessions.add(session, password_hash=FAKE_HASH)
    await store.outbox.add([a_message(alice), a_message(alice), a_message(bob)])
    assert await store.users.delete(alice.id) == 2
    assert await store.users.get(alice.id) is None
    assert await store.users.get_by_username("alice") is None
    for session in sessions:
        assert await store.sessions.get_with_user(session.token_hash) is None
    assert await store.sessions.add(a_session(alice), password_hash=FAKE_HASH) is None
    assert (await queued_mail(store, alice), await queued_mail(store, bob)) == (0, 1)
    assert len(await store.sessions.list_for_user(bob.id)) == 1
    assert await store.users.delete(alice.id) is None
    await store.users.add(a_user("ALICE"))  # the name is free again


async def test_the_limit_ends_the_least_recently_used_sessions(store):
    user = a_user()
    await store.users.add(user)
    # created in one order, last used in another: the limit goes by the last use
    used_last = a_session(user, T0, last_seen_at=T0 + timedelta(minutes=9))
    used_first = a_session(user, T0 + timedelta(minutes=1), last_seen_at=T0 + timedelta(minutes=2))
    used_second = a_session(user, T0 + timedelta(minutes=2), last_seen_at=T0 + timedelta(minutes=5))
    for session in (used_last, used_first, used_second):
        assert await store.sessions.add(session, password_hash=FAKE_HASH) == SessionStored()
    newest = a_session(user, T0 + timedelta(minutes=10))
    assert await store.sessions.add(newest, password_hash=FAKE_HASH, limit=3) == SessionStored(
        evicted=(used_first.id,)
    )
    assert {s.id for s in await store.sessions.list_for_user(user.id)} == {
        used_last.id,
        used_second.id,
        newest.id,
    }
    only = a_session(user, T0 + timedelta(minutes=11))
    assert await store.sessions.add(only, password_hash=FAKE_HASH, limit=1) == SessionStored(
        evicted=(used_second.id, used_last.id, newest.id)
    )
    assert [s.id for s in await store.sessions.list_for_user(user.id)] == [only.id]


async def test_within_the_limit_or_without_one_nothing_ends(store):
    user = a_user()
    await store.users.add(user)
    for limit in (3, 3, 3, 0):
        assert await store.sessions.add(
            a_session(user), password_hash=FAKE_HASH, limit=limit
        ) == SessionStored(evicted=())
    assert len(await store.sessions.list_for_user(user.id)) == 4


async def test_a_refused_session_ends_no_other_to_make_room(store):
    user = a_user()
    await store.users.add(user)
    kept = a_session(user)
    await store.sessions.add(kept, password_hash=FAKE_HASH)
    refused = a_session(user)
    assert await store.sessions.add(refused, password_hash="$argon2id$old", limit=1) is None
    assert [s.id for s in await store.sessions.list_for_user(user.id)] == [kept.id]


async def test_the_limit_counts_each_user_apart(store):
    alice, bob = a_user("alice"), a_user("bob")
    for user in (alice, bob):
        await store.users.add(user)
    bobs = a_session(bob)
    await store.sessions.add(bobs, password_hash=FAKE_HASH)
    await store.sessions.add(a_session(alice), password_hash=FAKE_HASH, limit=1)
    assert (await store.sessions.add(a_session(alice), password_hash=FAKE_HASH, limit=1)).evicted
    assert [s.id for s in await store.sessions.list_for_user(bob.id)] == [bobs.id]


async def test_revoke_all_ends_every_session_of_every_user(store):
    alice, bob = a_user("alice"), a_user("bob")
    for user in (alice, bob):
        await store.users.add(user)
    for session in (a_session(alice), a_session(alice), a_session(bob)):
        await store.sessions.add(session, password_hash=FAKE_HASH)
    assert await store.sessions.revoke_all() == 3
    assert await store.sessions.list_for_user(alice.id) == []
    assert await store.sessions.list_for_user(bob.id) == []
    assert await store.sessions.revoke_all() == 0
    assert await store.users.get(alice.id) is not None
