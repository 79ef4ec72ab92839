"""The account flows through the app with its real outbox sender and a real SMTP server
(aiosmtpd, tests/smtp_server.py), on both stores: the verification and reset mail arrive and their
links work, and a reset asked for while the mail server is down arrives once it is back, once."""

import asyncio
import re
import time

import pytest

from tests.api.client import running_client
from tests.constants import PASSWORD
from tests.postgres_provider import truncate_all
from tests.smtp_server import SmtpServer

NEW_PASSWORD = "a brand new passphrase"
DEADLINE = 30.0  # seconds: generous; the sender looks at the outbox every second
TOKEN = re.compile(r"token=([A-Za-z0-9_-]{43})\b")


@pytest.fixture(params=["memory", "postgres"])
async def database_url(request):
    if request.param == "memory":
        return None
    url = request.getfixturevalue("migrated_database_url")
    await truncate_all(url)
    return url


def mail_settings(smtp: SmtpServer) -> dict[str, object]:
    return {
        "mail_url": smtp.url(),
        "mail_from": "Auth <no-reply@auth.example>",
        "public_url": "https://auth.example",
        "mail_retry_delay": 1,  # a retry a second after the server refused, not 30
    }


async def arrived(smtp: SmtpServer, count: int) -> list:
    """The messages, once `count` have arrived (without blocking the loop the sender runs on)."""
    deadline = time.monotonic() + DEADLINE
    while len(smtp.messages) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{len(smtp.messages)} messages arrived in {DEADLINE} s, not {count}")
        await asyncio.sleep(0.05)
    return smtp.messages


def token_in(message) -> str:
    text = message.get_body(("plain",)).get_content()
    [token] = TOKEN.findall(text)
    return token


async def verified_account(client, smtp: SmtpServer) -> None:
    """alice, signed up with an address that she verified by the link mailed to it."""
    response = await client.post(
        "/signup", json={"username": "alice", "password": PASSWORD, "email": "alice@example.com"}
    )
    assert response.status_code == 201
    [verification] = await arrived(smtp, 1)
    assert verification["To"] == "alice@example.com"
    verified = await client.post("/email/verify", json={"token": token_in(verification)})
    assert verified.status_code == 200
    assert verified.json()["user"]["email_verified"] is True


async def test_sign_up_verify_forget_and_reset_by_mail(database_url):
    with SmtpServer() as smtp:
        async with running_client(
            database_url=database_url, mail_sender=True, **mail_settings(smtp)
        ) as client:
            await verified_account(client, smtp)

            forgot = await client.post("/password/forgot", json={"email": "alice@example.com"})
            assert forgot.status_code == 202
            reset_mail = (await arrived(smtp, 2))[1]
            assert "reset-password" in reset_mail.get_body(("plain",)).get_content()
            reset = await client.post(
                "/password/reset",
                json={"token": token_in(reset_mail), "new_password": NEW_PASSWORD},
            )
            assert reset.status_code == 200
            notice = (await arrived(smtp, 3))[2]
            assert notice["To"] == "alice@example.com"
            assert "reset" in notice["Subject"].lower()
            assert (await client.post("/login", auth=("alice", PASSWORD))).status_code == 401
            assert (await client.post("/login", auth=("alice", NEW_PASSWORD))).status_code == 200


async def test_a_reset_asked_while_the_mail_server_is_down_arrives_once_it_is_back(database_url):
    with SmtpServer() as smtp:
        async with running_client(
            database_url=database_url, mail_sender=True, **mail_settings(smtp)
        ) as client:
            await verified_account(client, smtp)

            smtp.stop()  # down: connections refused
            forgot = await client.post("/password/forgot", json={"username": "alice"})
            assert forgot.status_code == 202
            await asyncio.sleep(3)  # the sender tries, is refused, and waits to retry
            assert len(smtp.messages) == 1  # the verification only
            smtp.start()
            message = (await arrived(smtp, 2))[1]
            await asyncio.sleep(3)  # room for a second copy, were one to come
            assert len(smtp.messages) == 2
            assert message["To"] == "alice@example.com"
            reset = await client.post(
                "/password/reset", json={"token": token_in(message), "new_password": NEW_PASSWORD}
            )
            assert reset.status_code == 200
