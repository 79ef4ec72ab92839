"""Postgres keeps each user agent once (user_agents); the purge of expired sessions also deletes
the user agents no session uses any more, without ever failing a login that is storing a session
with that user agent at the same moment, and without failing itself. (The in-memory store keeps
the user agent inside each session: nothing to purge there.)"""

import asyncio
import uuid
from datetime import timedelta

import asyncpg

from adapters.postgres.repositories import _PURGE_USER_AGENTS, _SESSION_INSERT
from tests.records import IDLE, T0, a_session, a_user

LATER = T0 + timedelta(hours=9)  # every session made at T0 has expired by then


def an_agent(name: str) -> str:
    return f"{name}/{uuid.uuid4()}"  # user_agents is not truncated between tests: keep names apart


async def agents_stored(url: str, *agents: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT user_agent FROM user_agents WHERE user_agent = ANY($1::text[])", agents
        )
    finally:
        await connection.close()
    return {row["user_agent"] for row in rows}


async def waiting_for_a_lock(url: str, task: asyncio.Task) -> None:
    """Returns once `task` is done or some backend of this database waits for a lock."""
    connection = await asyncpg.connect(url)
    try:
        for _ in range(
            600
        ):  # a bound so that a mistake fails instead of hanging; not a timing check
            if task.done() or await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("neither finished nor waited for a lock")
    finally:
        await connection.close()


async def test_the_purge_deletes_the_user_agents_that_no_session_uses(
    pg_store, migrated_database_url
):
    gone, kept = an_agent("only-expired"), an_agent("still-in-use")
    user = a_user()
    await pg_store.users.add(user)
    await pg_store.sessions.add(a_session(user, user_agent=gone), password_hash=user.password_hash)
    await pg_store.sessions.add(a_session(user, user_agent=kept), password_hash=user.password_hash)
    live = a_session(user, at=LATER, user_agent=kept)
    await pg_store.sessions.add(live, password_hash=user.password_hash)

    assert await pg_store.sessions.purge_expired(LATER, IDLE) == 2

    assert await agents_stored(migrated_database_url, gone, kept) == {kept}
    [stored] = await pg_store.sessions.list_for_user(user.id)
    assert (stored.id, stored.user_agent) == (live.id, kept)


def insert_args(session, password_hash: str) -> list:
    return [
        session.token_hash,
        uuid.UUID(session.id),
        uuid.UUID(session.user_id),
        session.created_at,
        session.last_seen_at,
        session.expires_at,
        session.user_agent,
        None,
        password_hash,
        int(session.methods),
    ]


async def test_a_purge_during_a_login_with_the_same_user_agent_leaves_both_whole(
    pg_store, migrated_database_url
):
    # The login has stored its session, not yet committed, with a user agent whose only other
    # session has expired: the purge cannot see that session, and must neither delete the user
    # agent under it nor fail when the login commits.
    agent = an_agent("shared")
    user = a_user()
    await pg_store.users.add(user)
    await pg_store.sessions.add(a_session(user, user_agent=agent), password_hash=user.password_hash)
    login = a_session(user, at=LATER, user_agent=agent)
    connection = await asyncpg.connect(migrated_database_url)
    try:
        transaction = connection.transaction()
        await transaction.start()
        assert (
            await connection.execute(_SESSION_INSERT, *insert_args(login, user.password_hash))
            == "INSERT 0 1"
        )
        purge = asyncio.create_task(pg_store.sessions.purge_expired(LATER, IDLE))
        await waiting_for_a_lock(migrated_database_url, purge)
        await transaction.commit()
        assert await purge == 1
    finally:
        await connection.close()
    [stored] = await pg_store.sessions.list_for_user(user.id)
    assert (stored.id, stored.user_agent) == (login.id, agent)
    assert await agents_stored(migrated_database_url, agent) == {agent}


async def test_a_login_during_the_purge_of_its_user_agent_stores_its_session_with_it(
    pg_store, migrated_database_url
):
    # The purge has deleted the user agent, not yet committed, when a login with that user agent
    # stores its session: the login must wait and store the user agent anew, not fail.
    agent = an_agent("purged")
    user = a_user()
    await pg_store.users.add(user)
    await pg_store.sessions.add(a_session(user, user_agent=agent), password_hash=user.password_hash)
    connection = await asyncpg.connect(migrated_database_url)
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute("DELETE FROM sessions WHERE user_id = $1", uuid.UUID(user.id))
        await connection.execute(_PURGE_USER_AGENTS)
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM user_agents WHERE user_agent = $1", agent
            )
            == 0
        )
        login = a_session(user, at=LATER, user_agent=agent)
        stored = asyncio.create_task(pg_store.sessions.add(login, password_hash=user.password_hash))
        await waiting_for_a_lock(migrated_database_url, stored)
        await transaction.commit()
        assert await stored is not None
    finally:
        await connection.close()
    [listed] = await pg_store.sessions.list_for_user(user.id)
    assert (listed.id, listed.user_agent) == (login.id, agent)
