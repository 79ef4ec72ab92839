"""The app on the in-memory store (or Postgres) behind an httpx client, and the sign-up and login
that most API tests begin with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from dependency_injector import providers
from fastapi import FastAPI

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.constants import FAST_ARGON2, PASSWORD
from tests.fakes import FakeClock


class AppClient(httpx.AsyncClient):
    """A client of one app, which tests reach as `client.app`."""

    app: FastAPI


@asynccontextmanager
async def running_client(
    clock: FakeClock | None = None,
    fast_path: bool = True,
    database_url: str | None = None,
    mail_sender: bool = False,
    **settings: object,
) -> AsyncIterator[AppClient]:
    """The app on the in-memory store, or on Postgres when given a database URL. With mail on,
    messages stay in the outbox (`store().outbox.pending`) for the test to read, unless
    `mail_sender` runs the background sender, which sends and deletes them."""
    container = build_container(
        load_settings(database_url=database_url, **{**FAST_ARGON2, **settings})
    )
    if clock is not None:
        container.clock.override(providers.Object(clock))
    if not mail_sender:
        container.mail_sender.override(providers.Object(None))
    app = create_app(container, fast_path=fast_path)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 50000))
    # https: the session cookie is Secure by default and httpx would not send it back over http.
    async with (
        app.router.lifespan_context(app),
        AppClient(transport=transport, base_url="https://testserver") as client,
    ):
        client.app = app
        yield client


async def sign_up(
    client: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD
) -> httpx.Response:
    response = await client.post("/signup", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return response


async def log_in(
    client: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD
) -> httpx.Response:
    response = await client.post("/login", auth=(username, password))
    assert response.status_code == 200, response.text
    return response
