"""A query given a value it cannot encode is a bug in our code, not an outage: asyncpg's
DataError must not be translated to StoreUnavailable (a 503 with Retry-After, as if Postgres were
away) but reach the last-resort handler: a 500, logged with its traceback."""

import logging

import asyncpg
import httpx
import pytest
from asyncpg.exceptions import _base as asyncpg_base

from adapters.postgres.database import is_outage
from domain.errors import StoreUnavailable
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.constants import FAST_ARGON2, PASSWORD

UNENCODABLE = ("SELECT $1::int", "not a number")


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.DataError("invalid input for query argument $1"),
        asyncpg_base.DataError("the client-side one, an InterfaceError"),
        asyncpg.ClientConfigurationError("bad setting"),
        asyncpg.UnsupportedServerFeatureError("no such feature"),
    ],
    ids=type,
)
def test_programming_errors_are_not_outages(error):
    assert not is_outage(error)


@pytest.mark.parametrize(
    "error",
    [ConnectionResetError(), TimeoutError(), asyncpg.InterfaceError("connection is closed")],
    ids=type,
)
def test_a_lost_server_is_an_outage(error):
    assert is_outage(error)


async def test_an_unencodable_parameter_is_raised_as_it_is(pg_store):
    with pytest.raises(asyncpg.DataError):
        await pg_store.fetchrow(*UNENCODABLE)
    with pytest.raises(asyncpg.DataError):
        async with pg_store.connection() as connection:
            await connection.fetchval(*UNENCODABLE)
    assert await pg_store.ping()


async def test_a_programming_error_in_the_store_is_a_logged_500(
    migrated_database_url, monkeypatch, caplog
):
    container = build_container(load_settings(database_url=migrated_database_url, **FAST_ARGON2))
    app = create_app(container)
    # The last-resort handler answers, then Starlette re-raises for the server to log; here the
    # answer is what is checked, so the transport keeps the exception to itself.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://testserver") as client,
    ):
        store = container.store()

        async def lookup_with_a_bug(username: str):
            return await store.fetchrow(*UNENCODABLE)

        monkeypatch.setattr(store.users, "get_by_username", lookup_with_a_bug)
        with caplog.at_level(logging.ERROR, logger="sessionauth.http"):
            response = await client.post(
                "/signup", json={"username": "alice", "password": PASSWORD}
            )
    assert response.status_code == 500, response.text
    assert "retry-after" not in response.headers
    assert response.json() == {"detail": "Internal server error"}
    [record] = [r for r in caplog.records if r.message == "unhandled error"]
    assert isinstance(record.exc_info[1], asyncpg.DataError)
    assert not isinstance(record.exc_info[1], StoreUnavailable)
