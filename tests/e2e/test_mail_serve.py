"""Mail through a real `sessionauth serve`: a message queued in the outbox (written straight into
mail_outbox, as a change's transaction writes it) reaches a real SMTP server once, through
STARTTLS with credentials and a private CA; one queued while the server is down arrives once it
is back; `console:` prints it; bad mail settings stop serve with exit 2, never showing a value."""

import re
import time
import uuid

import httpx
import pytest

from tests.postgres_provider import sql
from tests.processes import free_port, run_cli, serving
from tests.smtp_server import SmtpServer

SECRET = "hunter2-mail-password"
TOKEN = "tok_" + "E" * 43
DEADLINE = 60.0  # seconds: generous, the machine may be busy
MAIL = {"PUBLIC_URL": "http://127.0.0.1:8000", "MAIL_FROM": "Auth <no-reply@auth.example>"}


def queue_message(database_url: str, subject: str = "Reset your password") -> str:
    message_id = str(uuid.uuid4())
    sql(
        database_url,
        "INSERT INTO mail_outbox (id, kind, recipient, subject, body_text, body_html, created_at,"
        " next_attempt_at) VALUES ($1::uuid, 'password_reset', 'alice@example.com', $2, $3, $4,"
        " now(), now())",
        message_id,
        subject,
        f"https://auth.example/ui/reset-password?token={TOKEN}",
        f"<a href='https://auth.example/ui/reset-password?token={TOKEN}'>Reset</a>",
    )
    return message_id


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((f"{name} ", f"{name}{{"))
    )


def eventually(check, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not in time: {what}")
        time.sleep(0.2)


def test_a_queued_message_reaches_the_mail_server_once_over_starttls(database_url):
    with SmtpServer("starttls", credentials=("mailer", SECRET)) as smtp:
        settings = {
            "DATABASE_URL": database_url,
            "MAIL_URL": smtp.url(),
            "MAIL_CA_FILE": smtp.ca_file,
            **MAIL,
        }
        with serving(**settings) as server:
            message_id = queue_message(database_url)
            [received] = smtp.wait_for(1, DEADLINE)
            eventually(
                lambda: metric(server.url, "sessionauth_mail_sent_total") == 1, "counted sent"
            )
            assert smtp.stays_at(1, 2.0)
            assert server.stop() == 0
            output = server.output()
    assert received["Message-ID"] == f"<{message_id}@auth.example>"
    assert TOKEN in received.get_body(("plain",)).get_content()
    assert smtp.logins == ["mailer"]
    assert f"sending mail through smtp+starttls://mailer:***@127.0.0.1:{smtp.port}" in output
    assert '"event": "mail_sent"' in output and message_id in output
    for secret in (SECRET, TOKEN, "alice@example.com"):
        assert secret not in output


def test_a_message_queued_while_the_mail_server_is_down_arrives_once_it_is_back(database_url):
    smtp = SmtpServer(port=free_port())  # not started: down
    try:
        settings = {"DATABASE_URL": database_url, "MAIL_URL": smtp.url(), **MAIL}
        with serving(MAIL_RETRY_DELAY="1", **settings) as server:
            queue_message(database_url, subject="While down")
            eventually(
                lambda: metric(server.url, "sessionauth_mail_retries_total") >= 1,
                "a failed attempt, to be retried",
            )
            # The gauges are read from the outbox every 10 seconds.
            eventually(
                lambda: (
                    metric(server.url, "sessionauth_mail_outbox_depth") == 1
                    and metric(server.url, "sessionauth_mail_outbox_oldest_age_seconds") > 0
                ),
                "the waiting message in the gauges",
            )
            smtp.start()
            [received] = smtp.wait_for(1, DEADLINE)
            assert smtp.stays_at(1, 3.0)
            eventually(lambda: metric(server.url, "sessionauth_mail_sent_total") == 1, "sent")
            eventually(
                lambda: metric(server.url, "sessionauth_mail_outbox_depth") == 0, "an empty outbox"
            )
            assert server.stop() == 0
            output = server.output()
    finally:
        smtp.close()
    assert received["Subject"] == "While down"
    assert '"event": "mail_deferred"' in output
    assert TOKEN not in output


def test_the_console_mailer_prints_the_message_and_warns_at_start(database_url):
    with serving(DATABASE_URL=database_url, MAIL_URL="console:", PUBLIC_URL=MAIL["PUBLIC_URL"]) as (
        server
    ):
        message_id = queue_message(database_url, subject="Printed")
        eventually(lambda: f"end of mail {message_id}" in server.output(), "printed")
        assert server.stop() == 0
        output = server.output()
    assert "not for production" in output
    assert "Subject: Printed" in output
    assert f"https://auth.example/ui/reset-password?token={TOKEN}\n" in output


def test_mail_off_starts_no_sender_and_no_outbox_metrics():
    with serving() as server:
        assert "sessionauth_mail_outbox_depth" not in httpx.get(f"{server.url}/metrics").text
        assert server.stop() == 0


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({"MAIL_URL": f"smtp://user:{SECRET}@mail.example.com:99999", **MAIL}, "MAIL_URL"),
        ({"MAIL_URL": f"imap://user:{SECRET}@mail.example.com", **MAIL}, "MAIL_URL"),
        ({"MAIL_URL": f"smtp://user:{SECRET}@mail.example.com"}, "PUBLIC_URL"),
        (
            {"MAIL_URL": f"smtp://user:{SECRET}@mail.example.com", "PUBLIC_URL": "https://a.b"},
            "MAIL_FROM",
        ),
        ({"PUBLIC_URL": f"https://user:{SECRET}@auth.example"}, "PUBLIC_URL"),
        ({"MAIL_FROM": f"{SECRET} not an address"}, "MAIL_FROM"),
        ({"MAIL_CA_FILE": f"/nonexistent/{SECRET}.pem"}, "MAIL_CA_FILE"),
    ],
)
def test_bad_mail_settings_stop_serve_with_exit_2_naming_the_variable_not_the_value(
    settings, variable
):
    result = run_cli("serve", "--port", str(free_port()), **settings)
    assert result.returncode == 2, result.stderr
    assert re.search(rf"configuration error: .*{variable}: ", result.stderr), result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
