"""prometheus_client's multiprocess mode as `serve --workers N` uses it: worker processes write to
files in one directory, and a scrape in any of them sums every worker's counters and the queue
depth of the live ones only. Each worker here is a real process (the mode is chosen when
prometheus_client is imported, so it cannot be switched on inside the test process)."""

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
import sys
from adapters.prometheus_metrics import MeteredAuditLog, PrometheusMetrics
from tests.fakes import RecordingAuditLog
metrics = PrometheusMetrics(sys.argv[1])
audit = MeteredAuditLog(RecordingAuditLog(), metrics)
for _ in range(int(sys.argv[2])):
    audit.record("login_succeeded", user_id="u", session_id="s")
metrics.hash_queue_depth.set(int(sys.argv[3]))
metrics.request_observer("/login", "POST", "2xx")(0.02)
if sys.argv[4] == "scrape":
    sys.stdout.write(metrics.exposition().decode())
else:
    print("ready", flush=True)
    sys.stdin.readline()  # stays alive until told
"""


def worker(directory, logins: int, depth: int, then: str) -> subprocess.Popen:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(directory), str(logins), str(depth), then],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def scrape(directory, logins: int = 0, depth: int = 0) -> dict[tuple, float]:
    process = worker(directory, logins, depth, "scrape")
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(out)
        for s in family.samples
    }


@contextmanager
def live_worker(directory, logins: int, depth: int):
    process = worker(directory, logins, depth, "wait")
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
