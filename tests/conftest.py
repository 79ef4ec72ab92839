"""The test tiers, marked here rather than in each module so that a new test gets its markers from
where it lives and what it uses (the markers are registered in pyproject.toml; docs/development.md
says how to run a tier):

- postgres: the test uses a Postgres fixture, or a parametrised fixture's "postgres" case, which
  asks for one at run time (request.getfixturevalue), so its in-memory case stays unmarked.
- docker: under tests/docker/.
- browser: under tests/browser/ (headless Chromium).
- proxy: the module uses the nginx or Traefik runner.
- prometheus: the module uses tests/prometheus_runner.py (Debian's promtool or prometheus).
- e2e: under tests/e2e/, tests/browser/ or tests/docker/: real processes, started and waited for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.postgres_provider"]

TESTS = Path(__file__).parent
POSTGRES_FIXTURE = "postgres_server_url"  # every Postgres fixture depends on it
POSTGRES_CASE = "postgres"
DIRECTORY_MARKERS = {
    "docker": ("docker", "e2e"),
    "browser": ("browser", "e2e"),
    "e2e": ("e2e",),
}
# A module that uses one of these (a name it imports from it) gets the marker.
RUNNER_MARKERS = {
    "tests.e2e.nginx_runner": "proxy",
    "tests.e2e.traefik_runner": "proxy",
    "tests.prometheus_runner": "prometheus",
}


def tier_markers(item: pytest.Item) -> set[str]:
    markers: set[str] = set()
    parts = item.path.relative_to(TESTS).parts
    if len(parts) > 1:
        markers.update(DIRECTORY_MARKERS.get(parts[0], ()))
    if POSTGRES_FIXTURE in getattr(item, "fixturenames", ()):
        markers.add("postgres")
    callspec = getattr(item, "callspec", None)
    if callspec is not None and POSTGRES_CASE in callspec.params.values():
        markers.add("postgres")
    module = getattr(item, "module", None)
    if module is not None:
        for value in vars(module).values():
            runner = getattr(value, "__module__", None)
            if runner in RUNNER_MARKERS:
                markers.add(RUNNER_MARKERS[runner])
    return markers


# First, so that the markers are there when -m deselects.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name in sorted(tier_markers(item) - {m.name for m in item.iter_markers()}):
            item.add_marker(name)
