"""Cross-site request defence and CORS for trusted origins, as one pure ASGI middleware."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.client_address import ClientAddress
from entrypoints.http.middleware import send_json
from entrypoints.settings import normalize_origin

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAFE = frozenset({"GET", "HEAD"})
ALLOWED_METHODS = b"GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = b"authorization, content-type"
PREFLIGHT_MAX_AGE = b"600"


class CrossSiteDefence:
    """Refuses unsafe requests from other sites with 403, by the spec's rules in order:

    1. an Origin listed in TRUSTED_ORIGINS passes;
    2. else, where Sec-Fetch-Site is present, only `same-origin` or `none` pass;
    3. else, where Origin is present, only the request's own origin passes (Host and the scheme
       the server sees; X-Forwarded-Proto/Host only from a trusted proxy);
    4. a request with neither header (curl, server-side clients) passes.

    Trusted origins get credentialed CORS headers and answered preflights; no other origin does.
    """

    def __init__(self, app: ASGIApp, trusted_origins: frozenset[str], addresses: ClientAddress) -> None:
        self.app = app
        self.trusted = trusted_origins
        self.addresses = addresses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method = scope["method"]
        if method in SAFE and not any(name == b"origin" for name, _ in scope["headers"]):
            return await self.app(scope, receive, send)  # the common case, kept cheap
        headers = dict(scope["headers"])  # the last of repeated headers; browsers send one
        origin_raw = headers.get(b"origin")
        origin = normalize_origin(origin_raw.decode("latin-1")) if origin_raw is not None else None
        trusted = origin is not None and origin in self.trusted

        if method == "OPTIONS" and origin_raw is not None and b"access-control-request-method" in headers:
            return await self._preflight(send, origin, trusted)
        if method in UNSAFE and not trusted and not self._same_site(scope, headers, origin_raw, origin):
            return await send_json(send, 403, {"detail": "Cross-site request refused"})
        if not trusted:
            return await self.app(scope, receive, send)

        cors = [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-credentials", b"true"),
            (b"vary", b"Origin"),
        ]

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, with_cors)

    def refuses(self, scope: Scope) -> bool:
        """The same rules for a check outside the middleware: True for an unsafe request from
        another site that no trusted origin vouches for."""
        if scope["method"] not in UNSAFE:
            return False
        headers = dict(scope["headers"])
        origin_raw = headers.get(b"origin")
        origin = normalize_origin(origin_raw.decode("latin-1")) if origin_raw is not None else None
        if origin is not None and origin in self.trusted:
            return False
        return not self._same_site(scope, headers, origin_raw, origin)

    def _same_site(self, scope: Scope, headers: dict[bytes, bytes], origin_raw: bytes | None, origin: str | None) -> bool:
        fetch_site = headers.get(b"sec-fetch-site")
        if fetch_site is not None:
            return fetch_site.strip().lower() in (b"same-origin", b"none")
        if origin_raw is not None:
            return origin is not None and origin == self._own_origin(scope, headers)
        return True

    def _own_origin(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        scheme = self.addresses.forwarded(scope, b"x-forwarded-proto") or scope.get("scheme", "http")
        host = self.addresses.forwarded(scope, b"x-forwarded-host") or headers.get(b"host", b"").decode("latin-1")
        if not host or scheme.lower() not in ("http", "https"):
            return None
        return normalize_origin(f"{scheme}://{host}")

    @staticmethod
    async def _preflight(send: Send, origin: str | None, trusted: bool) -> None:
        if not trusted:
            return await send_json(send, 403, {"detail": "Origin not allowed"})
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin.encode()),
                    (b"access-control-allow-credentials", b"true"),
                    (b"access-control-allow-methods", ALLOWED_METHODS),
                    (b"access-control-allow-headers", ALLOWED_HEADERS),
                    (b"access-control-max-age", PREFLIGHT_MAX_AGE),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
