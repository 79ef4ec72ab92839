"""The hot authenticated GETs, answered in pure ASGI ahead of FastAPI's routing.

`GET /auth/verify` runs on every request a reverse proxy lets through, and `GET /protected` and
`GET /getusers/me` stand for every authenticated page of an application: their cost is paid by
everything behind the service. FastAPI's router, dependency solver and response validation cost
more than the session check itself, so these three are answered here, with the same use-case
(ResolveSession) and the same answers as the FastAPI routes of the same paths, which stay
declared for the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from application import Authenticated, ResolveSession
from domain.errors import NotAuthenticated, StoreUnavailable
from entrypoints.http.cookies import SessionCookie
from entrypoints.http.cross_site import original_method_unsafe
from entrypoints.http.errors import STORE_RETRY_AFTER
from entrypoints.http.middleware import SecurityHeaders
from entrypoints.http.schemas import ProtectedOut, UserOut

Handler = Callable[[Authenticated], tuple[bytes, list[tuple[bytes, bytes]]]]

_JSON = (b"content-type", b"application/json")
_FULL_STACK = object()  # _token's answer for a request the full stack must handle
_NOT_AUTHENTICATED = b'{"detail":"Not authenticated"}'
_EXPIRED = b'{"detail":"Session expired"}'
_UNAVAILABLE = b'{"detail":"Store unavailable"}'


def _protected(current: Authenticated) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    body = ProtectedOut(
        message=f"Hello, {current.user.username.display}: this is protected",
        user=UserOut.of(current.user),
    )
    return body.model_dump_json().encode(), [_JSON]


def _me(current: Authenticated) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    return UserOut.of(current.user).model_dump_json().encode(), [_JSON]


def forward_auth_headers(current: Authenticated) -> dict[str, str]:
    # Header values are latin-1 on the wire: a non-ASCII username would not survive, so it is
    # percent-encoded as UTF-8 (RFC 3986), as the spec says.
    return {"x-auth-user-id": current.user.id, "x-auth-username": quote(current.user.username.display, safe="")}


def _verify(current: Authenticated) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    return b"", [(k.encode(), v.encode()) for k, v in forward_auth_headers(current).items()]


ROUTES: dict[str, Handler] = {"/protected": _protected, "/getusers/me": _me, "/auth/verify": _verify}


class FastPath:
    """Placed in front of the whole app (see SessionAuthAPI), so it adds the security headers
    itself, and leaves any request with an Origin header to the full stack, where the CORS rules
    live."""

    def __init__(self, resolve: Callable[[], ResolveSession], cookie: SessionCookie, app: ASGIApp | None = None) -> None:
        self.app = app
        self._resolve = resolve
        self._name = cookie.name.encode("latin-1")
        self._expire = _expiring_header(cookie)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = ROUTES.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "GET" else None
        if handler is _verify and original_method_unsafe(scope["headers"]):
            handler = None  # a check about a POST, say: the cross-site rules in the full stack judge it
        token = self._token(scope) if handler is not None else _FULL_STACK
        if token is _FULL_STACK:
            return await self.app(scope, receive, send)
        if token is None:
            return await _answer(send, 401, _NOT_AUTHENTICATED, [_JSON])
        try:
            current = await self._resolve().execute(token=str(token))
        except NotAuthenticated as error:
            body = _EXPIRED if str(error) == "Session expired" else _NOT_AUTHENTICATED
            return await _answer(send, 401, body, [_JSON, self._expire])
        except StoreUnavailable:
            return await _answer(send, 503, _UNAVAILABLE, [_JSON, (b"retry-after", STORE_RETRY_AFTER.encode())])
        body, headers = handler(current)
        await _answer(send, 200, body, headers)

    def _token(self, scope: Scope) -> str | object | None:
        """The session cookie's value, None when absent, or _FULL_STACK for a request with an
        Origin header (a browser's CORS request) or with U+0000 in a header or the query string
        (refused with 400 there, see request_text.py), for the full stack to answer."""
        query = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            return _FULL_STACK
        token = None
        for name, value in scope["headers"]:
            if name == b"origin" or b"\x00" in value:
                return _FULL_STACK
            if name == b"cookie" and token is None:
                for pair in value.split(b";"):
                    key, eq, found = pair.strip().partition(b"=")
                    if eq and key == self._name:
                        token = found.decode("latin-1")
                        break
        return token


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode()), *SecurityHeaders.HEADERS],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _expiring_header(cookie: SessionCookie) -> tuple[bytes, bytes]:
    """The Set-Cookie that expires the session cookie, made once with Starlette's own code."""
    response = Response()
    cookie.expire(response)
    return next((k, v) for k, v in response.raw_headers if k == b"set-cookie")

