"""The FastAPI application factory."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from entrypoints.access_log import AccessLog
from entrypoints.container import Container, build_container
from entrypoints.http.account_routes import build_account_router
from entrypoints.http.client_address import ClientAddress
from entrypoints.http.cookies import SessionCookie
from entrypoints.http.cross_site import CrossSiteDefence
from entrypoints.http.errors import install_error_handlers, unavailable_counter
from entrypoints.http.fast_path import FastPath
from entrypoints.http.metrics import RequestLatency, add_metrics_route
from entrypoints.http.mfa_routes import build_mfa_router
from entrypoints.http.middleware import BodySizeLimit, SecurityHeaders
from entrypoints.http.observer import RequestObserver
from entrypoints.http.request_text import UnstorableText
from entrypoints.http.route_path import RouteTemplates
from entrypoints.http.routes import build_router
from entrypoints.http.session_gate import SessionGate
from entrypoints.http.ui import BrowserPages, build_ui_router
from entrypoints.http.webauthn_routes import build_webauthn_router
from entrypoints.lifecycle import running
from entrypoints.readiness import LIFESPAN_KEY, Readiness
from entrypoints.serve_stop import stopper
from entrypoints.settings import load_settings
from entrypoints.version import installed_version

log = logging.getLogger("sessionauth")


class SessionAuthAPI(FastAPI):
    """FastAPI, with the fast path for the hottest GETs in front of its whole middleware stack
    (Starlette's error and FastAPI's own middleware included): those requests then cost about
    what a pure ASGI app costs. See entrypoints/http/fast_path.py. In front of both, the request
    observer gives each request its id, its access line and its latency (observer.py)."""

    fast_path: FastPath | None = None
    observer: RequestObserver | None = None
    # Whether FastAPI's own OpenTelemetry instrumentation had a provider when the app started;
    # None until then. See __call__.
    telemetry_enabled: bool | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """FastAPI asks OpenTelemetry on every request whether a provider is configured (about
        4 µs, an eighth of a hot GET). Providers are set up before an app serves (by the
        `opentelemetry-instrument` wrapper, or by FastAPI's auto-configuration in its lifespan),
        so the answer at start is kept: without a provider, HTTP requests go straight to the
        middleware stack, as FastAPI itself sends them then; with one, FastAPI's path is kept."""
        if self.telemetry_enabled is False and scope["type"] == "http":
            if self.root_path:
                scope["root_path"] = self.root_path
            await Starlette.__call__(self, scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        if self.fast_path is not None:
            self.fast_path.app = stack
            stack = self.fast_path
        if self.observer is not None:
            self.observer.app = stack
            stack = self.observer
        return stack

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, with the HTTP Basic scheme that /login's own parser accepts."""
        if self.openapi_schema is None:
            schema = super().openapi()
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["basicAuth"] = {
                "type": "http",
                "scheme": "basic",
                "description": "username:password, UTF-8 (RFC 7617)",
            }
            self.openapi_schema = schema
        return self.openapi_schema


def create_app(
    container: Container,
    *,
    fast_path: bool = True,
    try_store_first: bool = True,
    on_configuration_error: Callable[[str], None] | None = None,
) -> FastAPI:
    """The HTTP API. `fast_path=False` leaves every request to FastAPI's routes (the fast path
    answers a few hot GETs the same way, only cheaper). `try_store_first` and
    `on_configuration_error`: see entrypoints.lifecycle.running."""
    settings = container.settings()
    access_log = AccessLog() if settings.access_log else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Readiness]]:
        try:
            async with running(
                container,
                try_store_first=try_store_first,
                on_configuration_error=on_configuration_error,
            ):
                if isinstance(app, SessionAuthAPI):
                    app.telemetry_enabled = _telemetry_enabled(app)
                # In the lifespan state, for the server that runs the app to mark it draining.
                yield {LIFESPAN_KEY: app.state.readiness}
        finally:
            if access_log is not None:
                access_log.close()  # the last requests' lines, written before the process ends

    app = SessionAuthAPI(
        title="sessionauth",
        summary="Session-based authentication: server-side sessions in an HttpOnly cookie.",
        version=installed_version(),
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.readiness = container.readiness()
    app.state.session_cookie = cookie = SessionCookie.from_settings(settings)
    app.state.count_unavailable = count_unavailable = unavailable_counter(container.metrics())
    app.state.session_gate = gate = SessionGate(
        container.resolve_session, cookie, count_unavailable
    )
    app.state.client_address = addresses = ClientAddress(settings.proxies)
    mail_on = container.mail_composer() is not None
    webauthn_on = container.relying_party() is not None
    routers = [
        build_router(settings.session_cookie_name),
        build_mfa_router(settings.session_cookie_name),
        build_ui_router(mail=mail_on, webauthn=webauthn_on),
    ]
    if mail_on:  # mail off: these routes do not exist (404)
        routers.append(build_account_router(settings.session_cookie_name))
    if webauthn_on:  # WebAuthn off: these routes do not exist (404)
        routers.append(build_webauthn_router(settings.session_cookie_name))
    for router in routers:
        app.include_router(router)
    if (metrics := container.metrics()) is not None:
        add_metrics_route(app, metrics)
    # Recent FastAPI keeps an included router's routes behind a wrapper of its own, so the route
    # templates are read from the routers themselves as well.
    app.observer = RequestObserver(
        RouteTemplates([*app.routes, *(r for router in routers for r in router.routes)]),
        addresses,
        access_log,
        RequestLatency(metrics) if metrics is not None else None,
    )
    install_error_handlers(app)
    # Starlette runs the last added outermost: the browser pages' headers and HTML errors, the
    # security headers, cross-site checks, U+0000 in headers or query, then body size and
    # FastAPI itself (the fast path for the hot authenticated GETs stands in front of them all).
    app.add_middleware(BodySizeLimit)
    app.add_middleware(UnstorableText)
    app.add_middleware(CrossSiteDefence, trusted_origins=settings.origins, addresses=addresses)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(BrowserPages)
    if fast_path:
        app.fast_path = FastPath(gate)
    return app


def _telemetry_enabled(app: FastAPI) -> bool:
    # FastAPI from 0.16x on; an older one has no per-request check to spare.
    native = getattr(app, "_native_telemetry", None)
    return native is not None and bool(native.enabled())


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory` and `sessionauth serve --workers N`: each worker builds its own,
    opens its port before the store is up, and under serve stops it with exit status 2 on a
    configuration error found later (entrypoints/serve_stop.py)."""
    return create_app(
        build_container(load_settings()),
        try_store_first=False,
        on_configuration_error=stopper(os.environ),
    )
