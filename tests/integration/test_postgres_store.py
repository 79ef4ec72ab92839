"""The Postgres adapter against a real server: migrations, races, outages and recovery."""

import asyncio
import uuid

import asyncpg
import pytest

from adapters.postgres import PostgresStore, apply_migrations, redacted_dsn
from domain.errors import StoreUnavailable, UsernameTaken
from tests.postgres_provider import truncate_all, with_database
from tests.wiring import Wired

NOWHERE = "postgresql://app:hunter2@127.0.0.1:9/nowhere"


async def test_concurrent_migrations_apply_each_version_once(database_url):
    results = await asyncio.gather(*(apply_migrations(database_url) for _ in range(5)))
    applied = [versions for versions in results if versions]
    assert len(applied) == 1 and applied[0] == sorted(applied[0])
    assert await apply_migrations(database_url) == []
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT version, count(*) AS n FROM schema_migrations GROUP BY version"
        )
    finally:
        await connection.close()
    assert {r["version"] for r in rows} == set(applied[0]) and all(r["n"] == 1 for r in rows)


async def test_concurrent_sign_ups_of_one_name_make_exactly_one_user(pg_store):
    sign_up = Wired(pg_store).use_cases.sign_up
    names = ["racer", "RACER", "Racer", "ｒａｃｅｒ"] * 5
    results = await asyncio.gather(
        *(sign_up.execute(username=n, password="correct horse battery") for n in names),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, UsernameTaken) for r in results if r not in winners)
    assert (await pg_store.users.get_by_username("racer")).id == winners[0].id


async def test_an_unreachable_server_is_store_unavailable_quickly_and_not_ready():
    store = PostgresStore(NOWHERE, connect_timeout=2)
    await asyncio.wait_for(store.open(), 30)  # opening connects nothing yet
    try:
        with pytest.raises(StoreUnavailable) as error:
            await asyncio.wait_for(store.users.get_by_username("alice"), 30)
        assert "hunter2" not in str(error.value) and "nowhere" not in str(error.value)
        assert await asyncio.wait_for(store.ping(), 30) is False
    finally:
        await store.close()
    with pytest.raises(StoreUnavailable):
        await asyncio.wait_for(apply_migrations(NOWHERE), 30)


async def test_a_server_that_never_answers_is_store_unavailable_within_the_timeouts():
    silent = []  # accepted connections, held open and never answered (a black-holed network)
    server = await asyncio.start_server(
        lambda reader, writer: silent.append(writer), "127.0.0.1", 0
    )
    url = f"postgresql://app:hunter2@127.0.0.1:{server.sockets[0].getsockname()[1]}/silent"
    store = PostgresStore(url, connect_timeout=0.5, command_timeout=0.5)
    try:
        await store.open()
        for call in (
            store.users.get_by_username("alice"),
            store.sessions.get_with_user(b"\0" * 32),
        ):
            with pytest.raises(StoreUnavailable):
                await asyncio.wait_for(call, 30)
        assert await asyncio.wait_for(store.ping(), 30) is False
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(apply_migrations(url, connect_timeout=0.5), 30)
    finally:
        await store.close()
        server.close()
        for writer in silent:
            writer.close()


async def test_a_busy_pool_is_store_unavailable_after_the_wait_and_keeps_its_connections(
    migrated_database_url,
):
    store = PostgresStore(migrated_database_url, max_size=1, connect_timeout=0.5)
    await store.open()
    try:
        async with store.connection() as only:
            pid = only.get_server_pid()
            for call in (
                store.users.get_by_username("alice"),
                store.sessions.get_with_user(b"\0" * 32),
            ):
                with pytest.raises(StoreUnavailable):
                    await asyncio.wait_for(call, 30)
            # Readiness is asked on a connection of its own: a full pool is no outage.
            assert await asyncio.wait_for(store.ping(), 30) is True
        # A full pool is not a dead server: the connection stays, no reconnecting under load.
        async with store.connection() as again:
            assert again.get_server_pid() == pid
    finally:
        await store.close()


def test_redacted_dsn_hides_only_the_password():
    assert redacted_dsn(NOWHERE) == "postgresql://app:***@127.0.0.1:9/nowhere"
    assert redacted_dsn("postgresql://postgres@db/x") == "postgresql://postgres@db/x"
    assert (
        redacted_dsn("postgres://db/x?sslmode=require&password=hunter2")
        == "postgres://db/x?sslmode=require&password=***"
    )
    assert redacted_dsn("postgresql://app:hunter2@[::1/x") == "<unparsable database URL>"


@pytest.mark.parametrize("path", ["connection", "hot path"])
async def test_the_pool_recovers_by_itself_after_its_connections_are_killed(
    pg_store, migrated_database_url, path
):
    call = {
        "connection": lambda: pg_store.users.get_by_username("alice"),
        "hot path": lambda: pg_store.sessions.get_with_user(b"\0" * 32),
    }[path]
    await asyncio.gather(
        *(pg_store.users.get_by_username(f"u{i}") for i in range(10))
    )  # warm several
    admin = await asyncpg.connect(migrated_database_url)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    outcomes = []
    for _ in range(5):
        try:
            await call()
            outcomes.append("ok")
        except StoreUnavailable:
            outcomes.append("unavailable")
    # At most the first call sees the cut (when the termination notice is still unread); the
    # pool then replaces every connection, so the very next call works.
    assert outcomes[1:] == ["ok"] * 4
    assert await pg_store.ping()
    await truncate_all(migrated_database_url)


async def test_the_compacting_migration_keeps_every_session(postgres_server_url):
    from adapters.postgres.migrate import migrations

    name = f"sessionauth_upgrade_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    connection = await asyncpg.connect(with_database(postgres_server_url, name))
    try:
        for version, sql in migrations():
            if version.startswith("0004"):
                break
            await connection.execute(sql)
        user = uuid.uuid4()
        await connection.execute("INSERT INTO users VALUES ($1, 'old', 'old', 'h', now())", user)
        for i, agent in enumerate(["firefox", "firefox", None]):
            await connection.execute(
                "INSERT INTO sessions VALUES ($1, $2, $3, now(), now(), now() + interval '1 hour', $4, $5)",
                bytes([i]) * 32,
                uuid.uuid4(),
                user,
                agent,
                "192.0.2.7",
            )
        await connection.execute(dict(migrations())["0004_compact_sessions"])
        rows = await connection.fetch(
            "SELECT a.user_agent, host(s.ip) AS ip FROM sessions s LEFT JOIN user_agents a ON a.id = s.user_agent_id"
        )
        assert sorted((r["user_agent"] or "", r["ip"]) for r in rows) == [
            ("", "192.0.2.7"),
            ("firefox", "192.0.2.7"),
            ("firefox", "192.0.2.7"),
        ]
        assert await connection.fetchval("SELECT count(*) FROM user_agents") == 1
    finally:
        await connection.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_client_address_that_is_not_an_ip_is_kept_as_none(pg_store):
    from tests.records import a_session, a_user

    user = a_user()
    await pg_store.users.add(user)
    session = a_session(user, ip="testclient")
    await pg_store.sessions.add(session, password_hash=user.password_hash)
    assert (await pg_store.sessions.get_with_user(session.token_hash))[0].ip is None
