"""Mail the service sends: what a message is, and the kinds it sends.

A message is composed when the change it reports is made, and stored in the store's outbox in
the same transaction as that change; a background sender delivers it later (adapters/mail_*).
So a change is never made without its message, and an SMTP outage loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class MailKind(StrEnum):
    VERIFY_EMAIL = "verify_email"  # a link that confirms an address
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a kind, not a password): a reset link
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a kind): notice
    PASSWORD_WAS_RESET = "password_was_reset"  # noqa: S105 (a kind): notice, after a reset
    EMAIL_CHANGED = "email_changed"  # notice, to the old address
    NEW_DEVICE = "new_device"  # notice: a login from a device never seen for the account
    FACTOR_ADDED = "factor_added"  # notice: a second factor enrolled (MailFacts.factor names it)
    FACTOR_REMOVED = "factor_removed"  # notice: a second factor removed
    RECOVERY_CODES_RENEWED = "recovery_codes_renewed"  # notice: a new set, the old one dead


# The kinds that tell the account's owner of a security event (ASVS 6.3.5, 6.3.7), as opposed
# to the links a person asked for.
NOTICE_KINDS = (
    MailKind.PASSWORD_CHANGED,
    MailKind.PASSWORD_WAS_RESET,
    MailKind.EMAIL_CHANGED,
    MailKind.NEW_DEVICE,
    MailKind.FACTOR_ADDED,
    MailKind.FACTOR_REMOVED,
    MailKind.RECOVERY_CODES_RENEWED,
)


@dataclass(frozen=True, slots=True)
class MailContent:
    """What a message says, composed from a template: a subject, a plain-text and an HTML body."""

    subject: str
    text: str = field(repr=False)
    html: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class MailFacts:
    """What a message tells. `token` makes the link of a verification or reset message (never
    logged); the others describe the event a notice reports: when, on which device (a name such
    as "Chrome 156 on Linux", from UserAgents) and from which address."""

    username: str
    token: str | None = field(default=None, repr=False)
    when: datetime | None = None
    device: str | None = None
    ip: str | None = None
    expires_at: datetime | None = None  # when the link stops working
    new_email: str | None = None  # an address-changed notice names the new address
    factor: str | None = None  # a factor notice names the factor: "an authenticator app (TOTP)"


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One message, whole. `text` and `html` may hold a link with a token (verification and
    reset): they are never logged, and the outbox keeps them only until the message is sent."""

    id: str  # a public id (TokenGenerator.public_id); also the Message-ID's left part
    kind: MailKind
    to: str
    subject: str
    text: str = field(repr=False)
    html: str = field(repr=False)
    user_id: str | None
    created_at: datetime


class MailDeliveryError(Exception):
    """The mail server did not take a message. `permanent`: it refused it for good (a 5xx
    answer, an address it will never accept); otherwise it may take it later (down, 4xx).
    The message is the server's answer or the connection error, never the message's content."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class QueuedMail:
    """A message claimed from the outbox for one attempt, and how many attempts it has had,
    this one included (a claim counts as an attempt: a sender that dies mid-send used one)."""

    message: MailMessage
    attempts: int


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What the metrics tell of the outbox: messages waiting (claimed ones included), when the
    oldest of them was queued (None when none waits), and messages refused for good, kept."""

    depth: int
    oldest: datetime | None
    failed: int


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """When a message that the mail server did not take is tried again, and when it is given up.

    The delay doubles from `first_retry` at each attempt, up to `max_retry`, and is spread by
    +-25% (`spread` in [0, 1)) so that messages that failed together (an outage) do not all come
    back at one instant. A message is given up when its next attempt would come later than
    `give_up_after` since it was queued. `lease`: how long a claimed message is held by its
    sender; longer than any send may take (the mailer's timeout), so that no other sender
    claims it while it is being sent, yet a sender that dies gives it back after that long."""

    first_retry: timedelta = timedelta(seconds=30)
    max_retry: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(days=2)
    lease: timedelta = timedelta(minutes=5)
    batch: int = 10  # messages claimed at once

    def retry_at(self, queued: QueuedMail, now: datetime, spread: float) -> datetime | None:
        """When to try `queued` again after its attempt failed at `now`; None: give it up."""
        exponent = min(max(queued.attempts - 1, 0), 30)  # 2**30 first retries exceed any max
        delay = min(self.first_retry * (1 << exponent), self.max_retry) * (0.75 + 0.5 * spread)
        if now + delay > queued.message.created_at + self.give_up_after:
            return None
        return now + delay
