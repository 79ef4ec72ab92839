"""A store that is down gives 503 with Retry-After; hashing overload gives 503 too."""

import httpx
import pytest
from dependency_injector import providers

from domain.errors import HashingOverloaded, StoreUnavailable
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.api.conftest import FAST_ARGON2, PASSWORD


class DownStore:
    """Every repository call fails as a Postgres adapter does when the server is gone."""

    def __getattr__(self, name):
        async def unavailable(*args, **kwargs):
            raise StoreUnavailable()

        return unavailable

    @property
    def users(self):
        return self

    @property
    def sessions(self):
        return self

    @property
    def attempts(self):
        return self

    shared = True

    async def open(self):
        pass

    async def close(self):
        pass

    async def ping(self):
        return False


class OverloadedHasher:
    async def hash(self, *args, **kwargs):
        raise HashingOverloaded()

    verify = verify_dummy = calibrate_dummy = hash

    def close(self):
        pass


async def request_all(client):
    return {
        "signup": await client.post("/signup", json={"username": "alice", "password": PASSWORD}),
        "login": await client.post("/login", auth=("alice", PASSWORD)),
        "me": await client.get("/getusers/me", headers={"cookie": "session_id=" + "a" * 43}),
        "logout": await client.post("/logout", headers={"cookie": "session_id=" + "a" * 43}),
    }


async def client_for(override):
    container = build_container(load_settings(database_url=None, **FAST_ARGON2))
    override(container)
    app = create_app(container)
    return app, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    )


async def test_a_down_store_answers_503_with_retry_after():
    app, client = await client_for(lambda c: c.store.override(providers.Singleton(DownStore)))
    async with app.router.lifespan_context(app), client:
        for name, response in (await request_all(client)).items():
            assert response.status_code == 503, name
            assert response.headers["retry-after"].isdigit(), name
            assert response.json() == {"detail": "Store unavailable"}
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json() == {"status": "unavailable"}
        assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("path", ["/signup", "/login"])
async def test_hashing_overload_answers_503_with_retry_after(path):
    app, client = await client_for(
        lambda c: c.hasher.override(providers.Object(OverloadedHasher()))
    )
    async with app.router.lifespan_context(app), client:
        response = await client.post(path, json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
