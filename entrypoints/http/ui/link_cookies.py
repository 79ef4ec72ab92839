"""The token of a mailed link, moved out of the address bar.

A link such as `/ui/reset-password?token=...` leaves its token in the address bar, the history
and any Referer the page sends. The page that receives it keeps the token in a short-lived
`HttpOnly` cookie scoped to that page's path alone and answers 303 to the same page without the
query; only the form there, posted, uses the token (a mail scanner that follows links with GET
never burns it).

- `SameSite=Lax`, whatever the session cookie's setting: the link is opened from a mail client,
  a cross-site navigation, and a `Strict` cookie set there would not come back with the redirect.
- `Secure` as the session cookie is; no `Domain`: the cookie stays with this host.
- `Max-Age` at most the token's own lifetime and at most LINK_COOKIE_MAX_AGE: a page left open
  on a shared computer forgets the link soon.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from entrypoints.http.cookies import SessionCookie, read_cookie

LINK_COOKIE_MAX_AGE = 900  # seconds: time enough to choose a password


@dataclass(frozen=True, slots=True)
class LinkCookie:
    name: str
    page: str  # the page's path under the pages' base ("/reset-password")
    max_age: int
    secure: bool

    def read(self, scope: Scope) -> str | None:
        return read_cookie(scope["headers"], self.name.encode("latin-1"))

    def set(self, response: Response, base: str, token: str) -> None:
        response.set_cookie(
            self.name,
            token,
            max_age=self.max_age,
            path=base + self.page,
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def expire(self, response: Response, base: str) -> None:
        response.delete_cookie(
            self.name, path=base + self.page, secure=self.secure, httponly=True, samesite="lax"
        )


def reset_cookie(request: Request) -> LinkCookie:
    policy = request.app.state.container.account_policy()
    return _link_cookie(request, "reset", "/reset-password", policy.password_reset_ttl)


def verify_cookie(request: Request) -> LinkCookie:
    policy = request.app.state.container.account_policy()
    return _link_cookie(request, "verify", "/verify-email", policy.email_verify_ttl)


def _link_cookie(request: Request, suffix: str, page: str, ttl: timedelta) -> LinkCookie:
    session: SessionCookie = request.app.state.session_cookie
    return LinkCookie(
        name=f"{session.name}_{suffix}",
        page=page,
        max_age=max(1, min(int(ttl.total_seconds()), LINK_COOKIE_MAX_AGE)),
        secure=session.secure,
    )
