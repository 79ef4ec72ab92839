"""A host application that embeds sessionauth with SessionAuth, served through httpx's ASGI
transport."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI

from entrypoints.http.embedding import CurrentUser, SessionAuth
from entrypoints.settings import load_settings
from tests.constants import FAST_ARGON2


def make_auth(**settings: object) -> SessionAuth:
    return SessionAuth.from_settings(
        load_settings(**{"database_url": None, **FAST_ARGON2, **settings})
    )


def host_app(auth: SessionAuth, lifespan=None) -> FastAPI:
    app = FastAPI(lifespan=lifespan)
    auth.install(app, prefix="/auth")
    User = Annotated[CurrentUser, Depends(auth.current_user)]

    @app.get("/mine")
    async def mine(user: User) -> CurrentUser:
        return user

    @app.post("/act")
    async def act(user: User) -> dict:
        return {"by": user.username}

    return app


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("192.0.2.30", 50000))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://host.test") as client,
    ):
        yield client
