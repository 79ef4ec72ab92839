"""Each request's id, access-log line and latency, in one pure-ASGI layer in front of everything
(the fast path included, so the hot GETs it answers are seen too).

One layer rather than one per concern: each layer is a coroutine frame and a `send` wrapper more on
every request, and the hot GETs cost little more than that. Whatever is fixed for a route
template, method and status (the histogram's series, the access line's fixed part) is made once
per combination and kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from time import perf_counter

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.access_log import AccessLog, Write
from entrypoints.http.client_address import ClientAddress
from entrypoints.http.metrics import RequestLatency
from entrypoints.http.route_path import RouteTemplates
from entrypoints.logging_setup import REQUEST_ID

REQUEST_ID_HEADER = b"x-request-id"
# A client's id is taken as it is only when it cannot break a log line or a header, nor flood one.
VALID_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,128}")
_METHODS = {m: m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}

# What notes a request of a route template, method and status when it is done: the histogram's
# observer and the access log's writer, either one None when it is off.
Outcome = tuple[Callable[[float], None] | None, Write | None]


def request_id(headers: list[tuple[bytes, bytes]]) -> tuple[str, bytes]:
    """The request's X-Request-ID (the first one) when it is 1 to 128 of `[A-Za-z0-9._-]`, else
    a new one: 16 random bytes in hex, the size of a W3C trace id, so that ids made by any number
    of instances do not collide, with no state shared between them."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if VALID_REQUEST_ID.fullmatch(value):
                return value.decode("ascii"), value
            break
    made = os.urandom(16).hex()
    return made, made.encode("ascii")


class RequestObserver:
    """For every HTTP request:
    - its id (`request_id`), echoed as X-Request-ID in the response and set in REQUEST_ID while
      the request is handled, so that every log line it causes carries it;
    - its access line (AccessLog), unless ACCESS_LOG=false: method, route template, status,
      duration, the client address after TRUSTED_PROXIES, the request id; never the path itself,
      its query string or a header;
    - its duration in the latency histogram (RequestLatency), when metrics are on.

    The duration runs from the request's arrival to the app's return; the status is the one the
    app sent, or 500 when it raised before sending one (what the server then answers). Unknown
    methods are `other`, paths that name no route `unmatched`."""

    app: ASGIApp  # the stack behind it, set by SessionAuthAPI.build_middleware_stack

    def __init__(
        self,
        routes: RouteTemplates,
        addresses: ClientAddress,
        access_log: AccessLog | None,
        latency: RequestLatency | None,
    ) -> None:
        self._routes = routes
        self._addresses = addresses
        self.access_log = access_log
        self.latency = latency
        self._outcomes: dict[tuple[str, str, int], Outcome] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = perf_counter()
        request_id_text, request_id_bytes = request_id(scope["headers"])
        echoed = (REQUEST_ID_HEADER, request_id_bytes)
        status = 500  # what the server answers when the app raises before it starts a response

        def send_noting_status(message: Message) -> Awaitable[None]:
            # Not a coroutine of its own: it hands back send's, one frame less per message.
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            return send(message)

        token = REQUEST_ID.set(request_id_text)
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            elapsed = perf_counter() - started
            REQUEST_ID.reset(token)
            key = (self._routes.of(scope), _METHODS.get(scope["method"], "other"), status)
            outcome = self._outcomes.get(key)
            if outcome is None:
                outcome = self._outcomes[key] = self._outcome(*key)
            observe, write = outcome
            if observe is not None:
                observe(elapsed)
            if write is not None:
                write(elapsed, self._addresses.of(scope), request_id_text)

    def _outcome(self, route: str, method: str, status: int) -> Outcome:
        return (
            self.latency.observer(route, method, status) if self.latency else None,
            self.access_log.writer(method, route, status) if self.access_log else None,
        )
