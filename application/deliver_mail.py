import asyncio
import random
from collections.abc import Callable
from contextlib import suppress

from domain.audit import AuditEvent
from domain.errors import DomainError
from domain.mail import DeliveryPolicy, MailDeliveryError, QueuedMail
from domain.ports import AuditLog, Clock, Mailer, Outbox

# Seconds a cancelled round may spend giving its messages back before it lets go.
GIVE_BACK_TIMEOUT = 5.0


class DeliverMail:
    """One round of the outbox sender: send what is due now. Returns how many messages it
    claimed (a full batch: call again at once, more may be due).

    - Due messages are claimed a batch at a time, each held for the policy's lease: senders on
      several instances never send one message twice.
    - A message the mail server took is deleted from the outbox (its bodies may hold a token).
    - One it did not take for now (down, a timeout, a 4xx answer) is tried again later, the
      delay doubling with each attempt (DeliveryPolicy), until the next attempt would come past
      the policy's give-up age: then it fails for good.
    - One it refused for good (a 5xx answer) fails at once: kept, its bodies erased.
    - A round cancelled mid-send (shutdown) gives its unsent messages back at once, the one being
      sent included: the server may have taken it, so it may arrive twice, with one Message-ID.
    - Each outcome is audited with the kind, the message id, the user id, the attempts and the
      server's answer: never the recipient or the bodies.
    """

    def __init__(
        self,
        *,
        outbox: Outbox,
        mailer: Mailer,
        clock: Clock,
        audit: AuditLog,
        policy: DeliveryPolicy = DeliveryPolicy(),
        spread: Callable[[], float] = random.random,
    ) -> None:
        self._outbox = outbox
        self._mailer = mailer
        self._clock = clock
        self._audit = audit
        self._policy = policy
        self._spread = spread

    async def execute(self) -> int:
        now = self._clock.now()
        claimed = await self._outbox.claim(now, limit=self._policy.batch, lease=self._policy.lease)
        for done, queued in enumerate(claimed):
            try:
                await self._deliver(queued)
            except asyncio.CancelledError:
                await self._give_back(claimed[done:])
                raise
        return len(claimed)

    async def _deliver(self, queued: QueuedMail) -> None:
        message = queued.message
        try:
            await self._mailer.send(message)
        except MailDeliveryError as error:
            now = self._clock.now()
            retry_at = (
                None if error.permanent else self._policy.retry_at(queued, now, self._spread())
            )
            if retry_at is None:
                await self._outbox.fail(message.id, now=now, error=error.reason)
                self._record(
                    AuditEvent.MAIL_FAILED, queued, error=error.reason, permanent=error.permanent
                )
            else:
                await self._outbox.postpone(message.id, until=retry_at, error=error.reason)
                self._record(
                    AuditEvent.MAIL_DEFERRED,
                    queued,
                    error=error.reason,
                    retry_at=retry_at.isoformat(),
                )
            return
        await self._outbox.delivered(message.id)
        self._record(AuditEvent.MAIL_SENT, queued)

    def _record(
        self,
        event: AuditEvent,
        queued: QueuedMail,
        *,
        error: str | None = None,
        permanent: bool | None = None,
        retry_at: str | None = None,
    ) -> None:
        message = queued.message
        self._audit.record(
            event,
            user_id=message.user_id,
            kind=str(message.kind),
            message_id=message.id,
            attempts=queued.attempts,
            error=error,
            permanent=permanent,
            retry_at=retry_at,
        )

    async def _give_back(self, unsent: list[QueuedMail]) -> None:
        now = self._clock.now()
        # A store that is down or slow now: the lease gives them back later instead.
        with suppress(DomainError, TimeoutError):
            async with asyncio.timeout(GIVE_BACK_TIMEOUT):
                for queued in unsent:
                    await self._outbox.postpone(
                        queued.message.id, until=now, error="interrupted by shutdown"
                    )
