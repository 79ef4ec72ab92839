"""`GET /metrics`, and the latency of every request by route template (pure ASGI, in front of the
fast path, so the hot GETs it answers are measured too)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter

from fastapi import FastAPI
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.prometheus_metrics import PrometheusMetrics
from entrypoints.http.route_path import route_path

UNMATCHED = "unmatched"  # every path that names no route: a scanner's paths must not become series
_METHODS = {m: m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
_STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}


def add_metrics_route(app: FastAPI, metrics: PrometheusMetrics) -> None:
    # A plain `def`: FastAPI runs it in a thread, so reading every worker's files (multiprocess
    # mode) never holds up the event loop.
    def exposition() -> Response:
        return Response(metrics.exposition(), media_type=metrics.content_type)

    app.add_api_route("/metrics", exposition, methods=["GET"], include_in_schema=False)


class RequestLatency:
    """Observes each HTTP request's duration, from its arrival to the app's return, labelled by
    the template of the route its path names (`/sessions/{session_id}`, never the path itself,
    which would carry ids; under a mount, the template without the mount's prefix, as the routes
    match it), its method and its status class. Unknown methods and paths collapse into one label
    each. The label children are made once per combination and kept."""

    app: ASGIApp  # the stack behind it, set by SessionAuthAPI.build_middleware_stack

    def __init__(self, metrics: PrometheusMetrics, routes: Sequence[BaseRoute]) -> None:
        self._metrics = metrics
        plain = [r for r in routes if isinstance(r, Route)]
        self._exact = {r.path: r.path for r in plain if not r.param_convertors}
        self._templated = [(r.path_regex, r.path) for r in plain if r.param_convertors]
        self._observers: dict[tuple[str, str, int], Callable[[float], None]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = perf_counter()
        status = 500  # what the server answers when the app raises before it starts a response

        def send_noting_status(message: Message) -> Awaitable[None]:
            # Not a coroutine of its own: it hands back send's, one frame less per message.
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            elapsed = perf_counter() - started
            key = (
                self._route(route_path(scope)),
                _METHODS.get(scope["method"], "other"),
                status // 100,
            )
            observe = self._observers.get(key)
            if observe is None:
                observe = self._observers[key] = self._observer(*key)
            observe(elapsed)

    def _route(self, path: str) -> str:
        route = self._exact.get(path)
        if route is not None:
            return route
        for regex, template in self._templated:
            if regex.match(path):
                return template
        return UNMATCHED

    def _observer(self, route: str, method: str, status_class: int) -> Callable[[float], None]:
        return self._metrics.request_observer(
            route, method, _STATUS_CLASSES.get(status_class, "other")
        )
