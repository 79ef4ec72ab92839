"""The outbox on a real PostgreSQL with several senders: two instances (two stores, two pools)
draining one outbox into one SMTP server deliver each message exactly once; a message refused
for good keeps its row without its bodies."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from adapters.audit_log import LoggingAuditLog
from adapters.postgres import PostgresStore
from adapters.smtp_mailer import SmtpMailer
from adapters.system import SystemClock
from application.deliver_mail import DeliverMail
from domain.mail import DeliveryPolicy, MailKind, MailMessage
from tests.records import a_user
from tests.smtp_server import SmtpServer

TOKEN = "tok_" + "Q" * 43


def a_message(user_id: str, n: int) -> MailMessage:
    return MailMessage(
        id=str(uuid.uuid4()),
        kind=MailKind.PASSWORD_RESET,
        to=f"user{n}@example.com",
        subject=f"Reset {n}",
        text=f"https://auth.example/ui/reset-password?token={TOKEN}",
        html=f"<a href='https://auth.example/ui/reset-password?token={TOKEN}'>Reset</a>",
        user_id=user_id,
        created_at=datetime.now(UTC) - timedelta(seconds=1),
    )


def sender(store: PostgresStore, smtp: SmtpServer, batch: int) -> DeliverMail:
    return DeliverMail(
        outbox=store.outbox,
        mailer=SmtpMailer(
            host=smtp.host, port=smtp.port, security="plain", sender="a@auth.example", timeout=10
        ),
        clock=SystemClock(),
        audit=LoggingAuditLog(),
        policy=DeliveryPolicy(batch=batch),
    )


async def drain(deliver: DeliverMail) -> int:
    sent = 0
    while claimed := await deliver.execute():
        sent += claimed
    return sent


async def test_two_instances_draining_one_outbox_deliver_each_message_exactly_once(
    pg_store, migrated_database_url
):
    other = PostgresStore(migrated_database_url, max_size=5)
    await other.open()
    try:
        user = a_user("many")
        await pg_store.users.add(user)
        messages = [a_message(user.id, n) for n in range(120)]
        await pg_store.outbox.add(messages)
        with SmtpServer() as smtp:
            counts = await asyncio.gather(
                drain(sender(pg_store, smtp, batch=3)),
                drain(sender(other, smtp, batch=3)),
                drain(sender(other, smtp, batch=5)),
            )
            received = smtp.wait_for(120)
            assert smtp.stays_at(120, 0.5)
    finally:
        await other.close()
    assert sum(counts) == 120
    assert all(counts), f"every sender took part: {counts}"
    subjects = sorted(m["Subject"] for m in received)
    assert subjects == sorted(f"Reset {n}" for n in range(120))
    assert (await pg_store.outbox.stats()).depth == 0


async def test_a_message_refused_for_good_keeps_its_row_without_the_bodies(
    pg_store, migrated_database_url
):
    user = a_user("refused")
    await pg_store.users.add(user)
    message = a_message(user.id, 1)
    await pg_store.outbox.add([message])
    with SmtpServer() as smtp:
        smtp.answer_rcpt = "550 5.1.1 No such user"
        await sender(pg_store, smtp, batch=10).execute()
    connection = await asyncpg.connect(migrated_database_url)
    try:
        row = await connection.fetchrow(
            "SELECT body_text, body_html, failed_at, last_error, attempts, subject"
            " FROM mail_outbox WHERE id = $1",
            uuid.UUID(message.id),
        )
    finally:
        await connection.close()
    assert (row["body_text"], row["body_html"]) == (None, None)
    assert row["failed_at"] is not None and row["attempts"] == 1
    assert "550" in row["last_error"] and TOKEN not in row["last_error"]
