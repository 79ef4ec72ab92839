"""A tiny HTTP application on loopback that records every request it receives, headers included:
what a reverse proxy let through, and with which headers, is then a plain list to assert on."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: list[tuple[str, str]]  # as they arrived: every occurrence, names as spelled
    body: bytes

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class RecordingUpstream:
    def __init__(self, server: ThreadingHTTPServer, received: list[Received]) -> None:
        self._server = server
        self.received = received

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def clear(self) -> None:
        self.received.clear()


@contextmanager
def recording_upstream() -> Iterator[RecordingUpstream]:
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects

        def _record(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            received.append(Received(self.command, self.path, list(self.headers.items()), body))
            answer = json.dumps({"upstream": "reached", "path": self.path}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _record

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="recording-upstream", daemon=True)
    thread.start()
    try:
        yield RecordingUpstream(server, received)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
