"""The mailer behind MAIL_URL, chosen by the URL's scheme from one table (as entrypoints/stores.py
chooses the store): `smtp://` plain, `smtp+starttls://` STARTTLS required, `smtps://` implicit
TLS, `console:` printed on standard output. Unset or empty: mail is off, no mailer.

A MAIL_URL may hold a password: messages name the variable and the rule, never the value, and
logs show `redacted_mail_url`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from adapters.console_mailer import ConsoleMailer
from adapters.smtp_mailer import Security, SmtpMailer
from domain.ports import Mailer

if TYPE_CHECKING:  # settings.py reads MAILERS from here
    from entrypoints.settings import Settings

CONSOLE = "console:"
# scheme -> (security, default port)
SMTP_SCHEMES: Mapping[str, tuple[Security, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}


@dataclass(frozen=True, slots=True)
class SmtpUrl:
    security: Security
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_smtp_url(url: str) -> SmtpUrl:
    """An SMTP MAIL_URL's parts, or ValueError with a message that never quotes the URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise ValueError("must be a URL such as smtp+starttls://user:password@host:587") from None
    if parts.scheme.lower() not in SMTP_SCHEMES:
        schemes = ", ".join(f"{s}://" for s in SMTP_SCHEMES)
        raise ValueError(f"must be a URL starting {schemes} or be {CONSOLE}")
    if not host:
        raise ValueError("must name the mail server's host")
    if port == 0:
        raise ValueError("must have a port from 1 to 65535")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be scheme://[user:password@]host[:port], without a path or query")
    if parts.password is not None and not parts.username:
        raise ValueError("has a password without a user name")
    security, default_port = SMTP_SCHEMES[parts.scheme.lower()]
    return SmtpUrl(
        security=security,
        host=host,
        port=port or default_port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def check_mail_url(url: str) -> None:
    """ValueError (naming no part of the value) unless `url` is a MAIL_URL this table serves."""
    if url.strip().lower() != CONSOLE:
        parse_smtp_url(url)


def is_console(url: str | None) -> bool:
    return url is not None and url.strip().lower() == CONSOLE


def redacted_mail_url(url: str | None) -> str:
    """MAIL_URL for a log line: the scheme, host and port, the user name, never the password."""
    if url is None:
        return "off"
    if is_console(url):
        return CONSOLE
    parsed = parse_smtp_url(url)
    scheme = url.strip().partition(":")[0].lower()
    username = urlsplit(url.strip()).username  # as written (percent-encoded)
    user = f"{username}:***@" if parsed.password is not None else f"{username}@" if username else ""
    return f"{scheme}://{user}{parsed.host}:{parsed.port}"


def _smtp(url: str, settings: Settings) -> Mailer:
    parsed = parse_smtp_url(url)
    if settings.mail_from is None:  # Settings refuse this; a Settings built otherwise may not
        raise ValueError("MAIL_FROM: must be set with an SMTP MAIL_URL")
    return SmtpMailer(
        host=parsed.host,
        port=parsed.port,
        security=parsed.security,
        sender=settings.mail_from,
        username=parsed.username,
        password=parsed.password,
        ca_file=settings.mail_ca_file,
    )


def _console(url: str, settings: Settings) -> Mailer:
    return ConsoleMailer(sender=settings.mail_from)


MAILERS: Mapping[str, Callable[[str, Settings], Mailer]] = {
    **dict.fromkeys(SMTP_SCHEMES, _smtp),
    "console": _console,
}


def build_mailer(settings: Settings) -> Mailer | None:
    """The mailer MAIL_URL names (Settings has checked it), or None when mail is off."""
    url = settings.mail_url
    if url is None:
        return None
    return MAILERS[url.strip().partition(":")[0].lower()](url, settings)
