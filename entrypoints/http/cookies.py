"""The session cookie, exactly as the spec describes it: how it is set, expired and read.

Reading (`read_cookie`), the one parser every path uses for the session and the device cookie:
- Every `Cookie` header is read, in order; of a name sent more than once, the first counts
  (RFC 6265 sends the most specific first). Starlette's `request.cookies` keeps the last, so
  nothing here uses it: a cookie tossed from a sibling subdomain must not win on one path and
  lose on another.
- A value in double quotes is unquoted (RFC 6265 allows the quotes); nothing else is decoded.
- Spaces around a name or a value are ignored; a pair without `=` names nothing.
- An empty value is still a presented cookie (one that names no session, so it gets expired).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from application import LoginResult
from domain.errors import MfaPending
from entrypoints.settings import Settings


@dataclass(frozen=True, slots=True)
class SessionCookie:
    name: str
    secure: bool
    samesite: Literal["lax", "strict"]
    domain: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionCookie:
        return cls(
            name=settings.session_cookie_name,
            secure=settings.session_cookie_secure,
            samesite=settings.session_cookie_samesite,
            domain=settings.session_cookie_domain,
        )

    @property
    def device_name(self) -> str:
        return f"{self.name}_device"

    @property
    def pending_name(self) -> str:
        """The cookie of a pending login (the password was right, a second step is due)."""
        return f"{self.name}_mfa"

    def token(self, scope: Scope) -> str | None:
        """The session cookie's value as the request presents it, None when absent."""
        return read_cookie(scope["headers"], self.name.encode("latin-1"))

    def device(self, scope: Scope) -> str | None:
        return read_cookie(scope["headers"], self.device_name.encode("latin-1"))

    def pending(self, scope: Scope) -> str | None:
        """The pending login's cookie as the request presents it, None when absent."""
        return read_cookie(scope["headers"], self.pending_name.encode("latin-1"))

    def expiring_header(self) -> tuple[str, str]:
        """The Set-Cookie header that expires the session cookie, made with Starlette's own code."""
        probe = Response()
        self.expire(probe)
        return "set-cookie", probe.headers["set-cookie"]

    def set(self, response: Response, token: str, max_age: int) -> None:
        self._set(response, self.name, token, max_age)

    def set_device(self, response: Response, value: str, max_age: int) -> None:
        self._set(response, self.device_name, value, max_age)

    def set_pending(self, response: Response, pending: MfaPending) -> None:
        """The `_mfa` cookie naming a pending login: the session cookie's attributes, lasting
        as long as the pending login (MFA_PENDING_TTL at most)."""
        self._set(response, self.pending_name, pending.token, pending.max_age)

    def expire_pending(self, response: Response) -> None:
        response.delete_cookie(
            self.pending_name,
            path="/",
            domain=self.domain,
            secure=self.secure,
            httponly=True,
            samesite=self.samesite,
        )

    def _set(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            domain=self.domain,
            secure=self.secure,
            httponly=True,
            samesite=self.samesite,
        )

    def expire(self, response: Response) -> None:
        response.delete_cookie(
            self.name,
            path="/",
            domain=self.domain,
            secure=self.secure,
            httponly=True,
            samesite=self.samesite,
        )


def set_login_cookies(request: Request, response: Response, result: LoginResult) -> None:
    """The session cookie, lasting to the session's absolute deadline, and the device cookie, as
    every successful login sets them (the JSON /login and the /ui/login form alike)."""
    container = request.app.state.container
    cookie: SessionCookie = request.app.state.session_cookie
    cookie.set(
        response,
        result.token,
        max_age=int(container.session_policy().absolute_timeout.total_seconds()),
    )
    cookie.set_device(
        response, result.device_cookie, max_age=int(container.devices().ttl.total_seconds())
    )


def set_session_token(request: Request, response: Response, token: str) -> None:
    """The session cookie once a factor change rotated the caller's token (the old one is dead),
    lasting as a login's does."""
    cookie: SessionCookie = request.app.state.session_cookie
    policy = request.app.state.container.session_policy()
    cookie.set(response, token, max_age=int(policy.absolute_timeout.total_seconds()))


def read_cookie(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The value of cookie `name` in raw ASGI headers (see the module's rules), None when absent."""
    for key, value in headers:
        if key != b"cookie":
            continue
        for pair in value.split(b";"):
            found_name, eq, found = pair.partition(b"=")
            if eq and found_name.strip() == name:
                found = found.strip()
                if len(found) >= 2 and found[0] == found[-1] == 0x22:  # '"'
                    found = found[1:-1]
                # latin-1 maps every byte: a non-ASCII value decodes and is refused later as
                # a malformed token, never an error here.
                return found.decode("latin-1")
    return None
