"""GET /metrics of a real `sessionauth serve --workers 2`: every scrape, whichever worker answers
it, reports the totals of both workers (the pool and hashing capacity too; the session cache's
listener as the lowest of them); the workers' private metrics directory goes at exit."""

import shutil
import time
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import Server, serving

PASSWORD = "correct horse battery staple"


def metrics_directory(server: Server) -> Path:
    """The directory serve gave its workers, read from a worker's environment."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for child in children:
        for entry in Path(f"/proc/{child}/environ").read_bytes().split(b"\0"):
            if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                return Path(entry.partition(b"=")[2].decode())
    raise AssertionError(f"no worker of {pid} has PROMETHEUS_MULTIPROC_DIR")


def successful_logins_by_worker(directory: Path) -> dict[str, float]:
    """What each worker process wrote to its own counter file."""
    counts = {}
    for path in directory.glob("counter_*.db"):
        for family in MultiProcessCollector.merge([str(path)]):
            for sample in family.samples:
                if sample.name == "sessionauth_logins_total" and sample.labels == {
                    "outcome": "success"
                }:
                    counts[path.stem] = sample.value
    return counts


def scrape(url: str) -> dict[tuple, float]:
    with httpx.Client(base_url=url) as fresh:  # a new connection: either worker may take it
        response = fresh.get("/metrics")
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


SIZES = {"DATABASE_POOL_SIZE": "3", "HASH_CONCURRENCY": "1", "HASH_QUEUE_SIZE": "3"}


def test_every_scrape_reports_the_logins_of_both_workers(database_url):
    with serving("--workers", "2", DATABASE_URL=database_url, **SIZES) as server:
        directory = metrics_directory(server)
        try:
            logins = log_in_on_both_workers(server, directory)
            deadline = time.monotonic() + 30
            while scrape(server.url)[("sessionauth_session_cache_listener_up", ())] != 1:
                assert time.monotonic() < deadline, "a worker's listener never connected"
                time.sleep(0.2)
            for _ in range(10):
                seen = scrape(server.url)
                assert seen[("sessionauth_logins_total", (("outcome", "success"),))] == logins
                assert seen[("sessionauth_signups_total", (("outcome", "success"),))] == 1
                assert seen[("sessionauth_hash_queue_depth", ())] == 0
                assert seen[("sessionauth_hash_capacity", ())] == 2 * 4
                assert seen[("sessionauth_database_pool_size", ())] == 2 * 3
                assert seen[("sessionauth_session_cache_listener_up", ())] == 1
                login_requests = ("method", "POST"), ("route", "/login"), ("status", "2xx")
                assert (
                    seen[("sessionauth_http_request_duration_seconds_count", login_requests)]
                    == logins
                )
            assert server.stop() == 0
            assert not directory.exists()
        finally:
            shutil.rmtree(directory, ignore_errors=True)  # when a failure leaves serve to be killed


def log_in_on_both_workers(server: Server, directory: Path) -> int:
    """Logins on fresh connections (each goes to whichever worker accepts it first) until both
    workers have counted some, within a generous bound; returns how many."""
    with httpx.Client(base_url=server.url) as client:
        assert (
            client.post("/signup", json={"username": "counted", "password": PASSWORD}).status_code
            == 201
        )
    logins = 0
    while logins < 200:
        for _ in range(10):
            with httpx.Client(base_url=server.url) as fresh:
                assert fresh.post("/login", auth=("counted", PASSWORD)).status_code == 200
        logins += 10
        if sum(1 for n in successful_logins_by_worker(directory).values() if n > 0) >= 2:
            break
    by_worker = successful_logins_by_worker(directory)
    assert sum(by_worker.values()) == logins
    assert sum(1 for n in by_worker.values() if n > 0) == 2, by_worker
    return logins
