"""Security notices through the service: its settings, its device cookie and its metrics."""

from __future__ import annotations

from tests.api.client import AppClient, log_in, running_client, sign_up
from tests.api.scraping import moved, scrape
from tests.constants import PASSWORD

MAIL = {"mail_url": "console:", "public_url": "https://auth.example"}
NEW_PASSWORD = "a brand new passphrase"


def verify_every_address(client: AppClient) -> None:
    """What email verification leaves behind (built elsewhere): a verified address."""
    for user in client.app.state.container.store().users._by_id.values():
        user.email, user.email_verified = f"{user.username.canonical}@example.com", True


async def test_a_new_device_and_a_password_change_are_notified_once_each():
    async with running_client(**MAIL) as client:
        await sign_up(client)
        verify_every_address(client)
        before = await scrape(client)
        await log_in(client)  # a new device: the jar has no device cookie yet
        await log_in(client)  # the same device, known by the cookie the first login set
        changed = await client.post(
            "/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        )
        assert changed.status_code == 200
        after = await scrape(client)
    queued = {"outcome": "queued"}
    assert moved(before, after, "sessionauth_notices_total", kind="new_device", **queued) == 1
    assert moved(before, after, "sessionauth_notices_total", kind="password_changed", **queued) == 1


async def test_notify_new_device_false_turns_the_login_notice_off():
    async with running_client(notify_new_device=False, **MAIL) as client:
        await sign_up(client)
        verify_every_address(client)
        before = await scrape(client)
        await log_in(client)
        after = await scrape(client)
    assert (
        moved(before, after, "sessionauth_notices_total", kind="new_device", outcome="queued") == 0
    )
    assert client.app.state.container.store().outbox.pending == {}
