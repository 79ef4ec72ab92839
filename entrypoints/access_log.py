"""The access log: one line per request, on the `sessionauth.access` logger's stream.

A line goes through `logging` (a LogRecord, a Formatter, a StreamHandler's write) at about 15 to
20 us, as much as the hottest GETs cost in all. So under the service's own configuration
(logging_setup.ServiceHandler) the line is written here, in the formatter's format: its fixed
part (logger, method, route template, status) is made once per combination, the time from the
second's text made once per second, the client address escaped as any value would be. Lines wait
in a queue that a thread writes out every FLUSH_INTERVAL seconds, under the handler's lock (so they
never interleave with other records), in one write, or to a pipe in writes of whole lines that it
keeps whole (so they never interleave with another worker's either), and on `close()`.

- A stream that stops taking lines blocks that thread, never the event loop; past MAX_PENDING lines
  waiting, further lines are dropped and counted, and a warning says how many once the stream
  takes lines again.
- `close()` (at the end of the app's lifespan, and at interpreter exit for an app that had none)
  writes out what waits, giving the thread CLOSE_TIMEOUT seconds: a stream still blocked then
  keeps those lines.
- Under any other logging configuration (an application that embeds sessionauth and configures
  logging itself), each line is a record of the `sessionauth.access` logger, with the same fields.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import stat
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from json.encoder import encode_basestring_ascii
from typing import TextIO

from entrypoints.logging_setup import JsonFormatter, ServiceHandler, text_value

LOGGER = "sessionauth.access"
FLUSH_INTERVAL = 0.1  # seconds a line may wait before it is written
MAX_PENDING = 10_000  # lines waiting at most (a few MB); a stream that takes none drops the rest
CLOSE_TIMEOUT = 2.0  # seconds `close()` waits for the lines still waiting to be written
# Bytes a write may hold to reach a pipe whole, never interleaved with another process's writes
# (POSIX's PIPE_BUF is at least 512; Linux's is 4096).
ATOMIC_WRITE = select.PIPE_BUF

# (seconds the request took, the client's address or None, the request id): writes one line
Write = Callable[[float, str | None, str], None]

_open: weakref.WeakSet[AccessLog] = weakref.WeakSet()


class AccessLog:
    """The access lines of one app: `writer()` makes what writes them, `close()` writes out
    what waits."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """`clock`: the time of a line, in seconds since the epoch."""
        self._clock = clock
        self._logger = logging.getLogger(LOGGER)
        self._handler = _service_handler(self._logger)
        self._format: _Line | None = None
        if self._handler is not None:
            in_json = isinstance(self._handler.formatter, JsonFormatter)
            self._format = _JsonLine() if in_json else _TextLine()
        self._pending: deque[str] = deque()
        # Each counter has one writer: lines refused because MAX_PENDING were waiting (counted
        # by the event loop's thread), lines a failed write lost, and of both how many a warning
        # has told (counted by whichever thread flushes, under the handler's lock).
        self._dropped = 0
        self._lost = 0
        self._reported = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one thread starts or stops the writer at a time

    def writer(self, method: str, route: str, status: int) -> Write:
        """What writes the line of a request of this method, route template and status. Made
        once per combination: the line's fixed part is ready in it."""
        line = self._format
        if line is None:
            return self._record_writer(method, route, status)
        fixed, milliseconds, addresses = (
            line.fixed(method, route, status),
            line.milliseconds,
            line.addresses,
        )
        id_key, end = line.id_key, line.end
        pending, append, now = self._pending, self._pending.append, self._clock

        def write(elapsed: float, client: str | None, request_id: str) -> None:
            if len(pending) >= MAX_PENDING:
                self._dropped += 1
                return
            at = now()
            second = int(at)
            if second != line.second:
                line.renew(second)
            address = addresses.get(client)
            if address is None:
                address = line.address(client)
            append(
                f"{line.stamp}{milliseconds[int((at - second) * 1000)]}{fixed}{elapsed:.6f}"
                f"{address}{id_key}{request_id}{end}"
            )
            if self._thread is None:
                self._start()

        return write

    def flush(self) -> None:
        """Write out every line waiting, now, in this thread. Under the handler's lock from the
        taking of the lines to their writing: once a flush returns, no line taken by another is
        still unwritten."""
        handler = self._handler
        if handler is None:
            return
        handler.acquire()
        try:
            pending = self._pending
            # popleft, in C, as many times as there are lines now: safe while the loop adds more
            lines = list(islice(iter(pending.popleft, None), len(pending)))
            if lines:
                try:
                    _write_lines(handler.stream, "".join(lines))
                except (OSError, ValueError):  # a stream closed or broken: those lines are lost
                    self._lost += len(lines)
            missing = self._dropped + self._lost - self._reported
            self._reported += missing
        finally:
            handler.release()
        if missing:
            self._logger.warning(
                "access log lines dropped: the log stream did not take them in time",
                extra={"dropped": missing},
            )

    def close(self) -> None:
        """Write out what waits and stop the writing thread (a later line starts it again)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._stop.set()
            thread.join(CLOSE_TIMEOUT)
            self._stop = threading.Event()
            _open.discard(self)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            stop = self._stop
            self._thread = threading.Thread(
                target=self._run, args=(stop,), name="sessionauth-access-log", daemon=True
            )
            self._thread.start()
            _open.add(self)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(FLUSH_INTERVAL):
            self.flush()
        self.flush()

    def _record_writer(self, method: str, route: str, status: int) -> Write:
        logger = self._logger

        def write(elapsed: float, client: str | None, request_id: str) -> None:
            if logger.isEnabledFor(logging.INFO):
                fields = {"method": method, "route": route, "status": status}
                fields["duration"] = round(elapsed, 6)
                if client is not None:
                    fields["client_address"] = client
                fields["request_id"] = request_id
                logger.info("request", extra=fields)

        return write


@atexit.register
def _close_all() -> None:
    for access_log in list(_open):
        access_log.close()


def _forget_threads() -> None:
    # A forked child has none of its parent's threads: its first line starts a writer of its own.
    for access_log in list(_open):
        access_log._thread = None
        access_log._lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_threads)


def _write_lines(stream: TextIO, text: str) -> None:
    """`text` in one write, or, to a pipe or a socket, in writes of at most ATOMIC_WRITE bytes
    each ending at a line's end: the workers of `serve --workers N` share one stderr, often a pipe
    (a container's), where a longer write may be interleaved with another worker's. A regular
    file takes one write whole. Lines are ASCII (see _Line), so characters are bytes."""
    size = len(text)
    if size <= ATOMIC_WRITE or not _is_pipe(stream):
        stream.write(text)
        stream.flush()
        return
    start = 0
    while start < size:
        end = size
        if size - start > ATOMIC_WRITE:
            end = text.rfind("\n", start, start + ATOMIC_WRITE) + 1
            if end <= start:  # a line longer than that (none is): whole all the same
                end = text.find("\n", start) + 1 or size
        stream.write(text[start:end])
        stream.flush()
        start = end


def _is_pipe(stream: TextIO) -> bool:
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError):  # no file descriptor (a StringIO): nobody else writes to it
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _service_handler(logger: logging.Logger) -> ServiceHandler | None:
    """The ServiceHandler that `logger`'s records reach, as `logging` would find it."""
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if isinstance(handler, ServiceHandler):
                return handler
        current = current.parent if current.propagate else None
    return None


class _Line:
    """A line in the parts that `AccessLog.writer` puts together: the second's text (renewed once
    a second) and the milliseconds' (from a table: formatting numbers is what costs most), the
    fixed part, the duration, the client address field (escaped once per address and kept), the
    request id (of [A-Za-z0-9._-] only, observer.py). Every part is ASCII: a value that is not is
    escaped as JSON does with ensure_ascii (the one difference from the formatters' lines, which
    keep such characters as they are; a server gives an IP address, which never needs it)."""

    id_key: str
    end: str
    address_key: str
    after_milliseconds = ""
    MAX_ADDRESSES = 4096  # escaped address fields kept; past that the cache starts again

    def __init__(self) -> None:
        self.second = -1
        self.stamp = ""
        # (now - second) * 1000 is below 1000.0 for every float `now`: 1000 entries suffice
        self.milliseconds = [f"{n:03d}{self.after_milliseconds}" for n in range(1000)]
        self.addresses: dict[str | None, str] = {}

    def renew(self, second: int) -> None:
        self.second = second
        self.stamp = self.second_text(second)

    def address(self, client: str | None) -> str:
        if len(self.addresses) >= self.MAX_ADDRESSES:
            self.addresses.clear()
        text = "" if client is None else f"{self.address_key}{self.escape(client)}"
        self.addresses[client] = text
        return text

    def second_text(self, second: int) -> str:
        raise NotImplementedError

    def escape(self, value: str) -> str:
        raise NotImplementedError

    def fixed(self, method: str, route: str, status: int) -> str:
        raise NotImplementedError


class _JsonLine(_Line):
    """The line JsonFormatter writes for a record of LOGGER with these fields."""

    address_key = ', "client_address": '
    id_key = ', "request_id": "'
    end = '"}\n'
    after_milliseconds = 'Z"'

    def second_text(self, second: int) -> str:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f'{{"time": "{text}.'

    def escape(self, value: str) -> str:
        # A server may give a peer that is not an IP address (a Unix socket's path).
        escaped: str = encode_basestring_ascii(value)
        return escaped

    def fixed(self, method: str, route: str, status: int) -> str:
        # Method and route come from fixed sets (unknown ones are collapsed), status is a number:
        # encoded here all the same, once.
        return (
            f', "level": "info", "logger": "{LOGGER}", "message": "request", '
            f'"method": {self.escape(method)}, "route": {self.escape(route)}, '
            f'"status": {int(status)}, "duration": '
        )


class _TextLine(_Line):
    """The line TextFormatter writes for a record of LOGGER with these fields."""

    address_key = " client_address="
    id_key = " request_id="
    end = "\n"

    def second_text(self, second: int) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S,", time.localtime(second))

    def escape(self, value: str) -> str:
        return text_value(value) if value.isascii() else json.dumps(value)

    def fixed(self, method: str, route: str, status: int) -> str:
        return (
            f" INFO {LOGGER}: request method={self.escape(method)} "
            f"route={self.escape(route)} status={int(status)} duration="
        )
