"""The service's Prometheus metrics, and an audit log that counts the security events it records.

Every label value is one of the constants written here, this code's version or a migration's
version from the database, never something taken from a request:
no username, user id, session id, address or token can reach the exposition, and no client can
make the number of series grow.
"""

from __future__ import annotations

import glob
import math
import os
from bisect import bisect_left
from collections.abc import Callable, Iterator
from itertools import accumulate

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as _values
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.utils import floatToGoString

from domain.audit import AuditEvent
from domain.client import Client
from domain.ports import AuditLog
from domain.schema import MigrationState, SchemaStatus

OUTCOMES = ("success", "invalid", "throttled")
SIGNUP_OUTCOMES = ("success", "throttled")
REVOCATION_SCOPES = ("single", "others", "all", "password_change")
# From a cached session check (well under a millisecond) to a login that waits for its hash
# (HASH_QUEUE_TIMEOUT, 3 s by default).
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


REQUEST_DURATION = "sessionauth_http_request_duration_seconds"
REQUEST_DURATION_HELP = "Time to answer a request, by route template, method and status class."
REQUEST_LABELS = ("route", "method", "status")
# prometheus_client's file for one worker's live gauges: gauge_live<mode>_<pid>.db (an internal
# name, checked by tests/unit/test_prometheus_client_pin.py).
LIVE_GAUGE_FILES = "gauge_live*_*.db"


class _LatencyHistogram:
    """The request-duration histogram of a single process, observed on every request: a bisect
    and two additions, with no lock (every observation is made on the event loop's thread).
    prometheus_client's Histogram takes a lock for the bucket and another for the sum, which the
    hottest GETs felt in the benchmark (figures in bench/RESULTS.md, "Metrics cost"). A scrape, in a
    thread, reads the counts as they are; one request more or less in a scrape is of no matter."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._bounds = list(LATENCY_BUCKETS)
        self._les = [floatToGoString(b) for b in (*LATENCY_BUCKETS, math.inf)]
        self._series: dict[tuple[str, str, str], tuple[list[int], list[float]]] = {}
        registry.register(self)

    def observer(self, labels: tuple[str, str, str]) -> Callable[[float], None]:
        counts, total = self._series.setdefault(labels, ([0] * (len(self._bounds) + 1), [0.0]))
        bounds = self._bounds

        def observe(seconds: float) -> None:
            counts[bisect_left(bounds, seconds)] += 1  # the first bucket whose bound is >= it
            total[0] += seconds

        return observe

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(
            REQUEST_DURATION, REQUEST_DURATION_HELP, labels=REQUEST_LABELS
        )
        for labels, (counts, total) in list(self._series.items()):
            family.add_metric(
                list(labels),
                list(zip(self._les, accumulate(counts), strict=True)),
                sum_value=total[0],
            )
        yield family


class _BuildInfo:
    """sessionauth_build_info and the count of unknown migrations: what this process last learnt
    of its schema. A collector of its own rather than gauges, so that in multiprocess mode a
    schema version that changed leaves no stale series in a worker's file: every worker runs the
    same code on the same database, so whichever answers the scrape tells the same."""

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        self._version = version
        self._schema = SchemaStatus()
        registry.register(self)

    def observe(self, schema: SchemaStatus) -> None:
        self._schema = schema

    def collect(self) -> Iterator[GaugeMetricFamily]:
        info = GaugeMetricFamily(
            "sessionauth_build_info",
            "Always 1: this code's version, and the highest migration applied to its database "
            '(schema_version; "" before the store has been asked, or for a store without a schema).',
            labels=("version", "schema_version"),
        )
        info.add_metric([self._version, self._schema.version], 1)
        yield info
        yield GaugeMetricFamily(
            "sessionauth_unknown_migrations",
            "Migrations in the database that this version does not ship (a newer version applied "
            "them): expected during a rolling upgrade or after a roll-back, not for long.",
            value=len(self._schema.having(MigrationState.UNKNOWN)),
        )


class PrometheusMetrics:
    """The metrics of one service process.

    - Without `multiprocess_dir` the metrics live on a registry of this instance, so two apps in
      one process (tests) count apart.
    - With `multiprocess_dir` (prometheus_client's PROMETHEUS_MULTIPROC_DIR, which must already
      have been set when prometheus_client was imported) every worker process writes its values
      to files there, and a scrape of any worker merges them all: counters and histograms are
      summed over every worker that ever ran, the queue depth over the live ones.
    """

    # The classic text format, which generate_latest writes. Recent prometheus_client calls its
    # CONTENT_TYPE_LATEST version=1.0.0, which some scrapers (Datadog's, Metricbeat) do not parse.
    content_type = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self, multiprocess_dir: str | None = None, *, version: str = "") -> None:
        if multiprocess_dir and _values.ValueClass is _values.MutexValue:
            raise RuntimeError(
                "PROMETHEUS_MULTIPROC_DIR was not set when prometheus_client was imported"
            )
        self._dir = multiprocess_dir
        own = None if multiprocess_dir else CollectorRegistry()
        self.signups = Counter(
            "sessionauth_signups",
            "Sign-ups by outcome (success: account created).",
            ["outcome"],
            registry=own,
        )
        self.logins = Counter("sessionauth_logins", "Logins by outcome.", ["outcome"], registry=own)
        self.password_changes = Counter(
            "sessionauth_password_changes",
            "Password changes by outcome (invalid: wrong current password).",
            ["outcome"],
            registry=own,
        )
        self.password_rehashes = Counter(
            "sessionauth_password_rehashes",
            "Stored hashes replaced at login because the configured argon2 cost changed.",
            registry=own,
        )
        self.logouts = Counter(
            "sessionauth_logouts", "Sessions ended by POST /logout.", registry=own
        )
        self.sessions_revoked = Counter(
            "sessionauth_sessions_revoked",
            "Sessions ended other than by logout: one by id (single), all but the caller's (others), "
            "all of a user (all), or by a password change (password_change).",
            ["scope"],
            registry=own,
        )
        self.hash_queue_depth = Gauge(
            "sessionauth_hash_queue_depth",
            "Password hashes admitted and not finished (running or waiting for a thread).",
            registry=own,
            multiprocess_mode="livesum",
        )
        if (
            own is None
        ):  # multiprocess: observations go to this worker's files, which every scrape reads
            self.request_duration: Histogram | _LatencyHistogram = Histogram(
                REQUEST_DURATION,
                REQUEST_DURATION_HELP,
                REQUEST_LABELS,
                buckets=LATENCY_BUCKETS,
                registry=None,
            )
        else:
            self.request_duration = _LatencyHistogram(own)
        # Every series that can be known in advance exists from the start, at zero: a rate over a
        # series that appears only with its first event misses that event.
        for outcome in SIGNUP_OUTCOMES:
            self.signups.labels(outcome)
        for outcome in OUTCOMES:
            self.logins.labels(outcome)
            self.password_changes.labels(outcome)
        for scope in REVOCATION_SCOPES:
            self.sessions_revoked.labels(scope)
        self.hash_queue_depth.set(0)
        if own is None:
            self._registry = CollectorRegistry()
            MultiProcessCollector(self._registry, path=multiprocess_dir)
        else:
            self._registry = own
        self._build_info = _BuildInfo(self._registry, version)

    def observe_schema(self, schema: SchemaStatus) -> None:
        self._build_info.observe(schema)

    def request_observer(self, route: str, method: str, status: str) -> Callable[[float], None]:
        if isinstance(self.request_duration, _LatencyHistogram):
            return self.request_duration.observer((route, method, status))
        return self.request_duration.labels(route, method, status).observe

    def exposition(self) -> bytes:
        """The text exposition format, over every worker in multiprocess mode."""
        if self._dir:
            self._forget_dead_workers(self._dir)
        return generate_latest(self._registry)

    def _forget_dead_workers(self, directory: str) -> None:
        # A worker that died (uvicorn starts another) keeps its last queue depth in its file;
        # prometheus_client leaves it to the supervisor to call mark_process_dead, which uvicorn
        # does not, so a scrape does it for every process that is gone.
        for path in glob.glob(os.path.join(directory, LIVE_GAUGE_FILES)):
            pid = path.rsplit("_", 1)[1].removesuffix(".db")
            if pid.isdigit() and not _alive(int(pid)):
                mark_process_dead(int(pid), directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class MeteredAuditLog(AuditLog):
    """Records every event with the wrapped log, and counts the ones the metrics name. Only the
    event's name and its fixed qualifier (`action` or `scope`) choose a counter; the user, session
    and client fields are passed on and never looked at."""

    def __init__(self, inner: AuditLog, metrics: PrometheusMetrics) -> None:
        self._inner = inner
        m = metrics
        revoked = m.sessions_revoked.labels
        # (event, action or scope) -> the counters it moves, each by one or by a count in the event
        self._counts: dict[tuple[AuditEvent, object], tuple[tuple[Counter, str | None], ...]] = {
            (AuditEvent.SIGNUP, None): ((m.signups.labels("success"), None),),
            (AuditEvent.THROTTLED, "signup"): ((m.signups.labels("throttled"), None),),
            (AuditEvent.LOGIN_SUCCEEDED, None): ((m.logins.labels("success"), None),),
            (AuditEvent.LOGIN_FAILED, None): ((m.logins.labels("invalid"), None),),
            (AuditEvent.THROTTLED, "login"): ((m.logins.labels("throttled"), None),),
            (AuditEvent.PASSWORD_CHANGED, None): (
                (m.password_changes.labels("success"), None),
                (revoked("password_change"), "revoked_sessions"),
            ),
            (AuditEvent.LOGIN_FAILED, "password_change"): (
                (m.password_changes.labels("invalid"), None),
            ),
            (AuditEvent.THROTTLED, "password_change"): (
                (m.password_changes.labels("throttled"), None),
            ),
            (AuditEvent.PASSWORD_REHASHED, None): ((m.password_rehashes, None),),
            (AuditEvent.LOGOUT, None): ((m.logouts, None),),
            (AuditEvent.SESSION_REVOKED, "single"): ((revoked("single"), None),),
            (AuditEvent.SESSION_REVOKED, "others"): ((revoked("others"), None),),
            (AuditEvent.SESSION_REVOKED, "all"): ((revoked("all"), "revoked_sessions"),),
        }

    def record(
        self,
        event: AuditEvent,
        *,
        user_id: str | None = None,
        session_id: str | None = None,
        client: Client | None = None,
        **details: object,
    ) -> None:
        self._inner.record(event, user_id=user_id, session_id=session_id, client=client, **details)
        qualifier = details.get("action", details.get("scope"))
        for counter, amount in self._counts.get((event, qualifier), ()):
            counter.inc(_count(details.get(amount)) if amount else 1)


def _count(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0
