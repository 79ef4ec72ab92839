"""Pure ASGI middleware (BaseHTTPMiddleware would add a task and a copy per request)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024
TOO_LARGE = "Request body too large (limit 64 KiB)"


class _BodyTooLarge(HTTPException):
    # An HTTPException so that FastAPI's body parsing lets it through (it turns other errors
    # raised while reading into a 400) and the app answers it as a plain 413.
    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


async def send_json(
    send: Send, status: int, body: dict, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BodySizeLimit:
    """Refuse bodies over `limit` bytes with 413, by Content-Length before reading anything, or
    while streaming for chunked bodies: never holds more than the limit in memory."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.limit:
                    return await self._refuse(send, value.isdigit())
                break
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send, True)

    @staticmethod
    async def _refuse(send: Send, too_large: bool) -> None:
        if too_large:
            await send_json(send, 413, {"detail": TOO_LARGE})
        else:
            await send_json(send, 400, {"detail": "Malformed Content-Length header"})


_OURS = frozenset({b"x-content-type-options", b"cache-control"})


class SecurityHeaders:
    """`X-Content-Type-Options: nosniff` on every response; `Cache-Control: no-store` too, since
    almost every answer carries user data or a cookie and none is worth caching."""

    HEADERS = ((b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"))

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # Starlette and our routes send lower-case names and hardly ever these two.
                present = [name for name, _ in headers if name in _OURS]
                headers += (
                    [h for h in self.HEADERS if h[0] not in present] if present else self.HEADERS
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
