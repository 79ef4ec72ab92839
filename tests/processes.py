"""Start the processes that end-to-end tests drive, wait until they are ready, stop them.

`running` is the one way to do it: the process's output goes to a file (a chatty process never
blocks on a full pipe, and a failure can show what it said), readiness is polled until a generous
but bounded deadline, and the process is stopped with SIGTERM and killed only if it does not exit.
`serving` is `running` for `sessionauth serve`, ready once `/readyz` answers 200 (its store
brought up: migrated, schema current), or only `/healthz` for a test that starts it with the
store down.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.constants import CHEAP_ARGON2

SESSIONAUTH = str(Path(sys.executable).parent / "sessionauth")
# Generous: the machine that runs the suite may be busy with another suite, and a process that is
# merely slow must not fail a test. Bounded, so that one that never gets ready fails it.
READY_TIMEOUT = 60  # seconds
STOP_TIMEOUT = 10  # seconds between SIGTERM and SIGKILL when a test did not stop the process itself
OUTPUT_TAIL = 4000  # characters of a process's output in a failure message


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


class Process:
    """A process started by `start`, its stdout and stderr together in a file."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    def output(self) -> str:
        """Everything the process wrote so far, stdout and stderr interleaved."""
        return self.log.read_text("utf-8", errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then its exit status; raises TimeoutExpired if it has not exited in time (a
        test that asserts a clean stop wants to know)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def wait_ready(self, ready: Callable[[], bool], deadline: float) -> None:
        """Until `ready()` (polled) is true; fails the test, with the output, if the process exits
        first or the deadline (a time.monotonic() value) passes."""
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited with {self.process.returncode} before it was ready:\n"
                    f"{self.output()[-OUTPUT_TAIL:]}",
                    pytrace=False,
                )
            if ready():
                return
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{self.name} was not ready in time:\n{self.output()[-OUTPUT_TAIL:]}",
                    pytrace=False,
                )
            time.sleep(0.1)

    def close(self) -> None:
        """Stopped (SIGTERM, SIGKILL after STOP_TIMEOUT), and its output file removed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        self.log.unlink(missing_ok=True)


def start(
    argv: Sequence[str],
    *,
    name: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Process:
    """`argv` started with its output going to a temporary file; `close()` it when done."""
    log = Path(tempfile.mkstemp(prefix=f"sessionauth-test-{name.split()[0]}-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            list(argv), env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink
        )
    return Process(name, process, log)


@contextmanager
def running(
    argv: Sequence[str],
    *,
    name: str,
    ready: Callable[[], bool],
    timeout: float = READY_TIMEOUT,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[Process]:
    """`argv` started, and yielded once `ready()`; stopped (and its output file removed) after."""
    process = start(argv, name=name, env=env, cwd=cwd)
    try:
        process.wait_ready(ready, time.monotonic() + timeout)
        yield process
    finally:
        process.close()


def answers(url: str, status: int = 200) -> Callable[[], bool]:
    """A readiness check: a GET of `url` answers `status`."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == status
        except httpx.TransportError:
            return False

    return check


def listening(port: int) -> Callable[[], bool]:
    """A readiness check: something accepts connections on 127.0.0.1:`port`."""

    def check() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    return check


class Server(Process):
    """A `sessionauth serve` process, at `url`."""

    def __init__(self, process: Process, url: str) -> None:
        super().__init__(process.name, process.process, process.log)
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])


READY = "/readyz"  # serve's port opens at once; this answers 200 once its store is up
LIVE = "/healthz"  # answers 200 as soon as the port is open, the store up or not


@contextmanager
def serving(
    *extra_args: str,
    ready_timeout: float = READY_TIMEOUT,
    ready_path: str = READY,
    port: int | None = None,
    **settings: str,
) -> Iterator[Server]:
    """One serve process; on `port` when given (a test that must name its URL in the settings
    first, such as PUBLIC_URL), else on a free one."""
    with serving_many(
        1, *extra_args, ready_timeout=ready_timeout, ready_path=ready_path, port=port, **settings
    ) as (server,):
        yield server


@contextmanager
def serving_many(
    count: int,
    *extra_args: str,
    ready_timeout: float = READY_TIMEOUT,
    ready_path: str = READY,
    port: int | None = None,
    **settings: str,
) -> Iterator[list[Server]]:
    """`count` serve processes started at the same moment, then waited for together, until
    `ready_path` answers 200."""
    servers: list[Server] = []
    try:
        for _ in range(count):
            listen = port if port is not None and count == 1 else free_port()
            process = start(
                [SESSIONAUTH, "serve", "--host", "127.0.0.1", "--port", str(listen), *extra_args],
                name="sessionauth serve",
                env=cli_env(**settings),
            )
            servers.append(Server(process, f"http://127.0.0.1:{listen}"))
        deadline = time.monotonic() + ready_timeout
        workers = (
            int(extra_args[extra_args.index("--workers") + 1]) if "--workers" in extra_args else 1
        )
        for server in servers:
            server.wait_ready(answers(server.url + ready_path), deadline)
            if workers > 1 and ready_path == READY and _logs_info(settings):
                # /readyz answered by one worker says nothing of the others: each logs its own.
                server.wait_ready(lambda server=server: _stores_ready(server) >= workers, deadline)
        yield servers
    finally:
        for server in servers:
            server.close()


# The bring-up's line, in LOG_FORMAT=json and text.
_STORE_READY = re.compile(r'(?:"message": "|: )store ready(?:"|\s|$)', re.MULTILINE)


def _logs_info(settings: dict[str, str]) -> bool:
    return settings.get("LOG_LEVEL", "info").lower() in ("debug", "info")


def _stores_ready(server: Server) -> int:
    """How many workers of `server` have logged that their store is up."""
    return len(_STORE_READY.findall(server.output()))


@contextmanager
def notes_app(**settings: str) -> Iterator[tuple[str, Process]]:
    """`python -m examples.notes_app`, as its docstring starts it, from the repository root; yields
    its base URL and the process once sessionauth, mounted at /auth, is ready."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running(
        [sys.executable, "-m", "examples.notes_app", "--port", str(port)],
        name="the notes app",
        ready=answers(f"{base}/auth/readyz"),
        cwd=Path(__file__).resolve().parents[1],
        # cli_env: the settings given, over plain http, whatever the developer's shell has set.
        env=cli_env(**settings),
    ) as app:
        yield base, app
