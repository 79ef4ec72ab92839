"""The session cache's revocation feed on Postgres: one connection that LISTENs for the token
hashes that migration 0003's trigger notifies whenever a session row is deleted."""

from __future__ import annotations

import asyncio
import logging
from time import monotonic

import asyncpg

from adapters.session_cache import CachedSessionRepository

log = logging.getLogger("sessionauth.postgres")

CHANNEL = "sessionauth_revoked"


class RevocationListener:
    """Holds one dedicated connection that LISTENs for revocations, checks it is alive, and
    reconnects after any failure; the cache is enabled only while it is connected, and serves
    only while the last check is at most MAX_SILENCE old (see the rules in adapters/session_cache.py)."""

    CHECK_EVERY = 0.5  # seconds between liveness checks of the listening connection
    CHECK_TIMEOUT = 1.0  # seconds a check may take before the connection counts as lost
    MAX_SILENCE = CHECK_EVERY + CHECK_TIMEOUT  # the most a silent drop leaves the cache serving

    def __init__(self, dsn: str, cache: CachedSessionRepository, timeout: float) -> None:
        self._dsn = dsn
        self._cache = cache
        self._timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sessionauth-revocation-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._cache.set_enabled(False)

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=self._timeout)
                lost = asyncio.Event()
                # Bound now: a late call from an earlier connection must not set a later one's event.
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                proven = monotonic()
                await connection.add_listener(
                    CHANNEL, lambda *args: self._cache.on_notification(args[-1])
                )
                self._cache.set_enabled(True, until=proven + self.MAX_SILENCE)
                self.connected.set()
                backoff = 0.2
                while not lost.is_set():
                    try:
                        await asyncio.wait_for(lost.wait(), self.CHECK_EVERY)
                    except TimeoutError:
                        sent = monotonic()
                        await connection.fetchval("SELECT 1", timeout=self.CHECK_TIMEOUT)
                        self._cache.renew(sent + self.MAX_SILENCE)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - any failure means: not listening, so no cache
                log.warning(
                    "revocation listener down; session cache off",
                    extra={"error": type(error).__name__},
                )
            finally:
                self._cache.set_enabled(False)
                self.connected.clear()
                if connection is not None and not connection.is_closed():
                    connection.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
