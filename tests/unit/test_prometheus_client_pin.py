"""adapters/prometheus_metrics.py leans on parts of prometheus_client that are not its public API:
the latency histogram writes its own exposition (bucket bounds formatted by utils.floatToGoString,
`le` inclusive as in Histogram), multiprocess mode is detected by values.ValueClass being
values.MutexValue, and dead workers' live gauges are found by their file names. The lock pins the
version this was checked against; these tests say so when another one is installed, and check each
of those behaviours so that an upgrade shows what broke."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.multiprocess import mark_process_dead

from adapters.prometheus_metrics import (
    LATENCY_BUCKETS,
    LIVE_GAUGE_FILES,
    REQUEST_DURATION,
    REQUEST_DURATION_HELP,
    REQUEST_LABELS,
    _LatencyHistogram,
)

# The version in requirements.lock when the checks below were last read against the library.
CHECKED_AGAINST = "0.26.0"


def test_the_installed_prometheus_client_is_the_one_the_metrics_were_checked_against():
    installed = version("prometheus-client")
    assert installed == CHECKED_AGAINST, (
        f"prometheus_client {installed} is installed, but adapters/prometheus_metrics.py was "
        f"checked against {CHECKED_AGAINST}: it relies on values.ValueClass/MutexValue, "
        "utils.floatToGoString, Histogram's bucket semantics and the gauge_live*_<pid>.db file "
        "names. Make the other tests in this module pass with the new version, read its changes "
        "to those parts, then set CHECKED_AGAINST here."
    )


def without_created(exposition: bytes) -> list[str]:
    # Histogram adds a _created sample (its start time) that the hand-written one does not have.
    return [line for line in exposition.decode().splitlines() if "_created" not in line]


def test_the_latency_histogram_exposes_what_prometheus_clients_histogram_would():
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    latency = _LatencyHistogram(
        ours, REQUEST_DURATION, REQUEST_DURATION_HELP, REQUEST_LABELS, LATENCY_BUCKETS
    )
    reference = Histogram(
        REQUEST_DURATION,
        REQUEST_DURATION_HELP,
        REQUEST_LABELS,
        buckets=LATENCY_BUCKETS,
        registry=theirs,
    )
    # Zero, every bound exactly (le is inclusive), between bounds, and past the last one.
    seconds = [0.0, *LATENCY_BUCKETS, 0.0007, 0.3, 7.5, 42.0]
    series = {("/login", "POST", "2xx"): seconds, ("/me", "GET", "4xx"): seconds[::3]}
    for labels, values in series.items():
        observe = latency.observer(labels)
        for value in values:
            observe(value)
            reference.labels(*labels).observe(value)

    assert without_created(generate_latest(ours)) == without_created(generate_latest(theirs))


def python_with_prometheus_client(code: str, multiprocess_dir: Path | None) -> str:
    # The mode is chosen when prometheus_client is imported: only a fresh process shows it.
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if multiprocess_dir is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(multiprocess_dir)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_value_class_is_the_mutex_value_exactly_when_multiprocess_mode_is_off(tmp_path):
    code = "from prometheus_client import values; print(values.ValueClass is values.MutexValue)"
    assert python_with_prometheus_client(code, multiprocess_dir=None) == "True"
    assert python_with_prometheus_client(code, multiprocess_dir=tmp_path) == "False"


def test_a_workers_live_gauge_file_is_named_with_its_pid_and_removed_when_it_is_dead(tmp_path):
    code = (
        "import os; from prometheus_client import Gauge; "
        "Gauge('depth', 'queue depth', multiprocess_mode='livesum').set(3); print(os.getpid())"
    )
    pid = python_with_prometheus_client(code, multiprocess_dir=tmp_path)

    # What PrometheusMetrics._forget_dead_workers reads: the pid after the last underscore.
    files = glob.glob(str(tmp_path / LIVE_GAUGE_FILES))
    assert [path.rsplit("_", 1)[1].removesuffix(".db") for path in files] == [pid]
    mark_process_dead(int(pid), str(tmp_path))
    assert glob.glob(str(tmp_path / LIVE_GAUGE_FILES)) == []
