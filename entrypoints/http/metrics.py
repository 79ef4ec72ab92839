"""`GET /metrics`, and the series of the latency of every request by route template."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from starlette.responses import Response

from adapters.prometheus_metrics import PrometheusMetrics

_STATUS_CLASSES = {n: f"{n}xx" for n in range(1, 6)}


def add_metrics_route(app: FastAPI, metrics: PrometheusMetrics) -> None:
    # A plain `def`: FastAPI runs it in a thread, so reading every worker's files (multiprocess
    # mode) never holds up the event loop.
    def exposition() -> Response:
        return Response(metrics.exposition(), media_type=metrics.content_type)

    app.add_api_route("/metrics", exposition, methods=["GET"], include_in_schema=False)


class RequestLatency:
    """The latency histogram's series for a request of a route template, method and status: the
    status as its class (`2xx`), so that a route has a handful of series. The timing itself is
    RequestObserver's (entrypoints/http/observer.py), which asks for an observer once per
    combination and keeps it."""

    def __init__(self, metrics: PrometheusMetrics) -> None:
        self._metrics = metrics

    def observer(self, route: str, method: str, status: int) -> Callable[[float], None]:
        return self._metrics.request_observer(
            route, method, _STATUS_CLASSES.get(status // 100, "other")
        )
