"""The access log's own writing: the lines it puts together by hand are those the formatters would
write, a stream that stops taking lines holds up neither the requests nor the shutdown for ever,
and nothing waiting is lost when it closes. Then the request observer around a failing app."""

import io
import json
import logging
import os
import select
import threading
import time

import pytest
from starlette.routing import Route

import entrypoints.access_log as access_log_module
from entrypoints.access_log import LOGGER, AccessLog, _write_lines
from entrypoints.http.client_address import ClientAddress
from entrypoints.http.observer import RequestObserver
from entrypoints.http.route_path import RouteTemplates
from entrypoints.logging_setup import REQUEST_ID
from tests.service_log import json_lines, service_log, text_fields

AT = 1_764_500_000.25  # 2025-11-30T10:53:20.250Z: a quarter, exact in binary
FIELDS = {
    "method": "DELETE",
    "route": "/sessions/{session_id}",
    "status": 204,
    "duration": 0.001234,
    "client_address": '2001:db8::1 "not" an\naddress',
    "request_id": "abc-123",
}
HANDLER_WAIT = 5.0  # seconds: generous, for a thread on a busy machine


def formatted(fmt: str, stream: io.StringIO) -> str:
    """What the service's formatter makes of a record of the access logger with FIELDS at AT."""
    (handler,) = logging.getLogger("sessionauth").handlers
    record = logging.makeLogRecord(
        {"name": LOGGER, "levelno": logging.INFO, "levelname": "INFO", "msg": "request", **FIELDS}
    )
    record.created, record.msecs = AT, 250.0
    return handler.format(record) + "\n"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_line_is_what_the_formatter_writes_for_a_record_with_the_same_fields(fmt):
    with service_log(fmt=fmt) as stream:
        access_log = AccessLog(clock=lambda: AT)
        write = access_log.writer(FIELDS["method"], FIELDS["route"], FIELDS["status"])
        write(FIELDS["duration"], FIELDS["client_address"], FIELDS["request_id"])
        access_log.close()
        expected = formatted(fmt, stream)
        line = stream.getvalue()
    assert line.count("\n") == 1
    if fmt == "json":
        assert json.loads(line) == json.loads(expected)
        assert json.loads(line)["time"] == "2025-11-30T10:53:20.250Z"
    else:
        assert line == expected
        assert text_fields(line)["client_address"] == FIELDS["client_address"]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_lines_are_ascii_whatever_the_address_and_read_back_the_same(fmt):
    peer = "/run/sé\u2028rvice.sock"  # what a Unix socket's peer might be named
    with service_log(fmt=fmt) as stream:
        access_log = AccessLog()
        access_log.writer("GET", "/protected", 200)(0.0, peer, "r")
        access_log.close()
        line = stream.getvalue()
    assert line.isascii() and line.count("\n") == 1
    fields = json.loads(line) if fmt == "json" else text_fields(line)
    assert fields["client_address"] == peer


class PipeWrites(io.StringIO):
    """A stream that keeps what each write was given, and says it is a pipe."""

    def __init__(self, pipe: int) -> None:
        super().__init__()
        self.writes: list[str] = []
        self._pipe = pipe

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)

    def fileno(self) -> int:
        return self._pipe


LINES = "".join(f'{{"request_id": "r{n}", "padding": "{"x" * 200}"}}\n' for n in range(500))


def test_to_a_pipe_lines_go_out_in_writes_it_keeps_whole():
    # Workers sharing one stderr pipe: a write of at most PIPE_BUF bytes is never interleaved.
    read_end, write_end = os.pipe()
    try:
        stream = PipeWrites(write_end)
        _write_lines(stream, LINES)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert "".join(stream.writes) == LINES and len(stream.writes) > 1
    assert all(len(w.encode()) <= select.PIPE_BUF and w.endswith("\n") for w in stream.writes)


def test_to_a_regular_file_or_a_string_the_lines_go_out_in_one_write(tmp_path):
    with (tmp_path / "log").open("w") as file:
        streams = [PipeWrites(file.fileno()), PipeWrites(-1)]  # -1: fstat fails, as a StringIO's
        for stream in streams:
            _write_lines(stream, LINES)
    assert [stream.writes for stream in streams] == [[LINES], [LINES]]


def test_the_time_follows_the_clock_across_seconds_and_milliseconds():
    times = iter([AT, AT + 0.5, AT + 0.875, AT + 1.0, AT + 3600, 1 - 2**-53])
    with service_log() as stream:
        access_log = AccessLog(clock=lambda: next(times))
        write = access_log.writer("GET", "/protected", 200)
        for _ in range(6):
            write(0.0, None, "r")
        access_log.close()
        lines = json_lines(stream)
    assert [line["time"] for line in lines] == [
        "2025-11-30T10:53:20.250Z",
        "2025-11-30T10:53:20.750Z",
        "2025-11-30T10:53:21.125Z",
        "2025-11-30T10:53:21.250Z",
        "2025-11-30T11:53:20.250Z",
        "1970-01-01T00:00:00.999Z",  # the last float before a second: still that second
    ]
    assert all("client_address" not in line for line in lines)  # unknown: left out


def test_lines_wait_for_the_thread_and_close_writes_out_every_one():
    with service_log() as stream:
        access_log = AccessLog()
        write = access_log.writer("GET", "/protected", 200)
        for n in range(1000):
            write(0.0, "192.0.2.1", f"r{n}")
        access_log.close()
        assert [line["request_id"] for line in json_lines(stream)] == [f"r{n}" for n in range(1000)]
        write(0.0, "192.0.2.1", "after")  # a line after close starts the thread again
        access_log.close()
        assert json_lines(stream)[-1]["request_id"] == "after"


class StuckStream(io.StringIO):
    """A stream whose writes wait until `release()`, as stderr does when nobody reads the pipe."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self._released = threading.Event()

    def write(self, text: str) -> int:
        self.entered.set()
        self._released.wait()
        return super().write(text)

    def release(self) -> None:
        self._released.set()


def test_a_stuck_stream_holds_up_neither_the_requests_nor_close_and_drops_are_told(monkeypatch):
    monkeypatch.setattr(access_log_module, "MAX_PENDING", 5)
    monkeypatch.setattr(access_log_module, "CLOSE_TIMEOUT", 0.2)
    stream = StuckStream()
    with service_log(stream=stream):
        access_log = AccessLog()
        write = access_log.writer("GET", "/protected", 200)
        write(0.0, None, "first")
        assert stream.entered.wait(HANDLER_WAIT)  # the thread is stuck writing the first line
        for n in range(10):
            write(0.0, None, f"r{n}")  # returns at once: 5 wait, 5 are dropped
        finished = threading.Event()
        closing = threading.Thread(target=lambda: (access_log.close(), finished.set()))
        closing.start()
        assert finished.wait(HANDLER_WAIT), "close() waited for the stuck stream"
        stream.release()
        deadline = time.monotonic() + HANDLER_WAIT
        while stream.getvalue().count("\n") < 7:
            assert time.monotonic() < deadline, stream.getvalue()
            time.sleep(0.01)
        lines = json_lines(stream)
    access = [
        line["request_id"] for line in lines if line["logger"] == LOGGER and "request_id" in line
    ]
    assert access == ["first", *(f"r{n}" for n in range(5))]
    (warning,) = [line for line in lines if line["level"] == "warning"]
    assert warning["dropped"] == 5 and "dropped" in warning["message"]


def test_under_another_logging_configuration_each_line_is_a_record_of_the_access_logger():
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger(LOGGER)
    handler, previous = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        AccessLog().writer("GET", "/protected", 401)(0.25, "192.0.2.1", "abc")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    (record,) = records
    assert record.getMessage() == "request"
    assert {k: getattr(record, k) for k in FIELDS} == {
        "method": "GET",
        "route": "/protected",
        "status": 401,
        "duration": 0.25,
        "client_address": "192.0.2.1",
        "request_id": "abc",
    }


# --- the request observer ---


def observer_around(app, access_log: AccessLog) -> RequestObserver:
    routes = RouteTemplates([Route("/boom", lambda request: None)])
    observer = RequestObserver(routes, ClientAddress(()), access_log, None)
    observer.app = app
    return observer


def scope_of(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "headers": headers or [],
        "client": ("192.0.2.7", 1234),
    }


async def nothing() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


async def test_an_app_that_raises_before_answering_is_logged_as_a_500_and_the_error_goes_on():
    seen: list[str | None] = []

    async def failing(scope, receive, send):
        seen.append(REQUEST_ID.get())
        raise RuntimeError("boom")

    async def never(message):
        raise AssertionError("nothing is sent")

    with service_log() as stream:
        access_log = AccessLog()
        observer = observer_around(failing, access_log)
        with pytest.raises(RuntimeError):
            await observer(scope_of("/boom", [(b"x-request-id", b"fail-1")]), nothing, never)
        access_log.close()
        (line,) = json_lines(stream)
    assert seen == ["fail-1"] and REQUEST_ID.get() is None  # set while handled, then reset
    assert (line["route"], line["status"], line["request_id"]) == ("/boom", 500, "fail-1")
    assert line["client_address"] == "192.0.2.7"


async def test_the_request_id_is_added_to_the_headers_the_app_sends():
    sent: list[dict] = []

    async def answering(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": ((b"a", b"1"),)})
        await send({"type": "http.response.body", "body": b""})

    async def collect(message):
        sent.append(message)

    with service_log():
        access_log = AccessLog()
        await observer_around(answering, access_log)(
            scope_of("/elsewhere", [(b"x-request-id", b"given")]), nothing, collect
        )
        access_log.close()
    assert sent[0]["headers"] == [(b"a", b"1"), (b"x-request-id", b"given")]
