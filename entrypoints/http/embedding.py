"""sessionauth inside a FastAPI application of your own.

    auth = SessionAuth.from_env()              # or SessionAuth.from_settings(Settings(...))
    app = FastAPI()
    auth.install(app, prefix="/auth")          # /auth/signup, /auth/login, /auth/logout, ...

    @app.get("/notes")
    async def notes(user: Annotated[CurrentUser, Depends(auth.current_user)]) -> ...

`install` mounts the service's own app (the same routes, error answers, cross-site defence and
headers as `sessionauth serve`) as a sub-application, so none of that leaks into the host app:
its routes, exception handlers and middleware stay as they were. Starlette does not run a mounted
app's lifespan, so `install` wraps the host app's lifespan instead. `current_user` turns every
failure into an HTTPException, which any FastAPI app answers as `{"detail": ...}` without our
handlers.
"""

# No `from __future__ import annotations`: FastAPI must see the dependency's annotations as
# objects, and `scheme` is a local name it could not resolve from a string.

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import APIKeyCookie
from starlette.types import Receive, Scope, Send

from application import Authenticated
from domain.errors import MigrationChanged, StoreMisconfigured
from entrypoints.container import Container, build_container
from entrypoints.http.app import create_app
from entrypoints.http.client_address import ClientAddress
from entrypoints.http.cookies import SessionCookie
from entrypoints.http.cross_site import CrossSiteDefence
from entrypoints.http.errors import Refusal, unavailable_counter
from entrypoints.http.session_gate import SessionGate
from entrypoints.lifecycle import running
from entrypoints.settings import Settings, load_settings

__all__ = ["CurrentUser", "SessionAuth", "Settings"]

# Answers about who is asking must not be kept by a shared cache.
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """Who is asking. Holds no secret (no password hash, no token), so an endpoint may return it
    as it is."""

    user_id: str
    username: str  # as signed up (NFKC form, case kept)
    created_at: datetime
    session_id: str  # the session's public id, as GET {prefix}/sessions lists it

    @classmethod
    def of(cls, current: Authenticated) -> "CurrentUser":
        return cls(
            user_id=current.user.id,
            username=current.user.username.display,
            created_at=current.user.created_at,
            session_id=current.session.id,
        )


async def _rules_only(scope: Scope, receive: Receive, send: Send) -> None:
    # SessionAuth uses CrossSiteDefence for its rules (`refuses`), never as a middleware.
    raise RuntimeError("CrossSiteDefence is used here for its rules only")


class SessionAuth:
    """sessionauth's routes and a `current_user` dependency for an application of your own.

    `migrate`: on Postgres, apply pending schema migrations when the app starts (under the same
    advisory lock as `sessionauth serve`, so several workers may start at once); pass False when
    your deployment runs `sessionauth migrate` itself. None (the default): MIGRATE_ON_START.
    """

    def __init__(self, container: Container, *, migrate: bool | None = None) -> None:
        self.container = container
        self.settings: Settings = container.settings()
        self._migrate = migrate
        self._running = False
        self._cookie = SessionCookie.from_settings(self.settings)
        self._gate = SessionGate(
            container.resolve_session, self._cookie, unavailable_counter(container.metrics())
        )
        self._cross_site = CrossSiteDefence(
            _rules_only, self.settings.origins, ClientAddress(self.settings.proxies)
        )
        self.current_user = self._current_user_dependency()

    @classmethod
    def from_settings(cls, settings: Settings, *, migrate: bool | None = None) -> "SessionAuth":
        """`Settings(database_url=..., ...)`: arguments first, then the environment, then the
        defaults. No `database_url` (and no DATABASE_URL), or `memory:`, is the in-memory store."""
        return cls(build_container(settings), migrate=migrate)

    @classmethod
    def from_env(cls, *, migrate: bool | None = None) -> "SessionAuth":
        """The same environment variables as `sessionauth serve`; ConfigError names a bad one."""
        return cls(build_container(load_settings()), migrate=migrate)

    def install(self, app: FastAPI, prefix: str = "/auth") -> None:
        """Mount the routes under `prefix`, and run sessionauth for as long as `app` runs: it
        starts before the app's own lifespan (see `running`) and stops after it ends."""
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError("prefix must start with '/' and not end with it, e.g. '/auth'")
        app.mount(prefix, create_app(self.container, fast_path=False), name="sessionauth")
        own_lifespan = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[Any]:
            async with self.running(), own_lifespan(app) as state:
                yield state

        app.router.lifespan_context = lifespan

    @asynccontextmanager
    async def running(self) -> AsyncIterator["SessionAuth"]:
        """Bring the store up (migrations, see `migrate`; the schema checked; the store opened),
        build the hasher and purge expired sessions in the background; close it all on exit.
        `install` enters it for you; enter it yourself to use `container`'s use-cases without
        an app.

        One attempt is made before it yields, so a store that answers is ready then. A store
        that does not answer does not stop the start: requests that need it get 503 (and
        `{prefix}/readyz` 503) while attempts go on in the background, until it is ready. A
        configuration error found by that first attempt (a wrong role or password, a database
        that does not exist, a malformed URL, an edited migration) raises RuntimeError; one
        found later is logged as an error at each attempt."""
        if self._running:
            raise RuntimeError(
                "this SessionAuth is already running (installed twice, or entered twice?)"
            )
        self._running = True
        started = False
        try:
            async with running(self.container, migrate=self._migrate):
                started = True
                yield self
        except StoreMisconfigured as error:
            if started:
                raise
            store = self.container.store().describe()
            raise RuntimeError(f"sessionauth: {store}: {error.detail}") from None
        except MigrationChanged as error:
            if started:
                raise
            raise RuntimeError(f"sessionauth: {error}") from None
        finally:
            self._running = False

    def _current_user_dependency(self) -> Callable[..., Awaitable[CurrentUser]]:
        # Declared through APIKeyCookie so that the host app's OpenAPI document shows the cookie;
        # its value (Starlette's reading) is unused: SessionGate reads the cookie, as every path.
        scheme = APIKeyCookie(name=self._cookie.name, auto_error=False, scheme_name="sessionCookie")
        gate, cross_site = self._gate, self._cross_site

        async def current_user(
            request: Request, response: Response, _declared: Annotated[str | None, Depends(scheme)]
        ) -> CurrentUser:
            """The user the session cookie authenticates, or 401 (and an invalid cookie expired).
            An unsafe request (POST, PUT, PATCH, DELETE) from another site gets 403: the cookie
            goes along with such requests, so they must not act on the user's behalf."""
            if cross_site.refuses(request.scope):
                raise HTTPException(403, "Cross-site request refused", headers=_NO_STORE)
            outcome = await gate.check(request.scope)
            if isinstance(outcome, Refusal):
                raise HTTPException(
                    outcome.status, outcome.detail, headers={**_NO_STORE, **dict(outcome.headers)}
                )
            response.headers["Cache-Control"] = "no-store"
            return CurrentUser.of(outcome)

        return current_user
