"""Mail handed to an SMTP server with `aiosmtplib`: plain (a local relay), STARTTLS required, or
implicit TLS, with optional credentials; one connection per message.

Failures are told apart for the outbox sender: what may pass (the server down or slow, a 4xx
answer) is temporary, a 5xx answer to the message (its sender, recipient or data) is permanent.
A 5xx answer to the session itself (the greeting, EHLO, AUTH) is temporary too: it says the
configuration is wrong (credentials, TLS), which an operator fixes, and no message should be
thrown away for it meanwhile. A reason names the stage and the server's answer, never the
message's content, and not its recipient either (replaced where the server repeats it).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal

import aiosmtplib

from domain.mail import MailDeliveryError, MailMessage
from domain.ports import Mailer

Security = Literal["plain", "starttls", "tls"]
SEND_TIMEOUT = 30.0  # seconds for a whole send; DeliveryPolicy.lease is much longer
_REASON_LIMIT = 200  # characters of the server's answer kept in a reason

# Answers to the session rather than to the message: temporary whatever their code.
_SESSION_ERRORS = (
    aiosmtplib.SMTPAuthenticationError,
    aiosmtplib.SMTPHeloError,
    aiosmtplib.SMTPConnectResponseError,
)
_STAGES: tuple[tuple[type[aiosmtplib.SMTPResponseException], str], ...] = (
    (aiosmtplib.SMTPAuthenticationError, "AUTH"),
    (aiosmtplib.SMTPHeloError, "EHLO"),
    (aiosmtplib.SMTPConnectResponseError, "greeting"),
    (aiosmtplib.SMTPSenderRefused, "MAIL FROM"),
    (aiosmtplib.SMTPRecipientRefused, "RCPT TO"),
    (aiosmtplib.SMTPDataError, "DATA"),
)


def message_id(message: MailMessage, sender: str) -> str:
    """`<id@domain of the sender>`: the same for every attempt at one message, so that a reader
    (or a mail client that folds duplicates) recognises a message sent twice."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{message.id}@{domain}>"


def build_email(message: MailMessage, sender: str) -> EmailMessage:
    """The message as sent: a plain-text body and its HTML alternative. The Date is when the
    message was queued, like its Message-ID the same for every attempt."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = message_id(message, sender)
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to this
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


class SmtpMailer(Mailer):
    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: Security,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        timeout: float = SEND_TIMEOUT,
    ) -> None:
        self._host, self._port, self._security = host, port, security
        self._sender = sender
        self._username, self._password = username, password
        self._timeout = timeout
        # Certificates are always verified; `ca_file` adds a private CA (a test's, a company's).
        self._tls = ssl.create_default_context(cafile=ca_file)

    def __repr__(self) -> str:  # never the password
        return f"SmtpMailer({self._security}, {self._host}:{self._port})"

    async def send(self, message: MailMessage) -> None:
        try:
            email = build_email(message, self._sender)
        except (ValueError, TypeError) as error:  # a header that cannot be written as given
            raise MailDeliveryError(
                f"the message cannot be encoded: {type(error).__name__}", permanent=True
            ) from None
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            timeout=self._timeout,
            use_tls=self._security == "tls",
            start_tls=self._security == "starttls",  # required there; never tried on plain
            tls_context=self._tls,
        )
        try:
            async with asyncio.timeout(self._timeout):
                async with client:
                    await client.send_message(email)
        except aiosmtplib.SMTPRecipientsRefused as error:
            # One recipient: its own answer decides.
            codes = [r.code for r in error.recipients]
            permanent = bool(codes) and all(500 <= c < 600 for c in codes)
            first = error.recipients[0] if error.recipients else None
            answer = f"{first.code} {first.message}" if first else "refused"
            raise MailDeliveryError(
                self._reason("RCPT TO", answer, message), permanent=permanent
            ) from None
        except aiosmtplib.SMTPResponseException as error:
            stage = next((s for kind, s in _STAGES if isinstance(error, kind)), "command")
            permanent = 500 <= error.code < 600 and not isinstance(error, _SESSION_ERRORS)
            raise MailDeliveryError(
                self._reason(stage, f"{error.code} {error.message}", message),
                permanent=permanent,
            ) from None
        except (TimeoutError, aiosmtplib.SMTPTimeoutError):
            raise MailDeliveryError(
                f"no answer from {self._host}:{self._port} within {self._timeout:g} s",
                permanent=False,
            ) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            # Refused, reset, TLS failed, STARTTLS or AUTH not offered: may pass, or be fixed.
            raise MailDeliveryError(
                self._reason("connection", f"{type(error).__name__}: {error}", message),
                permanent=False,
            ) from None

    def _reason(self, stage: str, answer: str, message: MailMessage) -> str:
        answer = " ".join(answer.split())  # one line
        if message.to:
            answer = re.sub(re.escape(message.to), "<recipient>", answer, flags=re.IGNORECASE)
        return f"{self._host}:{self._port}, {stage}: {answer[:_REASON_LIMIT]}"
