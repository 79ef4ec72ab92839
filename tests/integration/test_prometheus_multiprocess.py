"""prometheus_client's multiprocess mode as `serve --workers N` uses it: worker processes write to
files in one directory, and a scrape in any of them sums every worker's counters and the queue
depth of the live ones only. Each worker here is a real process (the mode is chosen when
prometheus_client is imported, so it cannot be switched on inside the test process)."""

import json
import os
import subprocess
import sys
from contextlib import contextmanager

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.prometheus_metrics import MeteredAuditLog, PrometheusMetrics
from entrypoints.cli import metrics_shared_by_workers
from entrypoints.settings import load_settings
from tests.fakes import RecordingAuditLog

WORKER = """
import json
import sys
from types import SimpleNamespace
from adapters.prometheus_metrics import MeteredAuditLog, PrometheusMetrics
from domain.errors import OutageCause, StoreUnavailable
from tests.fakes import RecordingAuditLog
metrics = PrometheusMetrics(sys.argv[1])
audit = MeteredAuditLog(RecordingAuditLog(), metrics)
for _ in range(int(sys.argv[2])):
    audit.record("login_succeeded", user_id="u", session_id="s")
metrics.hash_queue_depth.set(int(sys.argv[3]))
metrics.request_observer("/login", "POST", "2xx")(0.02)
own = json.loads(sys.argv[5])
if own:  # a worker on Postgres: what its hasher, pool and session cache hold in memory
    hasher = SimpleNamespace(concurrency=1, capacity=own["capacity"], refusals={"queue_full": 0})
    pool = SimpleNamespace(pool_size=own["pool_size"], pool_in_use=0)
    cache = SimpleNamespace(hits=0, misses=0, enabled=True)
    metrics.watch_hashing(hasher)
    metrics.watch_pool(pool)
    metrics.watch_session_cache(cache)
    hasher.refusals["queue_full"] = own["refused"]
    pool.pool_in_use = own["in_use"]
    cache.hits, cache.misses, cache.enabled = own["hits"], own["misses"], own["listening"]
    metrics.publish()
    cache.hits += 1  # after a publication: copied by the next one, and only this one more
    metrics.publish()
    metrics.pool_wait_observer()(0.003)
    metrics.store_unavailable_answered(StoreUnavailable(OutageCause.TIMEOUT))
    metrics.purge_completed(own["purged_at"])
if sys.argv[4] == "scrape":
    sys.stdout.write(metrics.exposition().decode())
else:
    print("ready", flush=True)
    sys.stdin.readline()  # stays alive until told
"""


def worker(directory, logins: int, depth: int, then: str, own: dict | None) -> subprocess.Popen:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            WORKER,
            str(directory),
            str(logins),
            str(depth),
            then,
            json.dumps(own or {}),
        ],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def scrape(directory, logins: int = 0, depth: int = 0) -> dict[tuple, float]:
    process = worker(directory, logins, depth, "scrape", own=None)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(out)
        for s in family.samples
    }


@contextmanager
def live_worker(directory, logins: int, depth: int, own: dict | None = None):
    process = worker(directory, logins, depth, "wait", own)
    try:
        assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        process.communicate("\n", timeout=60)


LOGINS = ("sessionauth_logins_total", (("outcome", "success"),))
DEPTH = ("sessionauth_hash_queue_depth", ())
LOGIN_REQUESTS = (
    "sessionauth_http_request_duration_seconds_count",
    (("method", "POST"), ("route", "/login"), ("status", "2xx")),
)


def test_any_worker_reports_the_sum_of_all_workers(tmp_path):
    with live_worker(tmp_path, logins=2, depth=3), live_worker(tmp_path, logins=5, depth=1):
        seen = scrape(tmp_path, logins=1, depth=0)
    assert seen[LOGINS] == 8
    assert seen[DEPTH] == 4
    assert seen[LOGIN_REQUESTS] == 3


def test_a_dead_worker_keeps_its_counts_but_not_its_queue_depth(tmp_path):
    with live_worker(tmp_path, logins=2, depth=3) as dead:
        pass  # it has exited: as if it died with three hashes in flight
    assert (tmp_path / f"gauge_livesum_{dead.pid}.db").exists()
    seen = scrape(tmp_path, logins=1, depth=2)
    assert seen[LOGINS] == 3
    assert seen[DEPTH] == 2
    assert not (tmp_path / f"gauge_livesum_{dead.pid}.db").exists()
    assert (tmp_path / f"counter_{dead.pid}.db").exists()


def test_multiprocess_mode_is_refused_when_prometheus_client_was_imported_without_it(tmp_path):
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        PrometheusMetrics(str(tmp_path))


def test_one_process_counts_on_a_registry_of_its_own():
    first, second = PrometheusMetrics(), PrometheusMetrics()
    MeteredAuditLog(RecordingAuditLog(), first).record("logout")
    assert b"sessionauth_logouts_total 1.0" in first.exposition()
    assert b"sessionauth_logouts_total 0.0" in second.exposition()


def test_serve_with_workers_makes_a_private_directory_and_removes_it(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    settings = load_settings()
    with metrics_shared_by_workers(settings, 1):
        assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    with metrics_shared_by_workers(load_settings(metrics_enabled=False), 2):
        assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    with metrics_shared_by_workers(settings, 2):
        directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        assert os.path.isdir(directory) and os.listdir(directory) == []
        assert os.stat(directory).st_mode & 0o777 == 0o700
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert not os.path.exists(directory)


def test_an_operators_own_directory_is_used_and_left_in_place(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with metrics_shared_by_workers(load_settings(), 2):
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path) and tmp_path.is_dir()


def postgres_worker(**values) -> dict:
    return {
        "capacity": 18,
        "pool_size": 10,
        "refused": 0,
        "in_use": 0,
        "hits": 0,
        "misses": 0,
        "listening": True,
        "purged_at": 0,
    } | values


def one(name: str, **labels: str) -> tuple:
    return (name, tuple(sorted(labels.items())))


def test_the_values_adapters_keep_in_memory_are_summed_over_the_workers(tmp_path):
    first = postgres_worker(refused=3, in_use=2, hits=40, misses=5, purged_at=1_700_000_000)
    second = postgres_worker(refused=1, in_use=7, hits=60, misses=2, listening=False)
    with (
        live_worker(tmp_path, logins=0, depth=0, own=first),
        live_worker(tmp_path, logins=0, depth=0, own=second),
    ):
        seen = scrape(tmp_path)
    assert seen[one("sessionauth_session_cache_hits_total")] == 41 + 61
    assert seen[one("sessionauth_session_cache_misses_total")] == 7
    assert seen[one("sessionauth_hash_refusals_total", reason="queue_full")] == 4
    assert seen[one("sessionauth_hash_capacity")] == 36
    assert seen[one("sessionauth_database_pool_size")] == 20
    assert seen[one("sessionauth_database_pool_in_use")] == 9
    # one worker's listener is down: the instance's is, whatever the others say
    assert seen[one("sessionauth_session_cache_listener_up")] == 0
    assert seen[one("sessionauth_database_pool_acquire_seconds_count")] == 2
    assert seen[one("sessionauth_store_unavailable_total", cause="timeout")] == 2
    assert seen[one("sessionauth_last_purge_timestamp_seconds")] == 1_700_000_000


def test_a_dead_workers_pool_and_listener_go_and_its_counts_stay(tmp_path):
    with live_worker(tmp_path, 0, 0, own=postgres_worker(hits=9, listening=False)):
        pass
    with live_worker(tmp_path, 0, 0, own=postgres_worker(hits=1, in_use=4)):
        seen = scrape(tmp_path)
    assert seen[one("sessionauth_session_cache_hits_total")] == 10 + 2
    assert seen[one("sessionauth_database_pool_size")] == 10
    assert seen[one("sessionauth_database_pool_in_use")] == 4
    assert seen[one("sessionauth_session_cache_listener_up")] == 1


def test_workers_without_a_pool_or_a_cache_export_none_of_their_series(tmp_path):
    # The in-memory store: nothing watched, so no series, not even at zero (a listener "down"
    # at zero would page someone).
    with live_worker(tmp_path, logins=1, depth=0):
        seen = scrape(tmp_path)
    names = {name for name, _ in seen}
    assert not any(
        n.startswith(("sessionauth_database_pool", "sessionauth_session_cache")) for n in names
    )
    assert seen[one("sessionauth_store_unavailable_total", cause="unreachable")] == 0
