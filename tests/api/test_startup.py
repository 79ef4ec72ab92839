"""The app before its store is up, as `serve` runs it (the port open, the store brought up in the
background): /healthz answers, /readyz and every route that needs the store answer 503, none 500.
/readyz answers from the readiness state, draining included."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.api.client import AppClient
from tests.constants import FAST_ARGON2, PASSWORD
from tests.processes import free_port

COOKIE = {"cookie": "session_id=" + "a" * 43}
# Every kind of route that needs the store: the JSON API, the fast path's GETs, the pages.
NEEDS_THE_STORE = [
    ("POST", "/signup", {"json": {"username": "alice", "password": PASSWORD}}),
    ("POST", "/login", {"auth": ("alice", PASSWORD)}),
    ("GET", "/getusers/me", {"headers": COOKIE}),
    ("GET", "/protected", {"headers": COOKIE}),
    ("GET", "/auth/verify", {"headers": COOKIE}),
    ("GET", "/sessions", {"headers": COOKIE}),
    ("DELETE", "/sessions", {"headers": COOKIE}),
    ("POST", "/logout", {"headers": COOKIE}),
    ("GET", "/ui/", {"headers": COOKIE}),
]


def nowhere() -> str:
    return f"postgresql://app:hunter2@127.0.0.1:{free_port()}/app"


@asynccontextmanager
async def serving_before_the_store(
    fast_path: bool, database_url: str, **settings: object
) -> AsyncIterator[AppClient]:
    """The app on PostgreSQL, its lifespan entered as serve's workers enter it: without waiting
    for the store."""
    container = build_container(
        load_settings(database_url=database_url, database_timeout=1, **FAST_ARGON2, **settings)
    )
    app = create_app(container, fast_path=fast_path, try_store_first=False)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        AppClient(transport=transport, base_url="https://testserver") as client,
    ):
        client.app = app
        yield client


async def answers_503_to_all_that_needs_the_store(client: httpx.AsyncClient) -> None:
    for method, path, kwargs in NEEDS_THE_STORE:
        response = await client.request(method, path, **kwargs)
        assert response.status_code == 503, (path, response.status_code, response.text)
        assert response.headers["retry-after"].isdigit(), path
        if not path.startswith("/ui/"):
            assert response.json() == {"detail": "Store unavailable"}, path


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast path", "FastAPI only"])
async def test_before_the_store_is_up_every_route_that_needs_it_answers_503(fast_path):
    async with serving_before_the_store(fast_path, nowhere()) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json() == {"status": "unavailable"}
        assert ready.headers["retry-after"].isdigit()
        await answers_503_to_all_that_needs_the_store(client)
        # What needs no store answers as ever.
        assert (await client.get("/openapi.json")).status_code == 200
        assert (await client.get("/ui/login")).status_code == 200


async def test_a_database_without_the_schema_answers_503_not_500_until_migrated(database_url):
    # MIGRATE_ON_START=false on an empty database: the server answers, the tables are missing.
    async with serving_before_the_store(True, database_url, migrate_on_start=False) as client:
        readiness = client.app.state.readiness
        async with asyncio.timeout(30):  # a generous bound: the first attempt finds the schema
            while "sessionauth migrate" not in readiness.reason:  # noqa: ASYNC110 - no event to await
                await asyncio.sleep(0.01)
        assert (await client.get("/readyz")).status_code == 503
        await answers_503_to_all_that_needs_the_store(client)


async def test_readyz_answers_503_until_the_store_is_marked_ready(client):
    client.app.state.readiness.store_ready = False
    assert (await client.get("/readyz")).status_code == 503
    client.app.state.readiness.store_ready = True
    assert (await client.get("/readyz")).status_code == 200
