"""The SMTP mailer against a real SMTP server (aiosmtpd) in each of its modes, how it tells a
temporary failure from a permanent one, and the printing mailer."""

import io

import pytest

from adapters.console_mailer import ConsoleMailer
from adapters.smtp_mailer import SmtpMailer
from domain.mail import MailDeliveryError
from tests.mail_records import TOKEN, a_message
from tests.processes import free_port
from tests.smtp_server import AUTH_WITHOUT_STARTTLS, SmtpServer

SENDER = "Sessionauth <no-reply@auth.example>"
CREDENTIALS = ("mailer", "s3cret-pass")


def mailer_for(smtp: SmtpServer, *, credentials=None, timeout: float = 10.0) -> SmtpMailer:
    user, password = credentials or (None, None)
    return SmtpMailer(
        host=smtp.host,
        port=smtp.port,
        security=smtp.mode,
        sender=SENDER,
        username=user,
        password=password,
        ca_file=smtp.ca_file,
        timeout=timeout,
    )


@pytest.mark.filterwarnings(AUTH_WITHOUT_STARTTLS)
@pytest.mark.parametrize("mode", ["plain", "starttls", "tls"])
async def test_a_message_arrives_whole_in_each_mode_with_credentials(mode):
    with SmtpServer(mode, credentials=CREDENTIALS) as smtp:
        await mailer_for(smtp, credentials=CREDENTIALS).send(a_message())
        [received] = smtp.wait_for(1)
        assert smtp.logins == ["mailer"]
    assert received["From"] == SENDER
    assert received["To"] == "alice@example.com"
    assert received["Subject"] == "Reset your sessionauth password"
    assert received["Message-ID"] == "<0b7c6d3e-8a1f-4c55-9d1e-7a2b3c4d5e6f@auth.example>"
    assert received["Date"] == "Sun, 01 Mar 2026 12:00:00 +0000"
    assert received.get_content_type() == "multipart/alternative"
    assert TOKEN in received.get_body(("plain",)).get_content()
    assert TOKEN in received.get_body(("html",)).get_content()
    assert smtp.envelopes[0].mail_from == "no-reply@auth.example"


async def test_without_credentials_a_plain_relay_takes_the_message():
    with SmtpServer() as smtp:
        await mailer_for(smtp).send(a_message())
        assert len(smtp.wait_for(1)) == 1


async def test_a_resend_carries_the_same_message_id_and_date():
    with SmtpServer() as smtp:
        mailer = mailer_for(smtp)
        await mailer.send(a_message())
        await mailer.send(a_message())
        first, second = smtp.wait_for(2)
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Date"] == second["Date"]


async def test_starttls_is_required_a_server_without_it_is_a_temporary_failure():
    with SmtpServer("plain") as smtp:
        mailer = SmtpMailer(host=smtp.host, port=smtp.port, security="starttls", sender=SENDER)
        with pytest.raises(MailDeliveryError) as failed:
            await mailer.send(a_message())
        assert smtp.envelopes == []  # never sent in the clear
    assert not failed.value.permanent


async def test_a_certificate_from_an_untrusted_ca_is_refused():
    with SmtpServer("tls") as smtp:
        untrusting = SmtpMailer(host=smtp.host, port=smtp.port, security="tls", sender=SENDER)
        with pytest.raises(MailDeliveryError) as failed:
            await untrusting.send(a_message())
        assert smtp.envelopes == []
    assert not failed.value.permanent  # a configuration to fix (MAIL_CA_FILE), not the message


async def test_wrong_credentials_are_temporary_so_that_no_message_is_lost_to_a_typo():
    with (
        SmtpServer("starttls", credentials=CREDENTIALS) as smtp,
        pytest.raises(MailDeliveryError) as failed,
    ):
        await mailer_for(smtp, credentials=("mailer", "wrong")).send(a_message())
    assert not failed.value.permanent
    assert "AUTH" in failed.value.reason
    assert "wrong" not in failed.value.reason


@pytest.mark.parametrize(
    ("where", "answer", "permanent"),
    [
        ("answer_data", "451 4.3.0 Try again later", False),
        ("answer_data", "452 4.3.1 Insufficient system storage", False),
        ("answer_data", "554 5.7.1 Message rejected", True),
        ("answer_rcpt", "450 4.2.1 Mailbox busy", False),
        ("answer_rcpt", "550 5.1.1 <alice@example.com>: no such user", True),
    ],
)
async def test_4xx_is_temporary_and_5xx_permanent_and_the_reason_holds_no_content(
    where, answer, permanent
):
    with SmtpServer() as smtp:
        setattr(smtp, where, answer)
        with pytest.raises(MailDeliveryError) as failed:
            await mailer_for(smtp).send(a_message())
    assert failed.value.permanent is permanent
    reason = failed.value.reason
    assert answer.split()[0] in reason
    assert TOKEN not in reason and "Reset" not in reason
    assert "alice@example.com" not in reason  # the server repeated it: replaced
    assert str(failed.value) == reason


async def test_a_refused_connection_is_temporary():
    port = free_port()  # nothing listens there
    mailer = SmtpMailer(host="127.0.0.1", port=port, security="plain", sender=SENDER)
    with pytest.raises(MailDeliveryError) as failed:
        await mailer.send(a_message())
    assert not failed.value.permanent
    assert f"127.0.0.1:{port}" in failed.value.reason


async def test_a_server_that_went_down_and_came_back_takes_the_message():
    with SmtpServer() as smtp:
        mailer = mailer_for(smtp)
        smtp.stop()
        with pytest.raises(MailDeliveryError) as failed:
            await mailer.send(a_message())
        assert not failed.value.permanent
        smtp.start()
        await mailer.send(a_message())
        assert len(smtp.wait_for(1)) == 1


async def test_a_header_that_cannot_be_written_is_permanent():
    with SmtpServer() as smtp:
        with pytest.raises(MailDeliveryError) as failed:
            await mailer_for(smtp).send(a_message(to="alice@example.com\r\nBcc: eve@example.com"))
        assert smtp.envelopes == []
    assert failed.value.permanent


def test_the_mailer_never_shows_its_password():
    mailer = SmtpMailer(
        host="mail.example", port=587, security="starttls", sender=SENDER, password="hunter2"
    )
    assert "hunter2" not in repr(mailer)


async def test_the_console_mailer_prints_the_whole_message_link_and_token_included():
    out = io.StringIO()
    await ConsoleMailer(sender=SENDER, stream=out).send(a_message())
    printed = out.getvalue()
    assert "To: alice@example.com" in printed
    assert "Subject: Reset your sessionauth password" in printed
    assert "Message-ID: <0b7c6d3e-8a1f-4c55-9d1e-7a2b3c4d5e6f@auth.example>" in printed
    # Whole, one line: a newcomer copies the link from the terminal.
    assert f"https://auth.example/ui/reset-password?token={TOKEN}\n" in printed
    assert printed.count(TOKEN) == 2  # the text and the HTML alternative


async def test_the_console_mailer_writes_to_standard_output_by_default(capsys):
    await ConsoleMailer().send(a_message())
    printed = capsys.readouterr().out
    assert "From: sessionauth@localhost" in printed
    assert TOKEN in printed
