"""Where the Postgres tests get a server, in the order docs/reliability.md gives:
TEST_DATABASE_URL; else a testcontainers PostgreSQL when a Docker engine answers; else a local
server on 127.0.0.1:5432; else a failure saying how to provide one. Never a skip.

The choice is made lazily, on the first test that needs Postgres, and printed. Each test module
gets a fresh database of its own."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from adapters.postgres import PostgresStore, apply_migrations

LOCAL = "postgresql://postgres@127.0.0.1:5432/postgres"
HOW_TO = (
    "No PostgreSQL for the tests. Provide one of: TEST_DATABASE_URL=postgresql://...; a Docker "
    "engine (../shared/tools/docker-standins postgres:16-alpine starts one here); or a server on "
    "127.0.0.1:5432 accepting user postgres without a password."
)


CHOSEN = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, config) -> None:
    if CHOSEN in config.stash:
        terminalreporter.write_line(f"postgres tests ran on: {config.stash[CHOSEN]}")


def _run(coroutine):
    # In a thread of its own: these sync fixtures may be set up from inside a running event loop.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


async def _answers(url: str) -> bool:
    try:
        connection = await asyncpg.connect(url, timeout=3)
    except Exception:  # noqa: BLE001 - refused, timed out, rejected, protocol trouble: no usable server
        return False
    await connection.close()
    return True


def _docker_answers() -> bool:
    try:
        import docker

        return bool(docker.from_env(timeout=5).ping())
    except Exception:  # noqa: BLE001 - no socket, no permission, no daemon: "no Docker here"
        return False


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def postgres_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")

    def say(path: str) -> None:
        request.config.stash[CHOSEN] = path
        if reporter is None:
            return
        # Fixture setup runs under output capture: without this the line would be swallowed.
        with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
            reporter.ensure_newline()
            if reporter._tw.width_of_current_line:  # the progress dots of -q
                reporter.write("\n")
            reporter.write_line(f"postgres tests: {path}", bold=True)

    if os.environ.get("TEST_DATABASE_URL"):
        say("TEST_DATABASE_URL")
        yield os.environ["TEST_DATABASE_URL"]
        return
    if _docker_answers():
        from testcontainers.community.postgres import PostgresContainer

        say("testcontainers (postgres:16-alpine)")
        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    if _run(_answers(LOCAL)):
        say("local server on 127.0.0.1:5432")
        yield LOCAL
        return
    pytest.fail(HOW_TO, pytrace=False)


@pytest.fixture(scope="module")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database for this test module, dropped afterwards."""
    with fresh_database(postgres_server_url) as url:
        yield url


@contextmanager
def fresh_database(postgres_server_url: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards: for a module whose parameters
    must not share one (tests/e2e/test_forward_auth.py, one per proxy)."""
    name = f"sessionauth_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(postgres_server_url, timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    _run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(postgres_server_url, name)
    finally:
        _run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def migrated_database_url(database_url: str) -> str:
    _run(apply_migrations(database_url))
    return database_url


# A password the tests look for in messages and logs, which must never show it: the secret role's.
SECRET = "hunter2hunter2"
SECRET_ROLE = "sessionauth_secret"
_MAKE_SECRET_ROLE = f"""
DO $$ BEGIN
  CREATE ROLE {SECRET_ROLE} LOGIN SUPERUSER PASSWORD '{SECRET}';
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- made already, maybe just now
END $$"""


def with_secret(url: str, user: str | None = None) -> str:
    """`url` as the secret role (a superuser whose password is SECRET, made on first use), or as
    `user` with SECRET as its password: a URL whose password the tests can look for, accepted by a
    server that asks for passwords (a container) as by one that trusts every local connection."""
    if user is None:
        user = SECRET_ROLE
        _run(_execute(with_database(url, "postgres"), _MAKE_SECRET_ROLE))
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}:{SECRET}@{parts.netloc.rpartition('@')[2]}"))


async def _execute(url: str, statement: str, *args: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement, *args)
    finally:
        await connection.close()


def sql(url: str, statement: str, *args: str) -> None:
    """One statement on a connection of its own, from a test outside any event loop."""
    asyncio.run(_execute(url, statement, *args))


async def truncate_all(url: str) -> None:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute("TRUNCATE users, sessions, attempt_counters, device_keys CASCADE")
    finally:
        await connection.close()


@pytest.fixture
async def pg_store(migrated_database_url: str):
    """An open PostgresStore on empty tables, in the test's own event loop."""
    await truncate_all(migrated_database_url)
    store = PostgresStore(migrated_database_url, max_size=20)
    await store.open()
    yield store
    await store.close()
