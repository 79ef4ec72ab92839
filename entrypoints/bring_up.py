"""Bringing the store up beside serving, until it is ready: `/readyz` answers 503 until then,
and every request that needs the store gets the usual 503.

An attempt applies pending migrations (unless told not to), checks that the schema is current,
then opens the store (on Postgres, the pool and the session cache's listener) and asks it the
readiness question. The store is opened last, so that no request reaches tables that may not
exist yet: until then each one finds the store closed, which is a 503 like any outage.

Attempts are BACKOFF_FIRST seconds apart, doubling up to BACKOFF_MOST, with jitter so that
instances restarted together do not knock in step; each failure is logged with its cause and the
next delay. An outage is waited out however long it lasts. A configuration error (a wrong role or
password, a database that does not exist, a malformed URL, an edited migration) is logged as an
error and reported through `on_configuration_error` (serve stops with exit status 2); attempts go
on all the same, for an embedding application that nothing stops.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

from domain.errors import MigrationChanged, StoreMisconfigured, StoreUnavailable
from domain.ports import Store
from domain.schema import MigrationState, SchemaStatus
from entrypoints.readiness import Readiness
from entrypoints.version import installed_version

log = logging.getLogger("sessionauth")

BACKOFF_FIRST = 0.5  # seconds
BACKOFF_MOST = 10.0  # seconds: how late the service may notice that the store is back


class Backoff:
    """The delays between attempts: `first` seconds, doubling up to `most`, each drawn between
    half and all of that (equal jitter)."""

    def __init__(
        self,
        first: float = BACKOFF_FIRST,
        most: float = BACKOFF_MOST,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._next = first
        self._most = most
        self._uniform = uniform

    def next(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self._most)
        return self._uniform(delay / 2, delay)


class NotReady(Exception):
    """The store answers but cannot serve yet: its schema is not current, or it takes no writes."""


def warn_of_unknown_migrations(status: SchemaStatus) -> None:
    if unknown := status.having(MigrationState.UNKNOWN):
        # Not a reason to stop: during a rolling upgrade, or after a roll-back, an older version
        # runs on the newer schema, which only ever adds to what it uses.
        log.warning(
            "the database holds migrations this version does not know: a newer version applied "
            "them; expected during a rolling upgrade or after a roll-back, otherwise deploy the "
            "newer version",
            extra={"unknown_migrations": list(unknown), "version": installed_version()},
        )


class StoreBringUp:
    """Attempts to bring `store` up until it is ready, then marks `readiness` and sets `up`.

    - `migrate`: apply pending migrations first (MIGRATE_ON_START); otherwise wait for
      `sessionauth migrate` to have applied them.
    - `on_configuration_error`: called once, at the first configuration error, with a message
      that names the store and the cause (never a password).
    """

    def __init__(
        self,
        store: Store,
        readiness: Readiness,
        *,
        migrate: bool,
        on_configuration_error: Callable[[str], None] | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._readiness = readiness
        self._migrate = migrate
        self._on_configuration_error = on_configuration_error
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self._next_delay: float | None = None  # after a failed first attempt
        self._reported = False
        self.up = asyncio.Event()

    async def first(self) -> None:
        """One attempt now, for an app that wants a store that answers to be ready for its first
        request. A configuration error raises (StoreMisconfigured, MigrationChanged); any other
        failure is logged and left to `run`, and the app starts all the same."""
        self._next_delay = await self._try(raising=True)

    async def run(self) -> None:
        """Attempt until the store is ready (at once when `first` has made it so)."""
        delay = await self._try() if self._next_delay is None else self._next_delay
        while delay is not None:
            await self._sleep(delay)
            delay = await self._try()

    async def attempt(self) -> None:
        """Bring the store up, or raise why not: StoreUnavailable (StoreMisconfigured),
        MigrationChanged or NotReady."""
        if self.up.is_set():
            return
        if self._migrate and (applied := await self._store.migrate()):
            log.info("migrations applied", extra={"applied": applied})
        status = await self._store.schema_status()
        if changed := status.having(MigrationState.CHANGED):
            raise MigrationChanged(f"{changed[0]}.sql")
        if pending := status.having(MigrationState.PENDING):
            hint = "" if self._migrate else " (MIGRATE_ON_START=false): run `sessionauth migrate`"
            raise NotReady(f"the schema is not current, {len(pending)} migrations pending{hint}")
        await self._store.open()
        if not await self._store.ping():
            raise NotReady("the store does not answer its readiness check, or takes no writes")
        warn_of_unknown_migrations(status)
        self._readiness.reason = ""
        self._readiness.store_ready = True
        self.up.set()
        log.info("store ready", extra={"store": self._store.describe()})

    async def _try(self, *, raising: bool = False) -> float | None:
        """One attempt: None once the store is up, else the delay before the next one."""
        try:
            await self.attempt()
            return None
        except (StoreMisconfigured, MigrationChanged) as error:
            if raising:
                raise
            self._refused(_cause(error))
        except (StoreUnavailable, NotReady) as error:
            delay = self._backoff.next()
            self._not_ready(_cause(error), delay)
            return delay
        except Exception:  # a bug: logged with its traceback, and the service still never gives up
            delay = self._backoff.next()
            log.exception("bringing the store up failed unexpectedly", extra={"retry_in": delay})
            return delay
        return self._backoff.next()

    def _not_ready(self, cause: str, delay: float) -> None:
        self._readiness.reason = cause
        log.warning(
            "store not ready: %s; next attempt in %.1f s",
            cause,
            delay,
            extra={"store": self._store.describe(), "cause": cause, "retry_in": round(delay, 1)},
        )

    def _refused(self, cause: str) -> None:
        self._readiness.reason = cause
        store = self._store.describe()
        log.error(
            "configuration error: %s; %s",
            cause,
            "stopping" if self._on_configuration_error else "fix it: attempts go on",
            extra={"store": store, "cause": cause},
        )
        if not self._reported and self._on_configuration_error is not None:
            self._reported = True
            self._on_configuration_error(f"{store}: {cause}")


def _cause(error: Exception) -> str:
    return error.detail if isinstance(error, StoreUnavailable) else str(error)
