"""The session cookie, exactly as the spec describes it."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from application import LoginResult
from entrypoints.settings import Settings


@dataclass(frozen=True, slots=True)
class SessionCookie:
    name: str
    secure: bool
    samesite: str
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

    def set(self, response: Response, token: str, max_age: int) -> None:
        self._set(response, self.name, token, max_age)

    def set_device(self, response: Response, value: str, max_age: int) -> None:
        self._set(response, self.device_name, value, max_age)

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
    cookie.set(response, result.token, max_age=int(container.session_policy().absolute_timeout.total_seconds()))
    cookie.set_device(response, result.device_cookie, max_age=int(container.devices().ttl.total_seconds()))
