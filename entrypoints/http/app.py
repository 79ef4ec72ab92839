"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp

from adapters.memory import InMemoryStore
from domain.errors import DomainError
from entrypoints.container import Container, build_container
from entrypoints.http.client_address import ClientAddress
from entrypoints.http.cookies import SessionCookie
from entrypoints.http.cross_site import CrossSiteDefence
from entrypoints.http.errors import install_error_handlers
from entrypoints.http.fast_path import FastPath
from entrypoints.http.middleware import BodySizeLimit, SecurityHeaders
from entrypoints.http.routes import build_router
from entrypoints.http.ui import BrowserPages, build_ui_router
from entrypoints.settings import load_settings

log = logging.getLogger("sessionauth")


class SessionAuthAPI(FastAPI):
    """FastAPI, with the fast path for the hottest GETs in front of its whole middleware stack
    (Starlette's error and FastAPI's own middleware included): those requests then cost about
    what a pure ASGI app costs. See entrypoints/http/fast_path.py."""

    fast_path: FastPath | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if self.fast_path is None:
            return stack
        self.fast_path.app = stack
        return self.fast_path


def create_app(container: Container, *, fast_path: bool = True) -> FastAPI:
    """The HTTP API. `fast_path=False` leaves every request to FastAPI's routes (the fast path
    answers a few hot GETs the same way, only cheaper)."""
    settings = container.settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = container.storage.store()
        if isinstance(store, InMemoryStore):
            log.warning("in-memory store: nothing persists; set DATABASE_URL to use PostgreSQL")
        await store.open()
        container.hasher()  # built now: its dummy hash is made at start, not on the first login
        purger = asyncio.create_task(_purge_periodically(container, settings.purge_interval))
        try:
            yield
        finally:
            purger.cancel()
            await asyncio.gather(purger, return_exceptions=True)
            await store.close()
            container.hasher().close()

    app = SessionAuthAPI(
        title="sessionauth",
        summary="Session-based authentication: server-side sessions in an HttpOnly cookie.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.session_cookie = SessionCookie.from_settings(settings)
    app.state.client_address = addresses = ClientAddress(settings.proxies)
    app.include_router(build_router(settings.session_cookie_name))
    app.include_router(build_ui_router())
    install_error_handlers(app)
    # Starlette runs the last added outermost: the browser pages' headers and HTML errors, the
    # security headers, cross-site checks, then body size and FastAPI itself (the fast path for
    # the hot authenticated GETs stands in front of them all).
    app.add_middleware(BodySizeLimit)
    app.add_middleware(CrossSiteDefence, trusted_origins=settings.origins, addresses=addresses)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BrowserPages)
    if fast_path:
        app.fast_path = FastPath(resolve=container.resolve_session, cookie=app.state.session_cookie)
    _declare_basic_scheme(app)
    return app


async def _purge_periodically(container: Container, interval: int) -> None:
    """Delete expired sessions every `interval` seconds (0: never). Runs beside the requests, one
    statement at a time; on Postgres only one instance purges in a given round (the adapter takes
    a try-lock), so instances do not fight over the same rows."""
    if interval <= 0:
        return
    purge = container.purge_expired_sessions()
    while True:
        await asyncio.sleep(interval)
        try:
            purged = await purge.execute()
        except DomainError:
            log.warning("purge of expired sessions failed; will retry", extra={"interval": interval})
            continue
        if purged:
            log.info("purged expired sessions", extra={"purged": purged})


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory` and `sessionauth serve --workers N`: each worker builds its own."""
    return create_app(build_container(load_settings()))


def _declare_basic_scheme(app: FastAPI) -> None:
    """Add the HTTP Basic scheme that /login's hand-written parser accepts to the document."""
    default_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = default_openapi()
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["basicAuth"] = {
                "type": "http",
                "scheme": "basic",
                "description": "username:password, UTF-8 (RFC 7617)",
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
