"""A stand-in PostgreSQL server that refuses every password, as a real one does for a wrong one
(the local test server trusts every connection, so a wrong password cannot be shown with it)."""

from __future__ import annotations

import asyncio
import struct
import threading

SSL_REQUEST = 80877103
GSS_REQUEST = 80877104
CLEARTEXT_PASSWORD = 3
INVALID_PASSWORD = "28P01"


class RefusingPostgres:
    """Listens on 127.0.0.1:`port`; asks each client for its password (in clear: it is thrown
    away unread), then answers as PostgreSQL does for a wrong one, SQLSTATE 28P01."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    def __enter__(self) -> RefusingPostgres:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._refuse, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # SSL and GSS encryption requests first, each declined with "N"
                length, code = struct.unpack("!ii", await reader.readexactly(8))
                if code not in (SSL_REQUEST, GSS_REQUEST):
                    await reader.readexactly(length - 8)  # the rest of the startup message
                    break
                writer.write(b"N")
            writer.write(b"R" + struct.pack("!ii", 8, CLEARTEXT_PASSWORD))
            await reader.readexactly(1)  # "p", the password message
            (length,) = struct.unpack("!i", await reader.readexactly(4))
            await reader.readexactly(length - 4)
            fields = b"".join(
                kind + text.encode() + b"\0"
                for kind, text in (
                    (b"S", "FATAL"),
                    (b"V", "FATAL"),
                    (b"C", INVALID_PASSWORD),
                    (b"M", 'password authentication failed for user "app"'),
                )
            )
            writer.write(b"E" + struct.pack("!i", 4 + len(fields) + 1) + fields + b"\0")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
