"""The store behind DATABASE_URL, chosen by the URL's scheme from one table.

Everything else (settings validation, the container, the command line, the lifecycle) asks this
table or the store itself (domain.ports.Store), never which store it is: a third store is one
adapter and one row here. A row also hands the metrics what its store can tell of itself (a
connection pool, a session cache), when there are metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from adapters.memory import InMemoryStore
from adapters.postgres import PostgresStore
from adapters.prometheus_metrics import PrometheusMetrics
from domain.ports import Store

if TYPE_CHECKING:  # settings.py reads SCHEMES from here
    from entrypoints.settings import Settings

DEFAULT_SCHEME = "memory"  # DATABASE_URL unset or empty


def _memory(url: str, settings: Settings, metrics: PrometheusMetrics | None) -> Store:
    return InMemoryStore()


def _postgres(url: str, settings: Settings, metrics: PrometheusMetrics | None) -> Store:
    store = PostgresStore(
        url,
        max_size=settings.database_pool_size,
        connect_timeout=settings.database_timeout,
        command_timeout=settings.database_timeout,
        session_cache_for=settings.session_policy.touch_interval
        if settings.session_cache
        else None,
        on_acquire=metrics.pool_wait_observer() if metrics is not None else None,
    )
    if metrics is not None:
        metrics.watch_pool(store)
        if store.session_cache is not None:
            metrics.watch_session_cache(store.session_cache)
    return store


# scheme -> (DATABASE_URL, Settings, the metrics or None) -> the store, not yet open
STORES: Mapping[str, Callable[[str, Settings, PrometheusMetrics | None], Store]] = {
    "memory": _memory,  # `memory:`: the in-memory store, asked for explicitly
    "postgres": _postgres,
    "postgresql": _postgres,
}


def scheme(database_url: str | None) -> str:
    """The URL's scheme, lower-cased as RFC 3986 allows ('' when it has none); DEFAULT_SCHEME
    when there is no URL."""
    if database_url is None:
        return DEFAULT_SCHEME
    name, colon, _ = database_url.partition(":")
    return name.lower() if colon else ""


def build_store(settings: Settings, metrics: PrometheusMetrics | None = None) -> Store:
    """The store DATABASE_URL names (Settings has refused a scheme that is not in STORES), with
    what it can tell of itself handed to `metrics`."""
    url = settings.database_url
    return STORES[scheme(url)](url or "", settings, metrics)
