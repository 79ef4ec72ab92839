"""The outbox sender's rules (application/deliver_mail.py) on the in-memory outbox, a fake clock
and a real SMTP server: sent once and purged, retried with a growing backoff while the server is
down or answers 4xx, kept and counted when refused for good, never a body or token in a log."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.audit_log import LoggingAuditLog
from adapters.memory_outbox import InMemoryOutbox
from adapters.prometheus_metrics import MeteredAuditLog, PrometheusMetrics
from adapters.smtp_mailer import SmtpMailer
from application.deliver_mail import DeliverMail
from domain.mail import DeliveryPolicy, MailKind, MailMessage
from entrypoints.mail_sender import MailSender
from tests.fakes import FakeClock
from tests.mail_records import TOKEN, a_message
from tests.smtp_server import SmtpServer

POLICY = DeliveryPolicy(
    first_retry=timedelta(seconds=30),
    max_retry=timedelta(hours=1),
    give_up_after=timedelta(days=2),
    lease=timedelta(minutes=15),
    batch=10,
)


class Sender:
    """DeliverMail over an in-memory outbox, to a real SMTP server, with the service's audit
    log and metrics; `spread` fixed at the middle (no jitter) unless a test sets it."""

    def __init__(self, smtp: SmtpServer, *, spread: float = 0.5, policy=POLICY) -> None:
        self.clock = FakeClock()
        self.outbox = InMemoryOutbox()
        self.metrics = PrometheusMetrics()
        self.mailer = SmtpMailer(
            host=smtp.host, port=smtp.port, security="plain", sender="a@auth.example", timeout=5
        )
        self.deliver = DeliverMail(
            outbox=self.outbox,
            mailer=self.mailer,
            clock=self.clock,
            audit=MeteredAuditLog(LoggingAuditLog(), self.metrics),
            policy=policy,
            spread=lambda: spread,
        )

    def queue(self, count: int = 1, **fields) -> list[MailMessage]:
        messages = [
            a_message(id=f"00000000-0000-4000-8000-{n:012d}", created_at=self.clock.now(), **fields)
            for n in range(count)
        ]
        self.outbox.queue(messages)
        return messages

    def counter(self, name: str, kind: str = "password_reset") -> float:
        text = self.metrics.exposition().decode()
        return next(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == f"{name}_total" and s.labels.get("kind") == kind
        )


async def test_a_message_is_delivered_once_and_purged_from_the_outbox():
    with SmtpServer() as smtp:
        sender = Sender(smtp)
        sender.queue()
        assert await sender.deliver.execute() == 1
        assert await sender.deliver.execute() == 0
        sender.clock.advance(days=1)
        assert await sender.deliver.execute() == 0
        assert len(smtp.wait_for(1)) == 1
        assert smtp.stays_at(1, 0.2)
    assert sender.outbox.pending == {}
    assert (await sender.outbox.stats()).depth == 0
    assert sender.counter("sessionauth_mail_sent") == 1


async def test_a_full_batch_is_reported_so_that_the_sender_comes_back_at_once():
    with SmtpServer() as smtp:
        sender = Sender(smtp)
        sender.queue(12)
        assert await sender.deliver.execute() == 10
        assert await sender.deliver.execute() == 2
        assert len(smtp.wait_for(12)) == 12


async def test_a_server_that_is_down_then_back_gets_the_message_once():
    with SmtpServer() as smtp:
        sender = Sender(smtp)
        [message] = sender.queue()
        smtp.stop()
        await sender.deliver.execute()
        attempts, retry_at, error = sender.outbox.delivery(message.id)
        assert (attempts, retry_at) == (1, sender.clock.now() + timedelta(seconds=30))
        assert f"127.0.0.1:{smtp.port}" in error
        assert await sender.deliver.execute() == 0  # not due yet
        smtp.start()
        sender.clock.advance(seconds=30)
        assert await sender.deliver.execute() == 1
        assert len(smtp.wait_for(1)) == 1
        sender.clock.advance(hours=2)
        assert await sender.deliver.execute() == 0
        assert smtp.stays_at(1, 0.2)
    assert sender.counter("sessionauth_mail_retries") == 1
    assert sender.counter("sessionauth_mail_sent") == 1


async def test_4xx_answers_are_retried_with_a_growing_backoff_up_to_the_maximum():
    with SmtpServer() as smtp:
        smtp.answer_data = "451 4.3.0 Try again later"
        sender = Sender(smtp)
        [message] = sender.queue()
        delays = []
        for _ in range(9):
            await sender.deliver.execute()
            _, retry_at, error = sender.outbox.delivery(message.id)
            delays.append((retry_at - sender.clock.now()).total_seconds())
            sender.clock.current = retry_at
        assert "451" in error
        smtp.answer_data = None
        await sender.deliver.execute()
        assert len(smtp.wait_for(1)) == 1
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert sender.counter("sessionauth_mail_retries") == 9


@pytest.mark.parametrize("spread", [0.0, 0.999])
async def test_jitter_spreads_a_retry_by_a_quarter_either_way_and_still_grows(spread):
    with SmtpServer() as smtp:
        smtp.stop()
        sender = Sender(smtp, spread=spread)
        [message] = sender.queue()
        await sender.deliver.execute()
        first = sender.outbox.delivery(message.id)[1] - sender.clock.now()
        sender.clock.current += first
        await sender.deliver.execute()
        second = sender.outbox.delivery(message.id)[1] - sender.clock.now()
    assert timedelta(seconds=22.5) <= first <= timedelta(seconds=37.5)
    assert second == first * 2


async def test_a_message_is_given_up_when_its_next_try_would_come_after_the_give_up_age():
    policy = DeliveryPolicy(first_retry=timedelta(minutes=10), give_up_after=timedelta(minutes=25))
    with SmtpServer() as smtp:
        smtp.stop()
        sender = Sender(smtp, policy=policy)
        [message] = sender.queue()
        await sender.deliver.execute()  # retried at 10 min
        sender.clock.advance(minutes=10)
        await sender.deliver.execute()  # the next at 30 min: past 25, given up
    assert sender.outbox.pending == {}
    assert sender.outbox.failed[message.id].attempts == 2
    assert sender.counter("sessionauth_mail_failed") == 1


async def test_a_5xx_refusal_is_kept_without_its_bodies_counted_and_logged_without_content(
    caplog,
):
    caplog.set_level(logging.INFO, logger="sessionauth.audit")
    with SmtpServer() as smtp:
        smtp.answer_rcpt = "550 5.1.1 <alice@example.com>: no such user"
        sender = Sender(smtp)
        [message] = sender.queue()
        await sender.deliver.execute()
        sender.clock.advance(days=3)
        assert await sender.deliver.execute() == 0  # never tried again
    failed = sender.outbox.failed[message.id]
    assert (failed.message.text, failed.message.html) == ("", "")
    assert "550" in failed.error
    assert sender.outbox.pending == {}
    assert (await sender.outbox.stats()).failed == 1
    assert sender.counter("sessionauth_mail_failed") == 1
    [record] = [r for r in caplog.records if r.name == "sessionauth.audit"]
    assert record.event == "mail_failed"
    assert (record.kind, record.message_id, record.user_id) == (
        "password_reset",
        message.id,
        "user-1",
    )
    logged = caplog.text + repr(record.__dict__)
    assert TOKEN not in logged
    assert "alice@example.com" not in logged
    assert "Reset" not in logged


async def test_what_is_sent_is_audited_with_kind_ids_and_attempts_only(caplog):
    caplog.set_level(logging.INFO, logger="sessionauth.audit")
    with SmtpServer() as smtp:
        sender = Sender(smtp)
        [message] = sender.queue(kind=MailKind.NEW_DEVICE)
        await sender.deliver.execute()
        smtp.wait_for(1)
    [record] = [r for r in caplog.records if r.name == "sessionauth.audit"]
    assert (record.event, record.kind, record.message_id, record.attempts) == (
        "mail_sent",
        "new_device",
        message.id,
        1,
    )
    assert TOKEN not in repr(record.__dict__) and "alice@" not in repr(record.__dict__)
    assert sender.counter("sessionauth_mail_sent", "new_device") == 1


class _Stalling:
    """A mailer that never answers, until cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def send(self, message):
        self.started.set()
        await asyncio.Event().wait()


async def test_a_round_cancelled_mid_send_gives_its_messages_back_at_once():
    outbox, clock, mailer = InMemoryOutbox(), FakeClock(), _Stalling()
    deliver = DeliverMail(
        outbox=outbox, mailer=mailer, clock=clock, audit=LoggingAuditLog(), policy=POLICY
    )
    messages = [a_message(id=f"m{n}", created_at=clock.now()) for n in range(3)]
    outbox.queue(messages)
    task = asyncio.create_task(deliver.execute())
    await asyncio.wait_for(mailer.started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert set(outbox.pending) == {"m0", "m1", "m2"}
    assert len(await outbox.claim(clock.now(), limit=10, lease=POLICY.lease)) == 3


async def test_two_senders_on_one_outbox_send_each_message_once():
    with SmtpServer() as smtp:
        sender = Sender(smtp)
        other = DeliverMail(
            outbox=sender.outbox,
            mailer=sender.mailer,
            clock=sender.clock,
            audit=LoggingAuditLog(),
            policy=POLICY,
        )
        sender.queue(25)
        while await asyncio.gather(sender.deliver.execute(), other.execute()) != [0, 0]:
            pass
        received = smtp.wait_for(25)
        assert smtp.stays_at(25, 0.2)
    assert len({m["Message-ID"] for m in received}) == 25


async def test_the_sender_task_reads_the_outbox_for_the_metrics_and_stops_when_cancelled():
    with SmtpServer() as smtp:
        sender = Sender(smtp)
        smtp.stop()
        sender.clock.current = datetime.now(UTC) - timedelta(minutes=5)
        sender.queue(2)
        task_owner = MailSender(sender.deliver, sender.outbox, sender.clock, batch=10)
        up = asyncio.Event()
        up.set()
        task = asyncio.create_task(task_owner.run(up))
        for _ in range(200):
            if task_owner.depth:
                break
            await asyncio.sleep(0.05)
        assert task_owner.depth == 2
        assert 5 * 60 <= task_owner.oldest_age < 3600
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()
