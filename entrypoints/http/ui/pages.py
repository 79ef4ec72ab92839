"""Rendering: Jinja2 templates with autoescaping on, and the messages the pages show.

Every text a page shows about an error or a notice comes from the tables here, never from the
request, so a crafted link cannot make a page say something the service did not.
"""

from __future__ import annotations

from datetime import UTC
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.responses import HTMLResponse
from starlette.types import Scope

_templates = Environment(
    loader=PackageLoader("entrypoints.http.ui", "templates"),
    autoescape=True,  # every template is HTML; everything interpolated is escaped
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["utc"] = lambda moment: moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
_templates.filters["iso"] = lambda moment: moment.astimezone(UTC).isoformat().replace("+00:00", "Z")

# `?notice=` keys a redirect may carry; unknown keys show nothing.
NOTICES = {
    "signed-up": "Account created. Log in to start a session.",
    "logged-out": "You have logged out.",
    "expired": "Your session expired. Log in again to continue.",
    "ended": "Your session has ended. Log in again to continue.",
    "revoked": "That session has ended.",
    "others-revoked": "Every other session has ended.",
    "password-reset": "Password changed. Log in with the new one; every session has ended.",
    "email-set": "Email address saved. Follow the link mailed to it to verify it.",
    "email-unchanged": "That address is yours and verified already. Nothing changed.",
    "verification-sent": "A new verification link is on its way.",
    "email-verified": "Email address verified.",
    "account-deleted": "Your account has been deleted, with its sessions.",
    "mfa-expired": "The second step took too long or was refused too often. Log in again.",
    "totp-on": "Your authenticator app is set up. Every other session has ended.",
    "totp-off": "Your authenticator app is removed. Every other session has ended.",
    "passkey-added": "The passkey or security key is added. Every other session has ended.",
    "passkey-removed": "The passkey or security key is removed. Every other session has ended.",
}

# Titles and texts of the error pages, by status.
ERRORS = {
    400: ("Bad request", "The form could not be read. Go back and try again."),
    403: (
        "Request refused",
        "This request came from another site, so it was refused. Nothing was changed.",
    ),
    404: ("Not found", "There is nothing here."),
    405: ("Not allowed", "This page cannot be used that way."),
    413: ("Too large", "The form was too large (the limit is 64 KiB)."),
    415: ("Unsupported form", "The form was sent in a format this service does not read."),
    422: ("Invalid request", "The request could not be understood."),
    429: ("Too many attempts", "Too many attempts. Wait a little and try again."),
    503: ("Unavailable", "The service is unavailable right now. Try again in a few seconds."),
}
_FALLBACK_ERROR = ("Error", "Something went wrong. Nothing was changed; try again later.")


def ui_base(scope: Scope) -> str:
    """Where the pages are, for links, form actions and redirects: `/ui`, or `/auth/ui` when the
    app is mounted at /auth (`SessionAuth.install`), where a bare `/ui/` would reach the host app.
    Percent-encoded: the mount point is a decoded path, and it goes into URLs."""
    return quote(scope.get("root_path", "")) + "/ui"


def render(
    template: str,
    ui_base: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: object,
) -> HTMLResponse:
    context = {
        "notice": None,
        "error": None,
        "field": None,
        "username": "",
        "email": "",
        "user": None,
        "mail": False,
        "webauthn": False,
        "script": False,
        **context,
    }
    # The JSON API beside the pages, for the script's requests (under a mount too).
    api_base = ui_base.removesuffix("/ui")
    return HTMLResponse(
        _templates.get_template(template).render(context, ui_base=ui_base, api_base=api_base),
        status,
        headers,
    )


def notice_text(key: str | None) -> str | None:
    return NOTICES.get(key) if key else None


def error_html(status: int, ui_base: str, message: str | None = None) -> bytes:
    title, text = ERRORS.get(status, _FALLBACK_ERROR)
    return (
        _templates.get_template("error.html")
        .render(
            title=title,
            message=message or text,
            status=status,
            notice=None,
            error=None,
            user=None,
            ui_base=ui_base,
        )
        .encode()
    )


def error_page(status: int, ui_base: str, message: str | None = None) -> HTMLResponse:
    return HTMLResponse(error_html(status, ui_base, message), status)


def wait_text(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{-(-seconds // 60)} minutes"
