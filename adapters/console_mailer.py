"""Development mail: each message printed whole on standard output, links and tokens included.

The only place a token may ever appear outside the message itself, chosen explicitly with
`MAIL_URL=console:`; the service warns at start that this is not for production."""

from __future__ import annotations

import sys
from typing import TextIO

from adapters.smtp_mailer import build_email
from domain.mail import MailMessage
from domain.ports import Mailer

DEFAULT_SENDER = "sessionauth@localhost"


class ConsoleMailer(Mailer):
    def __init__(self, *, sender: str | None = None, stream: TextIO | None = None) -> None:
        self._sender = sender or DEFAULT_SENDER
        self._stream = stream  # None: sys.stdout as it is when a message is printed

    async def send(self, message: MailMessage) -> None:
        email = build_email(message, self._sender)
        headers = "".join(
            f"{name}: {email[name]}\n" for name in ("From", "To", "Subject", "Date", "Message-ID")
        )
        # Readable rather than MIME: quoted-printable would break a long link across lines.
        text = (
            f"----- mail {message.id} ({message.kind}) -----\n{headers}\n{message.text.rstrip()}\n"
            f"----- HTML alternative -----\n{message.html.rstrip()}\n"
            f"----- end of mail {message.id} -----\n"
        )
        stream = self._stream or sys.stdout
        stream.write(text)
        stream.flush()
