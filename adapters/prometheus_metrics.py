"""The service's Prometheus metrics, and an audit log that counts the security events it records.

Every label value is one of the constants written here or where the counted thing is defined (a
store outage's cause in domain/errors.py, a hashing refusal's reason in adapters/argon2_hasher.py),
this code's version or a migration's version from the database, never something taken from a
request:
no username, user id, session id, address or token can reach the exposition, and no client can
make the number of series grow.
"""

from __future__ import annotations

import glob
import math
import os
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from itertools import accumulate
from typing import Literal, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as _values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.utils import floatToGoString

from domain.audit import AuditEvent
from domain.client import Client
from domain.errors import OutageCause, StoreUnavailable
from domain.mail import NOTICE_KINDS, MailKind
from domain.ports import AuditLog
from domain.schema import MigrationState, SchemaStatus

OUTCOMES = ("success", "invalid", "throttled")
SIGNUP_OUTCOMES = ("success", "throttled")
REVOCATION_SCOPES = ("single", "others", "all", "password_change", "password_reset")
# Links in mail (account tokens): asked for, refused a mail by a throttle, used, or refused.
LINK_PURPOSES = ("verify_email", "reset_password")
LINK_OUTCOMES = ("requested", "throttled", "used", "refused")
# The account lifecycle's: a login beyond the session limit, revoke-sessions --all, a disabled
# or a deleted account.
LIFECYCLE_REVOCATION_SCOPES = ("limit", "everyone", "disabled", "deleted")
ACCOUNT_STATE_CHANGES = ("disabled", "enabled")
NOTICE_OUTCOMES = ("queued", "dropped")
# Audit events qualified by `factor=` (domain/audit.py), and the factors they name.
SECOND_FACTOR_EVENTS = (
    AuditEvent.MFA_REQUIRED,
    AuditEvent.FACTOR_ENROLLED,
    AuditEvent.FACTOR_REMOVED,
    AuditEvent.FACTOR_USED,
    AuditEvent.FACTOR_REFUSED,
    AuditEvent.FACTOR_REPLAYED,
    AuditEvent.COUNTER_REGRESSION,
    AuditEvent.RECOVERY_CODES_RENEWED,
)
SECOND_FACTORS = ("totp", "recovery_code", "webauthn", "passkey", "any")
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


# From an idle pooled connection (tens of microseconds) to a wait that ends in DATABASE_TIMEOUT.
POOL_WAIT_BUCKETS = (
    0.0001,
    0.0005,
    0.001,
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
POOL_WAIT = "sessionauth_database_pool_acquire_seconds"
POOL_WAIT_HELP = (
    "Time a request waited for a pooled database connection (setting up a new one included, "
    "and waits that failed)."
)
# prometheus_client's file for one worker's live gauges: gauge_live<mode>_<pid>.db (an internal
# name, checked by tests/unit/test_prometheus_client_pin.py).
LIVE_GAUGE_FILES = "gauge_live*_*.db"
# Seconds between two copies of the watched values into a worker's files (multiprocess mode).
PUBLISH_INTERVAL = 1.0


class _LatencyHistogram:
    """A histogram of a single process, observed on the hot paths (every request's duration,
    every wait for a database connection): a bisect and two additions, with no lock (every
    observation is made on the event loop's thread). prometheus_client's Histogram takes a lock
    for the bucket and another for the sum, which the hottest GETs felt in the benchmark (figures
    in bench/RESULTS.md, "Metrics cost"). A scrape, in a thread, reads the counts as they are; one
    observation more or less in a scrape is of no matter."""

    def __init__(
        self,
        registry: CollectorRegistry,
        name: str,
        documentation: str,
        labels: tuple[str, ...],
        buckets: tuple[float, ...],
    ) -> None:
        self._name, self._documentation, self._labels = name, documentation, labels
        self._bounds = list(buckets)
        self._les = [floatToGoString(b) for b in (*buckets, math.inf)]
        self._series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}
        registry.register(self)

    def observer(self, labels: tuple[str, ...] = ()) -> Callable[[float], None]:
        counts, total = self._series.setdefault(labels, ([0] * (len(self._bounds) + 1), [0.0]))
        bounds = self._bounds

        def observe(seconds: float) -> None:
            counts[bisect_left(bounds, seconds)] += 1  # the first bucket whose bound is >= it
            total[0] += seconds

        return observe

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labels)
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


class HashingStats(Protocol):
    """What the metrics read of the password hasher (adapters/argon2_hasher.py)."""

    @property
    def concurrency(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def refusals(self) -> Mapping[str, int]: ...


class PoolStats(Protocol):
    """What the metrics read of a store's connection pool (adapters/postgres/database.py)."""

    @property
    def pool_size(self) -> int: ...
    @property
    def pool_in_use(self) -> int: ...


class SessionCacheStats(Protocol):
    """What the metrics read of the session cache (adapters/session_cache.py)."""

    @property
    def hits(self) -> int: ...
    @property
    def misses(self) -> int: ...
    @property
    def enabled(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Watched:
    """A metric whose value an adapter keeps itself (a plain int or a property, nothing to import
    and no lock on a hot path), read by the metrics. `label`: the name of the one label, when the
    value read is a mapping from label value to number. `mode`: how multiprocess mode merges a
    gauge over the workers."""

    name: str
    kind: type[Counter] | type[Gauge]
    documentation: str
    label: str | None = None
    mode: Literal["livesum", "livemin", "livemax"] = "livesum"


HASH_REFUSALS = _Watched(
    "sessionauth_hash_refusals",
    Counter,
    "Password hashes refused (503) by reason: queue_full (HASH_CONCURRENCY + HASH_QUEUE_SIZE "
    "admitted), address_share (the client address holds its HASH_SHARE_PER_ADDRESS), deadline "
    "(not done within HASH_QUEUE_TIMEOUT).",
    label="reason",
)
HASH_CONCURRENCY = _Watched(
    "sessionauth_hash_concurrency", Gauge, "Password hashes run at once (HASH_CONCURRENCY)."
)
HASH_CAPACITY = _Watched(
    "sessionauth_hash_capacity",
    Gauge,
    "Password hashes admitted at once, running or waiting (HASH_CONCURRENCY + HASH_QUEUE_SIZE): "
    "the bound of sessionauth_hash_queue_depth.",
)
POOL_SIZE = _Watched(
    "sessionauth_database_pool_size",
    Gauge,
    "The most connections the database pool opens (DATABASE_POOL_SIZE).",
)
POOL_IN_USE = _Watched(
    "sessionauth_database_pool_in_use", Gauge, "Pooled database connections lent to a request now."
)
CACHE_HITS = _Watched(
    "sessionauth_session_cache_hits",
    Counter,
    "Session lookups answered by the session cache.",
)
CACHE_MISSES = _Watched(
    "sessionauth_session_cache_misses",
    Counter,
    "Session lookups that went to the database (the cache off included).",
)
LISTENER_UP = _Watched(
    "sessionauth_session_cache_listener_up",
    Gauge,
    "1 while the session cache's revocation listener is connected (the cache serves), else 0; "
    "with several workers, the lowest of them.",
    mode="livemin",
)
# The outbox is shared by every instance and worker: each tells the same, hence livemax.
OUTBOX_DEPTH = _Watched(
    "sessionauth_mail_outbox_depth",
    Gauge,
    "Messages waiting in the outbox to be sent (being sent included; failed ones not).",
    mode="livemax",
)
OUTBOX_AGE = _Watched(
    "sessionauth_mail_outbox_oldest_age_seconds",
    Gauge,
    "Seconds since the oldest message waiting in the outbox was queued (0 when none waits).",
    mode="livemax",
)
OUTBOX_FAILED = _Watched(
    "sessionauth_mail_outbox_failed",
    Gauge,
    "Messages refused for good or given up, kept in the outbox (without their bodies).",
    mode="livemax",
)
WATCHED = (
    HASH_REFUSALS,
    HASH_CONCURRENCY,
    HASH_CAPACITY,
    POOL_SIZE,
    POOL_IN_USE,
    CACHE_HITS,
    CACHE_MISSES,
    LISTENER_UP,
    OUTBOX_DEPTH,
    OUTBOX_AGE,
    OUTBOX_FAILED,
)
Reading = Callable[[], float | Mapping[str, int]]


class _Readings:
    """The watched metrics' values, read where the adapters keep them:

    - in one process, at scrape time (this is a collector of the registry);
    - in multiprocess mode, copied into this worker's files by `publish` (every PUBLISH_INTERVAL
      seconds, from the event loop): a scrape runs in one worker and reads every worker's files,
      not the others' memory. Counters move by what they gained since the last copy, so a
      worker that dies loses at most that much; gauges are set as they are.

    A metric nobody watches (the pool on the in-memory store) has no series at all: in
    multiprocess mode its prometheus_client object is made only when it is first watched, since
    one without labels writes its zero to the worker's file as soon as it exists."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._multiprocess = registry is None
        self._read: dict[_Watched, Reading] = {}
        self._metrics: dict[_Watched, Counter | Gauge] = {}
        self._published: dict[tuple[_Watched, str], float] = {}
        if registry is not None:
            registry.register(self)

    def watch(self, watched: _Watched, read: Reading) -> None:
        self._read[watched] = read
        if self._multiprocess and watched not in self._metrics:
            labels = [watched.label] if watched.label else []
            # Written to this worker's files, never registered: MultiProcessCollector reads them.
            self._metrics[watched] = (
                Gauge(
                    watched.name,
                    watched.documentation,
                    labels,
                    registry=None,
                    multiprocess_mode=watched.mode,
                )
                if watched.kind is Gauge
                else Counter(watched.name, watched.documentation, labels, registry=None)
            )
        self.publish()  # its series exist from now on, at their current values

    def publish(self) -> None:
        for watched, metric in self._metrics.items():
            for label, value in self._values(watched):
                child = metric.labels(label) if label else metric
                if isinstance(child, Gauge):
                    child.set(value)
                else:  # a counter only goes up: by what it gained since the last copy
                    key = (watched, label)
                    child.inc(max(0.0, value - self._published.get(key, 0.0)))
                    self._published[key] = value

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        for watched in WATCHED:
            if watched not in self._read:
                continue
            labels = [watched.label] if watched.label else []
            family = (
                GaugeMetricFamily(watched.name, watched.documentation, labels=labels)
                if watched.kind is Gauge
                else CounterMetricFamily(watched.name, watched.documentation, labels=labels)
            )
            for label, value in self._values(watched):
                family.add_metric([label] if label else [], value)
            yield family

    def _values(self, watched: _Watched) -> list[tuple[str, float]]:
        value = self._read[watched]()
        if isinstance(value, Mapping):
            return [(label, float(n)) for label, n in value.items()]
        return [("", float(value))]


class OutboxReadings(Protocol):
    """What the metrics read of the outbox, as its sender last saw it (entrypoints/mail_sender.py)."""

    @property
    def depth(self) -> int: ...
    @property
    def oldest_age(self) -> float: ...
    @property
    def failed(self) -> int: ...


class PrometheusMetrics:
    """The metrics of one service process.

    - Without `multiprocess_dir` the metrics live on a registry of this instance, so two apps in
      one process (tests) count apart.
    - With `multiprocess_dir` (prometheus_client's PROMETHEUS_MULTIPROC_DIR, which must already
      have been set when prometheus_client was imported) every worker process writes its values
      to files there, and a scrape of any worker merges them all: counters and histograms are
      summed over every worker that ever ran; the queue depth, the hashing capacity and the
      pool's size and use over the live ones; the listener's state is the lowest of the live
      ones, the last purge the latest of all.
    - What the adapters keep themselves (`watch_*`) is read at scrape time in one process, and
      copied to the worker's files by `publish` in multiprocess mode (see _Readings).
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
            "all of a user (all), by a password change (password_change), by a login beyond the "
            "session limit (limit), all of every user (everyone), or with a disabled (disabled) "
            "or deleted (deleted) account.",
            ["scope"],
            registry=own,
        )
        self.account_deletions = Counter(
            "sessionauth_account_deletions",
            "Accounts deleted (success: by their user or an operator) and refused deletions "
            "(invalid: wrong current password; throttled).",
            ["outcome"],
            registry=own,
        )
        self.account_state_changes = Counter(
            "sessionauth_account_state_changes",
            "Accounts disabled or enabled by an operator.",
            ["change"],
            registry=own,
        )
        self.second_factor_events = Counter(
            "sessionauth_second_factor_events",
            "Second-factor events by factor (totp, recovery_code, webauthn, passkey) and event "
            "(mfa_required, factor_enrolled, factor_removed, factor_used, factor_refused, "
            "factor_replayed, counter_regression, recovery_codes_renewed).",
            ["factor", "event"],
            registry=own,
        )
        self.notices = Counter(
            "sessionauth_notices",
            "Security notices by kind and outcome (queued: in the outbox with the change it "
            "reports; dropped: over the account's mail quota).",
            ["kind", "outcome"],
            registry=own,
        )
        self.email_changes = Counter(
            "sessionauth_email_changes",
            "Email address changes (PUT /email) by outcome (invalid: wrong current password; "
            "throttled: the login throttle or the account's quota of verification links).",
            ["outcome"],
            registry=own,
        )
        self.account_links = Counter(
            "sessionauth_account_links",
            "Links in mail by purpose (verify_email, reset_password) and outcome: requested "
            "(a reset request past the address throttle, whether or not it names a mailable "
            "account), throttled, used, refused (unknown, used, expired or malformed token).",
            ["purpose", "outcome"],
            registry=own,
        )
        self.mail_sent = Counter(
            "sessionauth_mail_sent",
            "Messages the mail server took, by kind.",
            ["kind"],
            registry=own,
        )
        self.mail_retries = Counter(
            "sessionauth_mail_retries",
            "Attempts to send that the mail server did not take for now (down, timeout, 4xx), "
            "each tried again later, by kind.",
            ["kind"],
            registry=own,
        )
        self.mail_failed = Counter(
            "sessionauth_mail_failed",
            "Messages refused for good (5xx) or given up after MAIL_GIVE_UP_AFTER, by kind.",
            ["kind"],
            registry=own,
        )
        self.hash_queue_depth = Gauge(
            "sessionauth_hash_queue_depth",
            "Password hashes admitted and not finished (running or waiting for a thread).",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.store_unavailable = Counter(
            "sessionauth_store_unavailable",
            "Answers 503 because the store could not be used, by cause: not_open, unreachable, "
            "timeout, pool_exhausted, too_many_connections, rejected, read_only.",
            ["cause"],
            registry=own,
        )
        self.last_purge = Gauge(
            "sessionauth_last_purge_timestamp_seconds",
            "When this instance last completed a purge of expired sessions (Unix time; 0: not "
            "yet). Instances take turns, so take the max over them.",
            registry=own,
            multiprocess_mode="max",
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
            self.request_duration = _LatencyHistogram(
                own, REQUEST_DURATION, REQUEST_DURATION_HELP, REQUEST_LABELS, LATENCY_BUCKETS
            )
        # Every series that can be known in advance exists from the start, at zero: a rate over a
        # series that appears only with its first event misses that event.
        for outcome in SIGNUP_OUTCOMES:
            self.signups.labels(outcome)
        for outcome in OUTCOMES:
            self.logins.labels(outcome)
            self.password_changes.labels(outcome)
        for scope in REVOCATION_SCOPES:
            self.sessions_revoked.labels(scope)
        for outcome in OUTCOMES:
            self.email_changes.labels(outcome)
        for purpose in LINK_PURPOSES:
            for outcome in LINK_OUTCOMES:
                self.account_links.labels(purpose, outcome)
        for scope in LIFECYCLE_REVOCATION_SCOPES:
            self.sessions_revoked.labels(scope)
        self.logins.labels("disabled")
        for outcome in OUTCOMES:
            self.account_deletions.labels(outcome)
        for change in ACCOUNT_STATE_CHANGES:
            self.account_state_changes.labels(change)
        for cause in OutageCause:
            self.store_unavailable.labels(cause)
        for event in SECOND_FACTOR_EVENTS:
            for factor in SECOND_FACTORS:
                self.second_factor_events.labels(factor, event)
        for kind in NOTICE_KINDS:
            for outcome in NOTICE_OUTCOMES:
                self.notices.labels(kind, outcome)
        for kind in MailKind:
            self.mail_sent.labels(kind)
            self.mail_retries.labels(kind)
            self.mail_failed.labels(kind)
        self.hash_queue_depth.set(0)
        self.last_purge.set(0)
        self._readings = _Readings(own)
        self._pool_wait: Histogram | _LatencyHistogram | None = None
        if own is None:
            self._registry = CollectorRegistry()
            MultiProcessCollector(self._registry, path=multiprocess_dir)
        else:
            self._registry = own
        self._build_info = _BuildInfo(self._registry, version)

    @property
    def multiprocess(self) -> bool:
        return self._dir is not None

    def observe_schema(self, schema: SchemaStatus) -> None:
        self._build_info.observe(schema)

    def watch_hashing(self, hasher: HashingStats) -> None:
        self._readings.watch(HASH_REFUSALS, lambda: hasher.refusals)
        self._readings.watch(HASH_CONCURRENCY, lambda: hasher.concurrency)
        self._readings.watch(HASH_CAPACITY, lambda: hasher.capacity)

    def watch_pool(self, pool: PoolStats) -> None:
        self._readings.watch(POOL_SIZE, lambda: pool.pool_size)
        self._readings.watch(POOL_IN_USE, lambda: pool.pool_in_use)

    def watch_session_cache(self, cache: SessionCacheStats) -> None:
        self._readings.watch(CACHE_HITS, lambda: cache.hits)
        self._readings.watch(CACHE_MISSES, lambda: cache.misses)
        self._readings.watch(LISTENER_UP, lambda: cache.enabled)

    def watch_outbox(self, outbox: OutboxReadings) -> None:
        self._readings.watch(OUTBOX_DEPTH, lambda: outbox.depth)
        self._readings.watch(OUTBOX_AGE, lambda: outbox.oldest_age)
        self._readings.watch(OUTBOX_FAILED, lambda: outbox.failed)

    def publish(self) -> None:
        """Multiprocess mode: copy the watched values into this worker's files (the lifecycle
        calls it every PUBLISH_INTERVAL seconds). Nothing to do in one process."""
        self._readings.publish()

    def pool_wait_observer(self) -> Callable[[float], None]:
        """What a store with a pool tells how long each request waited for a connection; the
        histogram exists (at zero) from the first call."""
        if self._pool_wait is None:
            if self.multiprocess:
                self._pool_wait = Histogram(
                    POOL_WAIT, POOL_WAIT_HELP, buckets=POOL_WAIT_BUCKETS, registry=None
                )
            else:
                self._pool_wait = _LatencyHistogram(
                    self._registry, POOL_WAIT, POOL_WAIT_HELP, (), POOL_WAIT_BUCKETS
                )
        if isinstance(self._pool_wait, _LatencyHistogram):
            return self._pool_wait.observer()
        return self._pool_wait.observe

    def store_unavailable_answered(self, error: StoreUnavailable) -> None:
        self.store_unavailable.labels(error.cause).inc()

    def purge_completed(self, at: float) -> None:
        """`at`: time.time() when this process's purge of expired sessions finished."""
        self.last_purge.set(at)

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
    event's name and its fixed qualifier (`action`, `scope`, a link's `purpose`, or a notice's
    or mail's `kind`) choose a counter; the user, session and client fields are passed on and
    never looked at."""

    def __init__(self, inner: AuditLog, metrics: PrometheusMetrics) -> None:
        self._inner = inner
        m = metrics
        revoked = m.sessions_revoked.labels
        link = m.account_links.labels
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
            (AuditEvent.EMAIL_CHANGED, None): ((m.email_changes.labels("success"), None),),
            (AuditEvent.LOGIN_FAILED, "email_change"): ((m.email_changes.labels("invalid"), None),),
            (AuditEvent.THROTTLED, "email_change"): ((m.email_changes.labels("throttled"), None),),
            (AuditEvent.EMAIL_VERIFICATION_REQUESTED, None): (
                (link("verify_email", "requested"), None),
            ),
            (AuditEvent.THROTTLED, "verification_resend"): (
                (link("verify_email", "throttled"), None),
            ),
            (AuditEvent.EMAIL_VERIFIED, None): ((link("verify_email", "used"), None),),
            (AuditEvent.TOKEN_REFUSED, "verify_email"): ((link("verify_email", "refused"), None),),
            (AuditEvent.PASSWORD_RESET_REQUESTED, None): (
                (link("reset_password", "requested"), None),
            ),
            (AuditEvent.THROTTLED, "password_forgot"): (
                (link("reset_password", "throttled"), None),
            ),
            (AuditEvent.PASSWORD_RESET, None): (
                (link("reset_password", "used"), None),
                (revoked("password_reset"), "revoked_sessions"),
            ),
            (AuditEvent.TOKEN_REFUSED, "reset_password"): (
                (link("reset_password", "refused"), None),
            ),
            (AuditEvent.SESSION_REVOKED, "limit"): ((revoked("limit"), None),),
            (AuditEvent.SESSION_REVOKED, "everyone"): ((revoked("everyone"), "revoked_sessions"),),
            (AuditEvent.LOGIN_DISABLED, None): ((m.logins.labels("disabled"), None),),
            (AuditEvent.ACCOUNT_DISABLED, None): (
                (m.account_state_changes.labels("disabled"), None),
                (revoked("disabled"), "revoked_sessions"),
            ),
            (AuditEvent.ACCOUNT_ENABLED, None): (
                (m.account_state_changes.labels("enabled"), None),
            ),
            (AuditEvent.ACCOUNT_DELETED, None): (
                (m.account_deletions.labels("success"), None),
                (revoked("deleted"), "revoked_sessions"),
            ),
            (AuditEvent.LOGIN_FAILED, "account_delete"): (
                (m.account_deletions.labels("invalid"), None),
            ),
            (AuditEvent.THROTTLED, "account_delete"): (
                (m.account_deletions.labels("throttled"), None),
            ),
        }
        for kind in NOTICE_KINDS:
            self._counts[(AuditEvent.NOTICE_QUEUED, kind)] = (
                (m.notices.labels(kind, "queued"), None),
            )
            self._counts[(AuditEvent.NOTICE_DROPPED, kind)] = (
                (m.notices.labels(kind, "dropped"), None),
            )
        for event in SECOND_FACTOR_EVENTS:
            for factor in SECOND_FACTORS:
                self._counts[(event, factor)] = (
                    (m.second_factor_events.labels(factor, event), None),
                )
        for kind in MailKind:
            self._counts[(AuditEvent.MAIL_SENT, kind)] = ((m.mail_sent.labels(kind), None),)
            self._counts[(AuditEvent.MAIL_DEFERRED, kind)] = ((m.mail_retries.labels(kind), None),)
            self._counts[(AuditEvent.MAIL_FAILED, kind)] = ((m.mail_failed.labels(kind), None),)

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
        qualifier = (
            details.get("factor", "any")  # these also name the action they happened in
            if event in SECOND_FACTOR_EVENTS
            else details.get(
                "action", details.get("scope", details.get("purpose", details.get("kind")))
            )
        )
        for counter, amount in self._counts.get((event, qualifier), ()):
            counter.inc(_count(details.get(amount)) if amount else 1)


def _count(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0
