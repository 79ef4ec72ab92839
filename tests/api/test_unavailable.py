"""A store that is down gives 503 with Retry-After; hashing overload gives 503 too."""

import pytest
from dependency_injector import providers

from tests.api.failing_adapters import DownStore, OverloadedHasher, client_for
from tests.constants import PASSWORD


async def request_all(client):
    return {
        "signup": await client.post("/signup", json={"username": "alice", "password": PASSWORD}),
        "login": await client.post("/login", auth=("alice", PASSWORD)),
        "me": await client.get("/getusers/me", headers={"cookie": "session_id=" + "a" * 43}),
        "logout": await client.post("/logout", headers={"cookie": "session_id=" + "a" * 43}),
    }


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
