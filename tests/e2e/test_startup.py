"""`sessionauth serve`'s start-up, for real: the port opens at once whatever the database does,
/readyz tells when the store is up and turns 200 by itself, configuration errors stop it (and the
other commands) with exit status 2 and their cause, MIGRATE_ON_START=false waits for `sessionauth
migrate`, a read-only database is waited out, and /readyz answers within a second however busy
the request pool is."""

import asyncio
import time
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from tests.constants import PASSWORD
from tests.e2e.refusing_postgres import RefusingPostgres
from tests.e2e.tcp_proxy import TcpProxy, through
from tests.postgres_provider import SECRET, fresh_database, sql, with_database, with_secret
from tests.processes import LIVE, run_cli, serving

WITHIN = 60.0  # seconds: generous for a busy machine; what it bounds would otherwise never end
READYZ_CONTRACT = 1.0  # seconds: the spec's bound on /readyz, whatever the request pool does

COOKIE = {"cookie": "session_id=" + "a" * 43}
NEEDS_THE_STORE = [
    ("POST", "/signup", {"json": {"username": "alice", "password": PASSWORD}}),
    ("POST", "/login", {"auth": ("alice", PASSWORD)}),
    ("GET", "/getusers/me", {"headers": COOKIE}),
    ("GET", "/auth/verify", {"headers": COOKIE}),
    ("GET", "/sessions", {"headers": COOKIE}),
]


def has_schema(url: str) -> bool:
    async def look() -> bool:
        connection = await asyncpg.connect(url)
        try:
            return await connection.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
        finally:
            await connection.close()

    return asyncio.run(look())


def wait_for(check, what: str, deadline: float = WITHIN) -> None:
    until = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < until, f"{what}: not within {deadline} s"
        time.sleep(0.2)


def ready(server) -> bool:
    return httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200


def assert_503_to_all_that_needs_the_store(client: httpx.Client) -> None:
    for method, path, kwargs in NEEDS_THE_STORE:
        response = client.request(method, path, **kwargs)
        assert response.status_code == 503, (path, response.status_code, response.text)
        assert response.json() == {"detail": "Store unavailable"}, path
        assert response.headers["retry-after"].isdigit(), path


@pytest.fixture
def empty_database_url(postgres_server_url):
    with fresh_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def refusing_postgres():
    with RefusingPostgres() as server:
        yield server


@pytest.mark.parametrize("how", ["drop", "blackhole"])
def test_serve_started_with_the_store_down_answers_at_once_then_gets_ready_by_itself(
    empty_database_url, how
):
    upstream = urlsplit(empty_database_url)
    with TcpProxy(upstream.hostname, upstream.port or 5432) as proxy:
        proxy.cut(how)
        url = through(proxy, with_secret(empty_database_url))
        with (
            serving(ready_path=LIVE, DATABASE_URL=url) as server,
            httpx.Client(base_url=server.url, timeout=WITHIN) as client,
        ):
            assert client.get("/healthz").json() == {"status": "ok"}
            not_ready = client.get("/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json() == {"status": "unavailable"}
            assert not_ready.headers["retry-after"].isdigit()
            assert_503_to_all_that_needs_the_store(client)
            wait_for(lambda: "store not ready" in server.output(), "a warning with its cause")

            proxy.restore()
            wait_for(lambda: ready(server), "ready once the database is back")
            assert has_schema(empty_database_url)  # migrated by serve, once it could
            assert (
                client.post("/signup", json={"username": "alice", "password": PASSWORD}).status_code
                == 201
            )
            assert client.post("/login", auth=("alice", PASSWORD)).status_code == 200
            assert client.get("/getusers/me").json()["username"] == "alice"
            assert server.stop() == 0
            log = server.output()
    cause = {"drop": "ConnectionRefusedError", "blackhole": "no answer in time"}[how]
    assert f"store not ready: {cause}" in log
    assert "store ready" in log
    assert SECRET not in log and PASSWORD not in log and "Traceback" not in log


CONFIGURATION_ERRORS = {
    "wrong password": "the server refused the role or password: password authentication failed",
    # Whether the role exists is told only by a server that trusts the connection (a local one);
    # one that asks for a password answers as to a wrong password (a container).
    "unknown role": "the server refused the role or password: ",
    "unknown database": 'no such database: database "no_such_database" does not exist',
    "port not a number": "the database URL is malformed: a port is not a number",
    "port out of range": "the database URL is malformed: a port is not between 1 and 65535",
}


def misconfigured_url(error: str, server_url: str, refusing: RefusingPostgres) -> str:
    host = urlsplit(server_url).hostname
    return {
        "wrong password": f"postgresql://app:{SECRET}@127.0.0.1:{refusing.port}/app",
        "unknown role": with_secret(server_url, "no_such_role"),
        "unknown database": with_secret(with_database(server_url, "no_such_database")),
        "port not a number": f"postgresql://app:{SECRET}@{host}:fivefourthree/app",
        "port out of range": f"postgresql://app:{SECRET}@{host}:70000/app",
    }[error]


@pytest.mark.parametrize(
    "command",
    [("serve", "--port", "0"), ("migrate",), ("purge-expired",), ("revoke-sessions", "alice")],
    ids=lambda command: command[0],
)
@pytest.mark.parametrize("error", CONFIGURATION_ERRORS)
def test_a_configuration_error_stops_each_command_at_once_with_status_2_naming_it(
    postgres_server_url, refusing_postgres, command, error
):
    url = misconfigured_url(error, postgres_server_url, refusing_postgres)
    started = time.monotonic()
    result = run_cli(*command, DATABASE_URL=url)  # run_cli's own timeout bounds the wait
    assert result.returncode == 2, (time.monotonic() - started, result.stderr)
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("sessionauth: configuration error: PostgreSQL at ")
    assert CONFIGURATION_ERRORS[error] in last_line
    assert SECRET not in result.stderr + result.stdout and "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_configuration_error_found_after_an_outage_at_start_stops_serve_with_status_2(
    refusing_postgres, workers
):
    # Down at start; once it answers, it refuses the password.
    with TcpProxy("127.0.0.1", refusing_postgres.port) as proxy:
        proxy.cut("drop")
        url = through(proxy, f"postgresql://app:{SECRET}@127.0.0.1:5432/app")
        with serving("--workers", workers, ready_path=LIVE, DATABASE_URL=url) as server:
            wait_for(lambda: "store not ready" in server.output(), "a warning with its cause")
            proxy.restore()
            assert server.process.wait(WITHIN) == 2
            log = server.output()
    assert "configuration error: the server refused the role or password" in log
    last_line = log.strip().splitlines()[-1]
    assert last_line.startswith("sessionauth: configuration error: PostgreSQL at ")
    assert "password authentication failed" in last_line
    assert SECRET not in log and "Traceback" not in log


def test_without_migrate_on_start_serve_waits_unready_for_sessionauth_migrate(
    empty_database_url,
):
    url = with_secret(empty_database_url)
    with (
        serving(ready_path=LIVE, DATABASE_URL=url, MIGRATE_ON_START="false") as server,
        httpx.Client(base_url=server.url, timeout=WITHIN) as client,
    ):
        wait_for(lambda: "run `sessionauth migrate`" in server.output(), "the reason, logged")
        assert client.get("/readyz").status_code == 503
        assert_503_to_all_that_needs_the_store(client)
        assert not has_schema(empty_database_url)  # serve applied nothing

        migrate = run_cli("migrate", DATABASE_URL=url)
        assert migrate.returncode == 0, migrate.stderr
        wait_for(lambda: ready(server), "ready once migrated")
        assert (
            client.post("/signup", json={"username": "alice", "password": PASSWORD}).status_code
            == 201
        )
        log = server.output()
    assert "MIGRATE_ON_START=false" in log and SECRET not in log and "Traceback" not in log


def test_an_edited_migration_found_after_an_outage_at_start_stops_serve_with_status_2(
    empty_database_url,
):
    assert run_cli("migrate", DATABASE_URL=empty_database_url).returncode == 0
    sql(
        empty_database_url,
        "UPDATE schema_migrations SET checksum = repeat('0', 64) "
        "WHERE version = '0003_revocation_notify'",
    )
    upstream = urlsplit(empty_database_url)
    with TcpProxy(upstream.hostname, upstream.port or 5432) as proxy:
        proxy.cut("drop")
        url = through(proxy, empty_database_url)
        with serving(ready_path=LIVE, DATABASE_URL=url) as server:
            proxy.restore()
            assert server.process.wait(WITHIN) == 2
            log = server.output()
    assert "0003_revocation_notify.sql" in log.strip().splitlines()[-1]


END_SESSIONS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1"
    " AND pid <> pg_backend_pid()"
)


def test_a_read_only_database_is_waited_out_and_refuses_writes_with_503(empty_database_url):
    database = urlsplit(empty_database_url).path.lstrip("/")
    read_only = f'ALTER DATABASE "{database}" SET default_transaction_read_only = on'
    writable = f'ALTER DATABASE "{database}" RESET default_transaction_read_only'
    admin = with_database(empty_database_url, "postgres")

    def end_sessions() -> None:
        # Settings apply to new sessions: end the service's, and it reconnects to the new state.
        sql(admin, END_SESSIONS, database)

    sql(admin, read_only)

    migrate = run_cli("migrate", DATABASE_URL=empty_database_url)
    assert migrate.returncode == 1
    assert "the database is read-only" in migrate.stderr.strip().splitlines()[-1]
    assert "Traceback" not in migrate.stderr

    with (
        serving(ready_path=LIVE, DATABASE_URL=with_secret(empty_database_url)) as server,
        httpx.Client(base_url=server.url, timeout=WITHIN) as client,
    ):
        wait_for(lambda: "the database is read-only" in server.output(), "the reason, logged")
        assert client.get("/readyz").status_code == 503
        sql(admin, writable)
        wait_for(lambda: ready(server), "ready once the database takes writes")
        assert (
            client.post("/signup", json={"username": "alice", "password": PASSWORD}).status_code
            == 201
        )

        sql(admin, read_only)  # a fail-over to a standby, say
        end_sessions()
        for _ in range(3):
            refused = client.post("/signup", json={"username": "bob", "password": PASSWORD})
            assert refused.status_code == 503, refused.text
            assert refused.json() == {"detail": "Store unavailable"}
        assert client.post("/login", auth=("alice", PASSWORD)).status_code == 503
        wait_for(lambda: client.get("/readyz").status_code == 503, "unready while read-only")

        sql(admin, writable)
        end_sessions()
        wait_for(lambda: ready(server), "ready again")
        # The pool finds its connections ended at the first use, and replaces them all.
        wait_for(
            lambda: client.post("/login", auth=("alice", PASSWORD)).status_code == 200,
            "logins again",
        )
        log = server.output()
    assert "Traceback" not in log and SECRET not in log


# How many of the service's connections wait for the lock on users.
HELD = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'users'::regclass"


def test_readyz_answers_within_a_second_while_every_pool_connection_is_held(
    empty_database_url,
):
    settings = {
        "DATABASE_POOL_SIZE": "2",
        "DATABASE_TIMEOUT": "30",  # requests wait for the lock rather than give up
        "SESSION_CACHE": "false",  # every session check asks the database
    }
    with (
        serving(DATABASE_URL=empty_database_url, **settings) as server,
        httpx.Client(base_url=server.url, timeout=WITHIN) as client,
    ):
        client.post("/signup", json={"username": "alice", "password": PASSWORD})
        assert client.post("/login", auth=("alice", PASSWORD)).status_code == 200
        cookie = {"cookie": f"session_id={client.cookies['session_id']}"}

        async def hold_the_pool() -> list[int]:
            # The users table locked from here: every session check waits on its pool connection,
            # and the requests beyond the pool's two wait for one.
            admin = await asyncpg.connect(empty_database_url)
            async with httpx.AsyncClient(base_url=server.url, timeout=WITHIN) as http:
                try:
                    async with admin.transaction():
                        await admin.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                        waiting = [
                            asyncio.create_task(http.get("/getusers/me", headers=cookie))
                            for _ in range(6)
                        ]
                        async with asyncio.timeout(WITHIN):
                            while await admin.fetchval(HELD) < 2:  # noqa: ASYNC110 - no event to await
                                await asyncio.sleep(0.05)
                        for _ in range(5):
                            started = time.monotonic()
                            answer = await http.get("/readyz")
                            took = time.monotonic() - started
                            assert answer.status_code in (200, 503)
                            assert took < READYZ_CONTRACT, took
                        assert not any(w.done() for w in waiting)  # held all along
                finally:
                    await admin.close()
                return [(await w).status_code for w in waiting]

        assert asyncio.run(hold_the_pool()) == [200] * 6
