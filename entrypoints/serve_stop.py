"""How a worker of `sessionauth serve` stops the whole server with exit status 2, when it finds
a configuration error only after start (the database was down at start, then refused the
password, say).

uvicorn runs the app in serve's own process (one worker) or in worker processes that it starts
again when they die (several): neither an exception in a worker nor its exit reaches serve's exit
status. So serve names a file in the environment its workers inherit, holding serve's process id;
a worker that must stop serve appends the status and the message there, then sends serve SIGTERM,
which uvicorn answers in either case with its graceful shutdown. serve then prints the message
and exits with that status.
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("sessionauth")

VARIABLE = "SESSIONAUTH_SERVE_STOP_FILE"
CONFIGURATION_ERROR = 2


class StopFile:
    """serve's side: the file, and what a worker wrote there."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def request(self) -> tuple[int, str] | None:
        """(status, message) of the first stop a worker asked for, or None."""
        lines = self.path.read_text("utf-8").splitlines()[1:]
        if not lines:
            return None
        status, _, message = lines[0].partition(" ")
        return int(status), message


@contextmanager
def stop_file() -> Iterator[StopFile]:
    """A new file (mode 0600) holding this process's id, named by VARIABLE in the environment
    until the block ends, then removed."""
    descriptor, name = tempfile.mkstemp(prefix="sessionauth-serve-", suffix=".stop")
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(f"{os.getpid()}\n")
    os.environ[VARIABLE] = name
    try:
        yield StopFile(Path(name))
    finally:
        os.environ.pop(VARIABLE, None)
        Path(name).unlink(missing_ok=True)


def stopper(environ: Mapping[str, str]) -> Callable[[str], None] | None:
    """A worker's side: what stops serve with exit status 2 and a message, or None when this
    process is not serving under `sessionauth serve` (an application that embeds sessionauth,
    plain uvicorn)."""
    name = environ.get(VARIABLE)
    if not name:
        return None
    path = Path(name)

    def stop(message: str) -> None:
        try:
            with path.open("r+", encoding="utf-8") as file:
                serve = int(file.readline())
                file.seek(0, os.SEEK_END)
                file.write(f"{CONFIGURATION_ERROR} {' '.join(message.split())}\n")
            os.kill(serve, signal.SIGTERM)
        except (OSError, ValueError):  # serve is gone already, or the file is not its
            log.exception("could not stop sessionauth serve", extra={"file": name})

    return stop
