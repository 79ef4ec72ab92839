"""The notes example through httpx's ASGI transport, on the in-memory store and on Postgres:
its own endpoints protected by `auth.current_user`, sessionauth's routes under /auth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from dependency_injector import providers

from examples.notes_app.app import create_app
from sessionauth import SessionAuth, Settings, load_settings
from tests.constants import FAST_ARGON2, PASSWORD
from tests.fakes import FakeClock
from tests.postgres_provider import truncate_all

BASE = "https://notes.test"
IDLE_TIMEOUT = Settings.model_fields["session_idle_timeout"].default  # the app keeps the default


@pytest.fixture(params=["memory", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "memory" else request.getfixturevalue("migrated_database_url")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def app(database_url: str | None, clock: FakeClock) -> AsyncIterator[object]:
    if database_url:
        await truncate_all(database_url)
    auth = SessionAuth.from_settings(load_settings(database_url=database_url, **FAST_ARGON2))
    auth.container.clock.override(providers.Object(clock))
    app = create_app(auth)
    async with app.router.lifespan_context(app):
        yield app


def client_of(app: object) -> httpx.AsyncClient:
    # https: the session cookie is Secure by default and httpx would not send it over http.
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("192.0.2.20", 50000)), base_url=BASE
    )


@asynccontextmanager
async def logged_in(app: object, username: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as client:
        signup = await client.post(
            "/auth/signup", json={"username": username, "password": PASSWORD}
        )
        assert signup.status_code == 201, signup.text
        login = await client.post("/auth/login", auth=(username, PASSWORD))
        assert login.status_code == 200, login.text
        yield client


async def test_notes_need_a_session(app):
    async with client_of(app) as client:
        for response in (
            await client.get("/notes"),
            await client.post("/notes", json={"text": "milk"}),
        ):
            assert response.status_code == 401
            assert response.json() == {"detail": "Not authenticated"}
            assert "set-cookie" not in response.headers  # no cookie was sent, none to expire


async def test_each_user_sees_and_deletes_only_their_own_notes(app):
    async with logged_in(app, "alice") as alice, logged_in(app, "bob") as bob:
        first = await alice.post("/notes", json={"text": "milk"})
        second = await alice.post("/notes", json={"text": "eggs"})
        assert first.status_code == second.status_code == 201
        assert [n["text"] for n in (await alice.get("/notes")).json()] == ["eggs", "milk"]
        assert (await bob.get("/notes")).json() == []

        assert (await bob.delete(f"/notes/{first.json()['id']}")).status_code == 404
        assert (await alice.delete(f"/notes/{first.json()['id']}")).status_code == 204
        assert [n["text"] for n in (await alice.get("/notes")).json()] == ["eggs"]


async def test_me_is_the_session_user_without_secrets(app):
    async with logged_in(app, "Alice") as client:
        me = await client.get("/me")
        assert me.status_code == 200
        assert me.headers["cache-control"] == "no-store"
        body = me.json()
        assert set(body) == {"user_id", "username", "created_at", "session_id"}
        assert body["username"] == "Alice"
        assert body["user_id"] == (await client.get("/auth/getusers/me")).json()["user_id"]
        sessions = (await client.get("/auth/sessions")).json()
        assert [s["id"] for s in sessions if s["current"]] == [body["session_id"]]
        assert PASSWORD not in me.text and client.cookies["session_id"] not in me.text


async def test_after_logout_the_old_cookie_is_refused_and_expired(app):
    async with logged_in(app, "alice") as client:
        token = client.cookies["session_id"]
        assert (await client.post("/auth/logout")).status_code == 200
        assert (await client.get("/notes")).status_code == 401

        client.cookies.set("session_id", token)  # as a client that ignored the expiry would
        response = await client.get("/notes")
        assert response.status_code == 401
        assert response.json() == {"detail": "Not authenticated"}
        expired = response.headers["set-cookie"]
        assert expired.startswith("session_id=") and "Max-Age=0" in expired and "Path=/" in expired


async def test_an_idle_session_expires_on_the_apps_own_endpoints(app, clock):
    async with logged_in(app, "alice") as client:
        assert (await client.get("/notes")).status_code == 200
        clock.advance(seconds=IDLE_TIMEOUT)
        response = await client.get("/notes")
        assert response.status_code == 401
        assert response.json() == {"detail": "Session expired"}
        assert "Max-Age=0" in response.headers["set-cookie"]


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ],
)
async def test_a_note_from_another_site_is_refused(app, headers):
    async with logged_in(app, "alice") as client:
        response = await client.post("/notes", json={"text": "forged"}, headers=headers)
        assert response.status_code == 403
        assert response.json() == {"detail": "Cross-site request refused"}
        assert (await client.get("/notes", headers=headers)).json() == []  # reading is not refused


@pytest.mark.parametrize(
    "headers", [{}, {"origin": BASE}, {"sec-fetch-site": "same-origin", "origin": BASE}]
)
async def test_a_note_from_the_app_itself_is_accepted(app, headers):
    async with logged_in(app, "alice") as client:
        assert (
            await client.post("/notes", json={"text": "milk"}, headers=headers)
        ).status_code == 201
