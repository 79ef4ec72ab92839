"""Why the Postgres store could not be used, as StoreUnavailable.cause tells it (the metrics count
503 answers by it), on both of the adapter's paths (`connection()` and the hot path's
`fetchrow`); and what the pool tells the metrics: connections lent, and each request's wait."""

import asyncio
import uuid

import asyncpg
import pytest

from adapters.postgres import PostgresStore, apply_migrations
from domain.errors import OutageCause, StoreUnavailable
from tests.postgres_provider import SECRET, fresh_database, with_database, with_secret

NOWHERE = "postgresql://app:hunter2@127.0.0.1:9/nowhere"
# One call per path of the adapter: the users repository goes through `connection()`, the
# session lookup of every authenticated request through `fetchrow`.
CALLS = {
    "connection": lambda store: store.users.get_by_username("alice"),
    "hot path": lambda store: store.sessions.get_with_user(b"\0" * 32),
}


async def cause_of(call) -> OutageCause:
    with pytest.raises(StoreUnavailable) as raised:
        await asyncio.wait_for(call, 30)
    assert str(raised.value) == "Store unavailable"  # the same answer whatever the cause
    return raised.value.cause


async def admin(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.mark.parametrize("path", CALLS)
async def test_a_store_not_opened_is_not_open(path):
    store = PostgresStore(NOWHERE)
    assert await cause_of(CALLS[path](store)) is OutageCause.NOT_OPEN


@pytest.mark.parametrize("path", CALLS)
async def test_a_refused_connection_is_unreachable(path):
    store = PostgresStore(NOWHERE, connect_timeout=2)
    await store.open()
    try:
        assert await cause_of(CALLS[path](store)) is OutageCause.UNREACHABLE
    finally:
        await store.close()


@pytest.mark.parametrize("path", CALLS)
async def test_a_server_that_never_answers_is_a_timeout(path):
    silent = []  # accepted, held open and never answered: a black-holed network
    server = await asyncio.start_server(
        lambda reader, writer: silent.append(writer), "127.0.0.1", 0
    )
    url = f"postgresql://app@127.0.0.1:{server.sockets[0].getsockname()[1]}/silent"
    store = PostgresStore(url, connect_timeout=0.3, command_timeout=0.3)
    try:
        await store.open()
        # Waiting for a connection that never comes up is not an exhausted pool: none was lent.
        assert await cause_of(CALLS[path](store)) is OutageCause.TIMEOUT
    finally:
        await store.close()
        server.close()
        for writer in silent:
            writer.close()


@pytest.mark.parametrize("path", CALLS)
async def test_a_pool_whose_connections_are_all_lent_is_exhausted(migrated_database_url, path):
    store = PostgresStore(
        migrated_database_url, max_size=1, connect_timeout=0.3, command_timeout=0.3
    )
    await store.open()
    try:
        async with store.connection():
            assert await cause_of(CALLS[path](store)) is OutageCause.POOL_EXHAUSTED
    finally:
        await store.close()


@pytest.mark.parametrize("path", ["connection", "hot path"])
async def test_a_statement_past_the_command_timeout_is_a_timeout(migrated_database_url, path):
    store = PostgresStore(migrated_database_url, connect_timeout=2, command_timeout=0.3)
    await store.open()

    async def slow() -> None:
        if path == "hot path":
            await store.fetchrow("SELECT pg_sleep(5)")
            return
        async with store.connection() as connection:
            await connection.execute("SELECT pg_sleep(5)")

    try:
        assert await cause_of(slow()) is OutageCause.TIMEOUT
    finally:
        await store.close()


@pytest.mark.parametrize("path", CALLS)
async def test_an_unknown_database_is_rejected(postgres_server_url, path):
    url = with_database(postgres_server_url, f"no_such_database_{uuid.uuid4().hex[:8]}")
    store = PostgresStore(url, connect_timeout=5)
    await store.open()
    try:
        assert await cause_of(CALLS[path](store)) is OutageCause.REJECTED
    finally:
        await store.close()


async def test_a_server_with_no_connection_left_is_too_many_connections(postgres_server_url):
    # A role allowed no connection gets the answer a server at max_connections gives (53300).
    role = f"sessionauth_full_{uuid.uuid4().hex[:8]}"
    # With a password: a server that asks for one (a container) refuses the role before its limit.
    await admin(
        postgres_server_url, f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{SECRET}' CONNECTION LIMIT 0"
    )
    try:
        as_role = with_secret(postgres_server_url, role)
        store = PostgresStore(as_role, connect_timeout=5)
        await store.open()
        try:
            for call in CALLS.values():
                assert await cause_of(call(store)) is OutageCause.TOO_MANY_CONNECTIONS
        finally:
            await store.close()
    finally:
        await admin(postgres_server_url, f'DROP ROLE "{role}"')


async def test_a_write_to_a_read_only_server_is_read_only_not_a_bug(postgres_server_url):
    # A standby left behind by a failover takes reads and refuses writes; a database whose
    # transactions are read-only by default answers the same way.
    with fresh_database(postgres_server_url) as url:
        await apply_migrations(url)
        name = url.rsplit("/", 1)[1]
        await admin(url, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        store = PostgresStore(url, connect_timeout=5)
        await store.open()
        try:
            assert await store.users.get_by_username("alice") is None  # reads still work
            write = "INSERT INTO device_keys (id, key) VALUES (1, 'k') RETURNING id"
            assert await cause_of(store.fetchrow(write)) is OutageCause.READ_ONLY
            assert await cause_of(store.device_key()) is OutageCause.READ_ONLY
        finally:
            await store.close()


async def test_each_request_tells_how_long_it_waited_for_a_connection(migrated_database_url):
    waits: list[float] = []
    store = PostgresStore(
        migrated_database_url,
        max_size=1,
        connect_timeout=0.3,
        command_timeout=0.3,
        on_acquire=waits.append,
    )
    await store.open()
    try:
        for call in CALLS.values():
            await call(store)
        assert len(waits) == 2 and all(0 <= wait < 30 for wait in waits)
        async with store.connection():
            with pytest.raises(StoreUnavailable):
                await CALLS["hot path"](store)
        # the wait that ended in a refusal is told too, with the time it took
        assert len(waits) == 4 and waits[3] >= 0.3
    finally:
        await store.close()


async def test_the_pool_tells_its_size_and_the_connections_lent(migrated_database_url):
    store = PostgresStore(migrated_database_url, max_size=3)
    assert (store.pool_size, store.pool_in_use) == (3, 0)  # not open yet
    await store.open()
    try:
        async with store.connection():
            assert store.pool_in_use == 1
            async with store.connection():
                assert store.pool_in_use == 2
        assert (store.pool_size, store.pool_in_use) == (3, 0)
    finally:
        await store.close()
