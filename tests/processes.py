"""Start a real `sessionauth serve` process for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.constants import CHEAP_ARGON2

SESSIONAUTH = str(Path(sys.executable).parent / "sessionauth")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_env(**settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DATABASE_URL" and not k.startswith(("SESSION_", "ARGON2_"))
    }
    env.update(CHEAP_ARGON2)
    env["SESSION_COOKIE_SECURE"] = "false"  # plain http on loopback
    env.update(settings)
    return env


def run_cli(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SESSIONAUTH, *args], env=cli_env(**settings), capture_output=True, text=True, timeout=120
    )


class Server:
    def __init__(self, process: subprocess.Popen[str], url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def output(self) -> str:
        """Everything the process logged so far (a file, so a chatty server never blocks on a pipe)."""
        return self.log.read_text("utf-8", errors="replace")


@contextmanager
def serving(*extra_args: str, ready_timeout: float = 60, **settings: str) -> Iterator[Server]:
    with serving_many(1, *extra_args, ready_timeout=ready_timeout, **settings) as (server,):
        yield server


@contextmanager
def serving_many(
    count: int, *extra_args: str, ready_timeout: float = 60, **settings: str
) -> Iterator[list[Server]]:
    """`count` serve processes started at the same moment, then waited for together."""
    servers: list[Server] = []
    try:
        for _ in range(count):
            port = free_port()
            log = Path(tempfile.mkstemp(prefix="sessionauth-serve-", suffix=".log")[1])
            with log.open("w") as sink:
                process = subprocess.Popen(
                    [SESSIONAUTH, "serve", "--host", "127.0.0.1", "--port", str(port), *extra_args],
                    env=cli_env(**settings),
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            servers.append(Server(process, f"http://127.0.0.1:{port}", log))
        deadline = time.monotonic() + ready_timeout
        for server in servers:
            _wait_ready(server, deadline)
        yield servers
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait(10)
            server.log.unlink(missing_ok=True)


def _wait_ready(server: Server, deadline: float) -> None:
    while True:
        if server.process.poll() is not None:
            raise AssertionError(
                f"serve exited with {server.process.returncode}: {server.output()}"
            )
        try:
            if httpx.get(server.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("serve did not answer /healthz in time")
        time.sleep(0.1)
