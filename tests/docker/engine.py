"""The Docker engine and the image, shared by the tests in tests/docker/: the image is built once
per test run, whichever test needs it first.

Without an engine these tests fail (they never skip) with a message that says how to start one.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE = "sessionauth:test"
BUILD_TIMEOUT = 900  # seconds; a cold build downloads every dependency from PyPI
START_AN_ENGINE = (
    "No Docker engine answers. Start one, with local stand-ins for the images, from the repository "
    "root: `../shared/tools/docker-standins postgres:16-alpine python:3.11-slim nginx:1.27-alpine`, "
    "and export the line it prints last (.ci/run does both)."
)

_built: dict[str, str | None] = {}  # IMAGE -> None once built, or the failure message


def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"`docker {' '.join(args)}` exited {result.returncode}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}",
            pytrace=False,
        )
    return result


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def require_engine() -> None:
    if shutil.which("docker") is None:
        pytest.fail(f"{START_AN_ENGINE}\n(The docker command is not installed.)", pytrace=False)
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if info.returncode != 0:
        pytest.fail(
            f"{START_AN_ENGINE}\n`docker info`: {info.stderr.strip()[-1000:]}", pytrace=False
        )


def built_image() -> str:
    """IMAGE, built from docker/Dockerfile on the first call of the run. A failed build is
    remembered, so that every later caller fails at once with the same message."""
    if IMAGE in _built:
        if _built[IMAGE] is not None:
            pytest.fail(_built[IMAGE], pytrace=False)
        return IMAGE
    require_engine()
    started = time.monotonic()
    try:
        docker(
            "build",
            "--network",
            "host",
            "-f",
            "docker/Dockerfile",
            "-t",
            IMAGE,
            ".",
            timeout=BUILD_TIMEOUT,
        )
    except pytest.fail.Exception as failure:
        _built[IMAGE] = failure.msg
        raise
    _built[IMAGE] = None
    print(f"\n{IMAGE} built in {time.monotonic() - started:.1f} s")
    return IMAGE
