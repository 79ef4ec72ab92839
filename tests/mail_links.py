"""Reading the mail the service queued (the in-memory outbox) the way its recipient would: who it
is for, what kind it is, and the token of its link."""

from __future__ import annotations

import re
from urllib.parse import unquote

from domain.mail import MailKind, MailMessage
from domain.ports import Store

LINK = re.compile(r"/ui/(?:verify-email|reset-password)\?token=([^\s\"<&]+)")


def queued(store: Store, kind: MailKind | None = None, to: str | None = None) -> list[MailMessage]:
    """The messages waiting in an in-memory store's outbox, oldest first."""
    messages = list(store.outbox.pending.values())  # type: ignore[attr-defined]
    return [m for m in messages if (kind is None or m.kind == kind) and (to is None or m.to == to)]


def link_token(message: MailMessage) -> str:
    """The token of the message's link, the same in its plain-text and its HTML body."""
    in_text, in_html = LINK.search(message.text), LINK.search(message.html)
    assert in_text and in_html, "the message has no link"
    token = unquote(in_text.group(1))
    assert unquote(in_html.group(1)) == token
    return token


def last_token(store: Store, kind: MailKind, to: str | None = None) -> str:
    messages = queued(store, kind, to)
    assert messages, f"no {kind} message queued"
    return link_token(messages[-1])
