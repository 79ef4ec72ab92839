"""Messages from templates (adapters/mail_templates/): a plain-text and an HTML body for each kind
of mail, with the product name and the public URL (the links) from the settings.

The `.html` templates are autoescaped; the `.txt` ones are not (nothing in them is markup).
Subjects come from a table here, never from input: a username cannot reach a header.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from domain.mail import MailContent, MailFacts, MailKind
from domain.ports import MailComposer

SUBJECTS = {
    MailKind.VERIFY_EMAIL: "Confirm your email address for {product}",
    MailKind.PASSWORD_RESET: "Reset your {product} password",
    MailKind.PASSWORD_CHANGED: "Your {product} password was changed",
    MailKind.PASSWORD_WAS_RESET: "Your {product} password was reset",
    MailKind.EMAIL_CHANGED: "The email address of your {product} account was changed",
    MailKind.NEW_DEVICE: "New sign-in to your {product} account",
    MailKind.FACTOR_ADDED: "A second factor was added to your {product} account",
    MailKind.FACTOR_REMOVED: "A second factor was removed from your {product} account",
    MailKind.RECOVERY_CODES_RENEWED: "New recovery codes for your {product} account",
}

# Where each link in mail points, under PUBLIC_URL (the pages are entrypoints/http/ui).
VERIFY_PATH = "/ui/verify-email"
RESET_PATH = "/ui/reset-password"
FORGOT_PATH = "/ui/forgot-password"
SESSIONS_PATH = "/ui/"
_LINK_PATHS = {MailKind.VERIFY_EMAIL: VERIFY_PATH, MailKind.PASSWORD_RESET: RESET_PATH}


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("adapters", "mail_templates"),
        autoescape=select_autoescape(["html"], default=False),  # .html escaped, .txt as typed
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["utc"] = _utc
    return environment


class TemplateMailComposer(MailComposer):
    def __init__(self, *, product_name: str, public_url: str) -> None:
        self._product = product_name
        self._public_url = public_url.rstrip("/")
        self._templates = _environment()

    def link(self, kind: MailKind, token: str) -> str:
        """The page a verification or reset message links to, with its token."""
        return f"{self._public_url}{_LINK_PATHS[kind]}?token={quote(token, safe='')}"

    def compose(self, kind: MailKind, facts: MailFacts) -> MailContent:
        if kind in _LINK_PATHS and facts.token is None:
            raise ValueError(f"a {kind} message needs a token")
        subject = SUBJECTS[kind].format(product=self._product)
        values = {
            "subject": subject,
            "product": self._product,
            "public_url": self._public_url,
            "username": facts.username,
            "link": self.link(kind, facts.token) if kind in _LINK_PATHS and facts.token else "",
            "when": facts.when,
            "device": facts.device,
            "ip": facts.ip,
            "expires_at": facts.expires_at,
            "new_email": facts.new_email,
            "factor": facts.factor,
            "sessions_url": self._public_url + SESSIONS_PATH,
            "forgot_url": self._public_url + FORGOT_PATH,
        }
        return MailContent(
            subject=subject,
            text=self._templates.get_template(f"{kind}.txt").render(values),
            html=self._templates.get_template(f"{kind}.html").render(values),
        )
