"""Debian's Prometheus, for the tests of docs/alerts.yaml: `promtool` to check and unit-test the
rules, and a real `prometheus` run from a temporary directory, scraping one target every second
and evaluating the rules as often. Missing binaries fail the test, saying how to install them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import Process, answers, free_port, running

REPO_ROOT = Path(__file__).resolve().parents[1]
ALERTS = REPO_ROOT / "docs" / "alerts.yaml"
INSTALL_PROMETHEUS = (
    "{name} is not installed; these tests run the real thing. Install Debian's package, which "
    "ships both prometheus and promtool: `apt-get install --no-install-recommends prometheus` "
    "(`make system-packages` does it when run as root)."
)


DEBIAN_BIN = "/usr/bin"  # where the package puts both, in case PATH leaves it out


def binary(name: str) -> str:
    debian = os.path.join(DEBIAN_BIN, name)
    found = shutil.which(name) or (debian if os.access(debian, os.X_OK) else None)
    if found is None:
        pytest.fail(INSTALL_PROMETHEUS.format(name=name), pytrace=False)
    return found


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT
    )


class Prometheus:
    """A running Prometheus at `url`, asked through its HTTP API."""

    def __init__(self, process: Process, url: str) -> None:
        self.process = process
        self.url = url

    def _get(self, path: str, **params: str) -> Any:
        response = httpx.get(self.url + path, params=params, timeout=10)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def alerts(self) -> dict[str, str]:
        """Each active alert's name and state (`pending` or `firing`), from /api/v1/alerts."""
        return {a["labels"]["alertname"]: a["state"] for a in self._get("/api/v1/alerts")["alerts"]}

    def query(self, expression: str) -> list[float]:
        """The values of an instant query's samples."""
        return [
            float(s["value"][1]) for s in self._get("/api/v1/query", query=expression)["result"]
        ]


def config(target: str, rules: Path) -> str:
    """Scrape `target` and evaluate `rules` every second (JSON is YAML, so no YAML writer)."""
    return json.dumps(
        {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": "sessionauth", "static_configs": [{"targets": [target]}]}
            ],
        },
        indent=2,
    )


@contextmanager
def prometheus_scraping(target: str, rules: Path) -> Iterator[Prometheus]:
    """Prometheus scraping `target` (host:port) with `rules` loaded, on a free port, its storage
    in a temporary directory; stopped and removed after."""
    executable = binary("prometheus")
    with tempfile.TemporaryDirectory(prefix="sessionauth-prometheus-") as temporary:
        directory = Path(temporary)
        (directory / "prometheus.yml").write_text(config(target, rules))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [
            executable,
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ]
        with running(argv, name="prometheus", ready=answers(url + "/-/ready")) as process:
            yield Prometheus(process, url)
