"""The outbox sender inside the running app: started by the lifespan when mail is on, it sends
what the outbox holds (here printed, MAIL_URL=console:) and the metrics show it; with mail off
there is no sender and no outbox gauge."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from tests.api.client import running_client
from tests.api.scraping import families, moved, scrape, value
from tests.mail_records import TOKEN, a_message

MAIL = {"mail_url": "console:", "public_url": "https://auth.example"}
GAUGES = {
    "sessionauth_mail_outbox_depth",
    "sessionauth_mail_outbox_oldest_age_seconds",
    "sessionauth_mail_outbox_failed",
}


async def test_the_sender_sends_what_the_outbox_holds_and_the_metrics_count_it(capsys):
    async with running_client(mail_sender=True, **MAIL) as client:
        outbox = client.app.state.container.store().outbox
        before = await scrape(client)
        assert families(before) >= GAUGES
        message = a_message(id=str(uuid.uuid4()), created_at=datetime.now(UTC), user_id=None)
        await outbox.add([message])
        deadline = time.monotonic() + 30
        while outbox.pending:
            assert time.monotonic() < deadline, "the message was never sent"
            await asyncio.sleep(0.05)
        after = await scrape(client)
    assert moved(before, after, "sessionauth_mail_sent_total", kind="password_reset") == 1
    assert value(after, "sessionauth_mail_outbox_failed") == 0
    printed = capsys.readouterr().out
    assert f"end of mail {message.id}" in printed and TOKEN in printed


async def test_with_mail_off_there_is_no_sender_and_no_outbox_gauge():
    async with running_client(mail_sender=True) as client:
        assert client.app.state.container.mail_sender() is None
        assert not families(await scrape(client)) & GAUGES
