"""The outbox sender: a background task of every running instance, when mail is on.

It runs DeliverMail rounds (application/deliver_mail.py) once the store is up: at once again after
a full batch, otherwise every POLL_INTERVAL seconds. Every instance runs one; the outbox's claims
keep them from sending one message twice. It keeps what the metrics read of the outbox (its
depth, the age of its oldest message, the failed ones) current every STATS_INTERVAL seconds, and
forgets failed messages after FAILED_RETENTION.

Delivery is at most once while all goes well, and at least once at worst: a message the server
took (its 250 answer) but whose deletion from the outbox did not happen (the process killed
between the two, the store gone at that instant) is sent again when its lease ends. Both copies
carry the same Message-ID and Date, so a reader, or a mail client that folds duplicates, sees
one message. A shutdown cancels a round: the message being sent and the rest of the batch go
back to the outbox at once (the next instance to start sends them), none is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from application.deliver_mail import DeliverMail
from domain.errors import DomainError
from domain.mail import OutboxStats
from domain.ports import Clock, Outbox

log = logging.getLogger("sessionauth.mail")

POLL_INTERVAL = 1.0  # seconds between two looks at an outbox that had nothing more due
STATS_INTERVAL = 10.0  # seconds between two readings of the outbox for the metrics
RETRY_AFTER_ERROR = 5.0  # seconds after a round failed (the store down)
FAILED_RETENTION = timedelta(days=30)  # failed messages are kept this long for the record
PURGE_INTERVAL = 3600.0  # seconds between two purges of failed messages past their retention


class MailSender:
    """Runs the rounds and holds the outbox's last reading (plain values the metrics read)."""

    def __init__(
        self,
        deliver: DeliverMail,
        outbox: Outbox,
        clock: Clock,
        *,
        batch: int,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self._deliver = deliver
        self._outbox = outbox
        self._clock = clock
        self._batch = batch
        self._poll = poll_interval
        self._stats = OutboxStats(depth=0, oldest=None, failed=0)

    @property
    def depth(self) -> int:
        return self._stats.depth

    @property
    def oldest_age(self) -> float:
        if self._stats.oldest is None:
            return 0.0
        return max(0.0, time.time() - self._stats.oldest.timestamp())

    @property
    def failed(self) -> int:
        return self._stats.failed

    async def run(self, up: asyncio.Event) -> None:
        """Until cancelled. Never ends on an error: a store or a bug that fails a round is
        logged (once per outage, not once a round) and the round tried again later."""
        await up.wait()
        next_reading = next_purge = 0.0
        failing = False
        while True:
            try:
                claimed = await self._deliver.execute()
                if time.monotonic() >= next_reading:
                    self._stats = await self._outbox.stats()
                    next_reading = time.monotonic() + STATS_INTERVAL
                if time.monotonic() >= next_purge:
                    await self._outbox.purge_failed(self._clock.now() - FAILED_RETENTION)
                    next_purge = time.monotonic() + PURGE_INTERVAL
            except DomainError as error:
                if not failing:
                    log.warning(
                        "the outbox cannot be read now; mail waits in it until it can",
                        extra={"error": type(error).__name__},
                    )
                failing = True
                await asyncio.sleep(RETRY_AFTER_ERROR)
                continue
            except Exception:
                log.exception("a round of the mail sender failed; trying again later")
                await asyncio.sleep(RETRY_AFTER_ERROR)
                continue
            if failing:
                log.info("the outbox can be read again; sending mail")
                failing = False
            if claimed < self._batch:
                await asyncio.sleep(self._poll)
