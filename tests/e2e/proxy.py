"""What the forward-auth suite needs of a reverse proxy, whichever it is: started in front of
sessionauth and an application (`in_front`, a context manager), its `url`, what it logged, and a
way to stop it. tests/e2e/nginx_runner.py and traefik_runner.py each provide one."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from tests.processes import Process


class Proxy:
    """A proxy process listening on 127.0.0.1:`port`, run from a temporary `directory` that goes
    with it. Both runners make the proxy log to its output, which `log()` reads."""

    def __init__(self, process: Process, port: int, directory: Path) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.directory = directory

    @property
    def name(self) -> str:
        return self.process.name

    def log(self) -> str:
        return self.process.output()

    def stop(self) -> int:
        return self.process.stop()


class InFront(Protocol):
    """A runner: the proxy, started in front of sessionauth's replicas and the application."""

    def __call__(
        self, *, sessionauth_ports: list[int], app_port: int
    ) -> AbstractContextManager[Proxy]: ...
