"""The Postgres adapter tells a configuration the server will never accept (StoreMisconfigured)
from an outage (StoreUnavailable), gives each its cause without the password, waits out a
read-only database as an outage, and answers the readiness question on a connection of its own."""

import asyncio
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import asyncpg
import pytest

from adapters.postgres import PostgresStore, apply_migrations
from adapters.postgres.database import hide_password, redacted_dsn
from domain.errors import StoreMisconfigured, StoreUnavailable
from domain.schema import MigrationState
from domain.user import User, Username
from tests.e2e.refusing_postgres import RefusingPostgres
from tests.postgres_provider import SECRET, fresh_database, with_database, with_secret
from tests.processes import free_port


@pytest.fixture(scope="module")
def refusing_postgres():
    with RefusingPostgres() as server:
        yield server


@pytest.fixture
def misconfigured(request, postgres_server_url, refusing_postgres):
    host = urlsplit(postgres_server_url).hostname
    return {
        "wrong password": f"postgresql://app:{SECRET}@127.0.0.1:{refusing_postgres.port}/app",
        "unknown role": with_secret(postgres_server_url, "no_such_role"),
        "unknown database": with_secret(with_database(postgres_server_url, "no_such_database")),
        "port not a number": f"postgresql://app:{SECRET}@{host}:fivefourthree/app",
        "unencoded slash in the password": f"postgresql://app:{SECRET}/x@{host}:5432/app",
        "unknown sslmode": f"postgresql://app:{SECRET}@{host}:5432/app?sslmode=sometimes",
    }[request.param]


CAUSES = {
    "wrong password": 'the server refused the role or password: password authentication failed for user "app"',
    # Whether the role exists is told only by a server that trusts the connection (a local one);
    # one that asks for a password answers as to a wrong password (a container).
    "unknown role": "the server refused the role or password: ",
    "unknown database": 'no such database: database "no_such_database" does not exist',
    "port not a number": "the database URL is malformed: a port is not a number",
    "unencoded slash in the password": "the database URL is malformed: a port is not a number",
    "unknown sslmode": "the database URL is malformed: `sslmode` parameter must be one of",
}


@pytest.mark.parametrize("misconfigured", list(CAUSES), indirect=True)
@pytest.mark.parametrize("call", ["migrate", "schema_status"])
async def test_a_configuration_the_server_refuses_is_store_misconfigured_with_its_cause(
    request, misconfigured, call
):
    store = PostgresStore(misconfigured, connect_timeout=5)
    with pytest.raises(StoreMisconfigured) as raised:
        await asyncio.wait_for(getattr(store, call)(), 30)
    expected = CAUSES[request.node.callspec.params["misconfigured"]]
    assert raised.value.detail.startswith(expected), raised.value.detail
    assert SECRET not in raised.value.detail and SECRET not in str(raised.value)
    assert SECRET not in store.describe()


async def test_an_unreachable_server_is_an_outage_with_its_cause():
    url = f"postgresql://app:{SECRET}@127.0.0.1:{free_port()}/app"
    with pytest.raises(StoreUnavailable) as raised:
        await asyncio.wait_for(apply_migrations(url), 30)
    assert not isinstance(raised.value, StoreMisconfigured)
    assert raised.value.detail.startswith("ConnectionRefusedError")
    assert str(raised.value) == "Store unavailable"  # what a client may see


@pytest.mark.parametrize(
    ("url", "password", "shown"),
    [
        (f"postgresql://app:{SECRET}@db:5432/x", SECRET, "postgresql://app:***@db:5432/x"),
        # An unencoded /, ? or # ends the host part inside the password: nothing of it is shown.
        (f"postgresql://app:a/{SECRET}@db:5432/x", f"a/{SECRET}", "<unparsable database URL>"),
        (f"postgresql://app:a?{SECRET}@db:5432/x", f"a?{SECRET}", "<unparsable database URL>"),
        (f"postgresql://app:a#{SECRET}@db:5432/x", f"a#{SECRET}", "<unparsable database URL>"),
        (f"postgresql://app:a@{SECRET}@db/x", f"a@{SECRET}", "postgresql://app:***@db/x"),
        (f"postgresql://app:a%40{SECRET}@db/x", f"a@{SECRET}", "postgresql://app:***@db/x"),
        (f"postgresql://db/x?password={SECRET}", SECRET, "postgresql://db/x?password=***"),
    ],
)
def test_a_password_is_never_shown_however_it_is_written(url, password, shown):
    assert redacted_dsn(url) == shown
    for quoted in (url, password):  # a message may hold the URL, or the password alone
        assert SECRET not in hide_password(f"could not use {quoted}: refused", url)


@pytest.fixture
async def read_only_database(postgres_server_url):
    """A migrated database that takes no writes from new sessions, as a hot standby would not."""
    with fresh_database(postgres_server_url) as url:
        await apply_migrations(url)
        name = urlsplit(url).path.lstrip("/")
        admin = await asyncpg.connect(postgres_server_url)
        try:
            await admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        finally:
            await admin.close()
        yield url


async def test_a_read_only_database_refuses_writes_as_an_outage_and_is_not_ready(
    read_only_database,
):
    store = PostgresStore(read_only_database, connect_timeout=5)
    await store.open()
    try:
        user = User(
            id=str(uuid.uuid4()),
            username=Username.parse("alice"),
            password_hash="$argon2id$...",
            created_at=datetime.now(UTC),
        )
        with pytest.raises(StoreUnavailable) as raised:
            await store.users.add(user)
        assert raised.value.detail.startswith("the database is read-only")
        assert await store.users.get_by_username("alice") is None  # reads still work
        assert await store.ping() is False
        status = await store.schema_status()  # reading the schema does too
        assert status.having(MigrationState.APPLIED)
        assert not status.having(MigrationState.PENDING)
        with pytest.raises(StoreUnavailable) as raised:
            await apply_migrations(read_only_database)
        assert raised.value.detail.startswith("the database is read-only")
    finally:
        await store.close()


async def test_readiness_questions_asked_together_share_one_connection(migrated_database_url):
    store = PostgresStore(migrated_database_url, connect_timeout=5)
    await store.open()
    try:
        answers = await asyncio.gather(*(store.ping() for _ in range(20)))
        assert answers == [True] * 20
        admin = await asyncpg.connect(migrated_database_url)
        try:
            readiness = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND query LIKE '%transaction_read_only%' AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert readiness == 1
    finally:
        await store.close()
