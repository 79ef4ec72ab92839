"""Issue 18 end to end: email verification, recovery and the security notices through a real
`sessionauth serve` and a real SMTP server (aiosmtpd), on both stores where they allow it; two
instances on one Postgres (a reset ends the sessions the other's cache serves; both senders
deliver every message once); a mail server that is down when the reset is asked for; and the
`console:` mailer. No token ever appears in a log line of serve."""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from adapters.mail_composer import SUBJECTS
from domain.mail import MailKind
from tests.postgres_provider import sql
from tests.processes import (
    READY_TIMEOUT,
    SESSIONAUTH,
    Process,
    answers,
    cli_env,
    free_port,
    serving,
    serving_many,
)
from tests.smtp_server import SmtpServer

PASSWORD = "correct horse battery staple"
CHANGED = "a changed passphrase 42"
RESET = "a reset passphrase 1729"
DEADLINE = 60.0  # seconds: generous, the machine may be busy
MAIL = {
    "PUBLIC_URL": "http://auth.example",
    "MAIL_FROM": "Auth <no-reply@auth.example>",
    "MAIL_RETRY_DELAY": "1",
}
LINK = re.compile(r"/ui/(?:verify-email|reset-password)\?token=([^\s\"<&]+)")
KINDS = {subject.format(product="sessionauth"): kind for kind, subject in SUBJECTS.items()}


@pytest.fixture(params=["memory", "postgres"])
def store_settings(request):
    if request.param == "memory":
        return {}
    return {"DATABASE_URL": empty_outbox(request.getfixturevalue("migrated_database_url"))}


def empty_outbox(database_url: str) -> str:
    """The module's database, without the mail an earlier test left queued (a notice of its last
    login): this test's SMTP server must take only this test's mail; and without the throttle
    counters earlier tests filled (every test asks from 127.0.0.1, and the module's resets
    together pass THROTTLE_RESET_PER_ADDRESS within its window)."""
    sql(database_url, "DELETE FROM mail_outbox")
    sql(database_url, "DELETE FROM attempt_counters")
    return database_url


def eventually(check, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not in time: {what}")
        time.sleep(0.2)


def kind_of(message: EmailMessage) -> MailKind:
    return KINDS[str(message["Subject"])]


def token_of(message: EmailMessage) -> str:
    found = LINK.search(message.get_body(("plain",)).get_content())
    assert found, "the message has no link"
    return unquote(found.group(1))


class Mailbox:
    """What the SMTP server took, read per recipient and kind."""

    def __init__(self, smtp: SmtpServer) -> None:
        self.smtp = smtp

    def of(self, to: str, kind: MailKind) -> list[EmailMessage]:
        return [m for m in self.smtp.messages if m["To"] == to and kind_of(m) == kind]

    def wait(self, to: str, kind: MailKind, count: int = 1) -> list[EmailMessage]:
        """The messages of `kind` to `to`, once there are `count` of them."""
        eventually(lambda: len(self.of(to, kind)) >= count, f"{count} {kind} to {to}")
        return self.of(to, kind)

    def tokens(self) -> list[str]:
        return [
            token_of(m)
            for m in self.smtp.messages
            if kind_of(m) in (MailKind.VERIFY_EMAIL, MailKind.PASSWORD_RESET)
        ]

    def each_once(self) -> None:
        """No message arrived twice: one per Message-ID."""
        ids = Counter(str(m["Message-ID"]) for m in self.smtp.messages)
        assert [i for i, n in ids.items() if n > 1] == []


def cookie(response: httpx.Response) -> dict[str, str]:
    return {"cookie": f"session_id={response.cookies['session_id']}"}


def me(url: str, session: httpx.Response) -> httpx.Response:
    return httpx.get(f"{url}/getusers/me", headers=cookie(session))


def login(url: str, username: str, password: str = PASSWORD, device: str | None = None):
    headers = {"cookie": f"session_id_device={device}"} if device else {}
    return httpx.post(f"{url}/login", auth=(username, password), headers=headers)


def sign_up_verified(url: str, mailbox: Mailbox, username: str, address: str) -> None:
    """Signed up with `address`, verified through the link mailed to it."""
    body = {"username": username, "password": PASSWORD, "email": address}
    assert httpx.post(f"{url}/signup", json=body).status_code == 201
    [mail] = mailbox.wait(address, MailKind.VERIFY_EMAIL)
    verified = httpx.post(f"{url}/email/verify", json={"token": token_of(mail)})
    assert verified.status_code == 200, verified.text
    assert verified.json()["user"]["email"] == address
    assert verified.json()["user"]["email_verified"] is True


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((f"{name} ", f"{name}{{"))
    )


def assert_no_secret(log: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in log, "a secret in serve's output"


def test_verification_notices_forgot_and_reset(store_settings):
    with SmtpServer() as smtp, serving(MAIL_URL=smtp.url(), **MAIL, **store_settings) as server:
        mail, url = Mailbox(smtp), server.url
        sign_up_verified(url, mail, "alice", "alice@example.com")

        # A login from a browser the account has never seen: a notice; from a known one: none.
        laptop = login(url, "alice")
        [new_device] = mail.wait("alice@example.com", MailKind.NEW_DEVICE)
        assert "127.0.0.1" in new_device.get_body(("plain",)).get_content()
        device = laptop.cookies["session_id_device"]
        again = login(url, "alice", device=device)
        assert again.status_code == 200
        changed = httpx.post(
            f"{url}/password",
            json={"current_password": PASSWORD, "new_password": CHANGED},
            headers=cookie(again),
        )
        assert changed.status_code == 200
        mail.wait("alice@example.com", MailKind.PASSWORD_CHANGED)
        # Queued after the device-cookie login, delivered after it: that login sent nothing.
        assert len(mail.of("alice@example.com", MailKind.NEW_DEVICE)) == 1

        # Forgot, by username and by email: two links; the reset by one kills the other.
        phone = login(url, "alice", CHANGED)
        assert me(url, phone).status_code == 200 and me(url, changed).status_code == 200
        for body in ({"username": "ALICE"}, {"email": "Alice@Example.com"}):
            asked = httpx.post(f"{url}/password/forgot", json=body)
            assert asked.status_code == 202, asked.text
        first, second = mail.wait("alice@example.com", MailKind.PASSWORD_RESET, 2)
        reset = httpx.post(
            f"{url}/password/reset", json={"token": token_of(second), "new_password": RESET}
        )
        assert reset.status_code == 200, reset.text
        assert "set-cookie" not in reset.headers  # does not log in
        for used in (first, second):
            again = httpx.post(
                f"{url}/password/reset", json={"token": token_of(used), "new_password": RESET}
            )
            assert again.status_code == 400
            assert again.json() == {"detail": "Invalid or expired token"}
        assert me(url, phone).status_code == 401 and me(url, changed).status_code == 401
        assert login(url, "alice", CHANGED).status_code == 401
        assert login(url, "alice", RESET, device=device).status_code == 200
        [notice] = mail.wait("alice@example.com", MailKind.PASSWORD_WAS_RESET)
        assert token_of(first) not in notice.as_string()

        # A new address: its verification link goes to it, a notice to the old one.
        session = login(url, "alice", RESET, device=device)
        moved = httpx.put(
            f"{url}/email",
            json={"email": "alice@new.example", "current_password": RESET},
            headers=cookie(session),
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["user"]["email"] == "alice@new.example"
        assert moved.json()["user"]["email_verified"] is False
        [link] = mail.wait("alice@new.example", MailKind.VERIFY_EMAIL)
        [old] = mail.wait("alice@example.com", MailKind.EMAIL_CHANGED)
        assert "alice@new.example" in old.get_body(("plain",)).get_content()
        verified = httpx.post(f"{url}/email/verify", json={"token": token_of(link)})
        assert verified.json()["user"]["email_verified"] is True
        assert me(url, session).json()["email"] == "alice@new.example"

        assert smtp.stays_at(len(smtp.messages), 2.0)
        mail.each_once()
        assert server.stop() == 0
        log = server.output()
    assert_no_secret(
        log, *mail.tokens(), PASSWORD, CHANGED, RESET, laptop.cookies["session_id"], device
    )


def test_a_reset_asked_for_while_the_mail_server_is_down_arrives_once_it_is_back(
    store_settings,
):
    with SmtpServer() as smtp, serving(MAIL_URL=smtp.url(), **MAIL, **store_settings) as server:
        mail, url = Mailbox(smtp), server.url
        sign_up_verified(url, mail, "carol", "carol@example.com")
        smtp.stop()  # down: connections refused

        asked = httpx.post(f"{url}/password/forgot", json={"username": "carol"})
        assert asked.status_code == 202
        eventually(lambda: metric(url, "sessionauth_mail_retries_total") >= 1, "a deferred attempt")
        assert mail.of("carol@example.com", MailKind.PASSWORD_RESET) == []
        smtp.start()  # back

        [message] = mail.wait("carol@example.com", MailKind.PASSWORD_RESET)
        assert smtp.stays_at(2, 3.0)  # the verification, and the reset once
        mail.each_once()
        reset = httpx.post(
            f"{url}/password/reset", json={"token": token_of(message), "new_password": RESET}
        )
        assert reset.status_code == 200
        assert login(url, "carol", RESET).status_code == 200
        assert server.stop() == 0
        log = server.output()
    assert '"event": "mail_deferred"' in log
    assert_no_secret(log, *mail.tokens(), RESET)


def test_a_reset_on_one_instance_ends_the_sessions_every_instance_serves(migrated_database_url):
    with (
        SmtpServer() as smtp,
        serving_many(
            2, DATABASE_URL=empty_outbox(migrated_database_url), MAIL_URL=smtp.url(), **MAIL
        ) as (
            a,
            b,
        ),
    ):
        mail = Mailbox(smtp)
        sign_up_verified(a.url, mail, "dave", "dave@example.com")
        on_a, on_b = login(a.url, "dave"), login(b.url, "dave")
        for server in (a, b):  # each instance's cache holds both sessions now
            for session in (on_a, on_b):
                assert me(server.url, session).status_code == 200

        assert httpx.post(f"{b.url}/password/forgot", json={"email": "dave@example.com"}).is_success
        [message] = mail.wait("dave@example.com", MailKind.PASSWORD_RESET)
        reset = httpx.post(
            f"{a.url}/password/reset", json={"token": token_of(message), "new_password": RESET}
        )
        assert reset.status_code == 200

        for server in (a, b):
            for session in (on_a, on_b):
                assert me(server.url, session).status_code == 401
            assert login(server.url, "dave").status_code == 401
            assert login(server.url, "dave", RESET).status_code == 200
        mail.wait("dave@example.com", MailKind.PASSWORD_WAS_RESET)
        logs = a.output() + b.output()
    assert_no_secret(logs, *mail.tokens(), PASSWORD, RESET)


def test_two_senders_on_one_outbox_deliver_every_message_once(migrated_database_url):
    users = [f"user{n}" for n in range(6)]
    with (
        SmtpServer() as smtp,
        serving_many(
            2, DATABASE_URL=empty_outbox(migrated_database_url), MAIL_URL=smtp.url(), **MAIL
        ) as servers,
    ):
        mail = Mailbox(smtp)
        urls = [s.url for s in servers]

        def sign_up(n: int) -> int:
            body = {"username": users[n], "password": PASSWORD, "email": f"{users[n]}@example.com"}
            return httpx.post(f"{urls[n % 2]}/signup", json=body).status_code

        def verify(n: int) -> int:
            [message] = mail.wait(f"{users[n]}@example.com", MailKind.VERIFY_EMAIL)
            token = token_of(message)
            return httpx.post(f"{urls[n % 2]}/email/verify", json={"token": token}).status_code

        def forgot(n: int) -> int:
            body = {"username": users[n]}
            return httpx.post(f"{urls[(n + 1) % 2]}/password/forgot", json=body).status_code

        with ThreadPoolExecutor(len(users)) as pool:  # queued at once, on both instances
            assert set(pool.map(sign_up, range(len(users)))) == {201}
            assert set(pool.map(verify, range(len(users)))) == {200}
            assert set(pool.map(forgot, range(len(users)))) == {202}
        for user in users:
            mail.wait(f"{user}@example.com", MailKind.PASSWORD_RESET)
        assert smtp.stays_at(2 * len(users), 3.0)
        mail.each_once()
        kinds = Counter((m["To"], kind_of(m)) for m in smtp.messages)
        assert set(kinds.values()) == {1}
        sent = [metric(url, "sessionauth_mail_sent_total") for url in urls]
        assert sum(sent) == 2 * len(users)
        logs = "".join(s.output() for s in servers)
    assert_no_secret(logs, *mail.tokens(), PASSWORD)


def test_the_session_limit_holds_with_logins_racing_on_two_instances(database_url):
    limit = 3
    settings = {
        "DATABASE_URL": database_url,
        "SESSION_LIMIT_PER_USER": str(limit),
        "THROTTLE_LOGIN_PER_ADDRESS": "100",
        # Five logins at once per instance, all from 127.0.0.1: over the default share of the
        # hashing queue one address may hold (a quarter), one would get 503 now and then.
        "HASH_SHARE_PER_ADDRESS": "0",
    }
    with serving_many(2, **settings) as (a, b):
        assert (
            httpx.post(
                f"{a.url}/signup", json={"username": "erin", "password": PASSWORD}
            ).status_code
            == 201
        )
        urls = [a.url, b.url] * 5
        with ThreadPoolExecutor(len(urls)) as pool:
            sessions = list(pool.map(lambda url: login(url, "erin"), urls))
        assert {s.status_code for s in sessions} == {200}

        def live(url: str) -> list[httpx.Response]:
            return [s for s in sessions if me(url, s).status_code == 200]

        # A session ended on the other instance leaves this one's cache on its notification.
        eventually(lambda: len(live(a.url)) == len(live(b.url)) == limit, "the limit on both")
        [newest, *_] = live(a.url)
        assert len(httpx.get(f"{b.url}/sessions", headers=cookie(newest)).json()) == limit


@contextmanager
def serving_apart(**settings: str):
    """`sessionauth serve` with its standard output and its log lines (standard error) in two
    files: yields the process (whose `output()` is stdout), its URL and a reader of stderr."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    out = Path(tempfile.mkstemp(prefix="sessionauth-test-stdout-")[1])
    err = Path(tempfile.mkstemp(prefix="sessionauth-test-stderr-")[1])
    with out.open("wb") as stdout, err.open("wb") as stderr:
        popen = subprocess.Popen(
            [SESSIONAUTH, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=cli_env(**settings),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    process = Process("sessionauth serve", popen, out)
    try:
        process.wait_ready(answers(f"{url}/readyz"), time.monotonic() + READY_TIMEOUT)
        yield process, url, lambda: err.read_text("utf-8", errors="replace")
    finally:
        process.close()
        err.unlink(missing_ok=True)


def test_the_console_mailer_prints_the_whole_reset_message_and_logs_no_token(store_settings):
    with serving_apart(MAIL_URL="console:", PUBLIC_URL=MAIL["PUBLIC_URL"], **store_settings) as (
        process,
        url,
        log,
    ):
        body = {"username": "frank", "password": PASSWORD, "email": "frank@example.com"}
        assert httpx.post(f"{url}/signup", json=body).status_code == 201
        eventually(lambda: "/ui/verify-email?token=" in process.output(), "the link printed")
        token = unquote(LINK.findall(process.output())[0])
        assert httpx.post(f"{url}/email/verify", json={"token": token}).status_code == 200

        assert httpx.post(f"{url}/password/forgot", json={"username": "frank"}).status_code == 202
        eventually(lambda: "(password_reset) -----" in process.output(), "the reset printed")
        eventually(lambda: process.output().count("----- end of mail") >= 2, "printed whole")
        printed = process.output()
        assert process.stop() == 0
        stderr = log()

    reset = printed[printed.index("(password_reset) -----") :]
    reset = reset[: reset.index("----- end of mail")]
    reset_token = unquote(LINK.findall(reset)[0])
    assert "To: frank@example.com" in reset
    assert "Subject: Reset your sessionauth password" in reset
    assert f"http://auth.example/ui/reset-password?token={reset_token}" in reset
    assert "----- HTML alternative -----" in reset and "<a " in reset
    assert "not for production" in stderr
    assert "not for production" not in printed  # the warning is a log line, not mail
    assert_no_secret(stderr, token, reset_token, PASSWORD)
    assert '"event": "password_reset_requested"' in stderr  # the log lines were captured
