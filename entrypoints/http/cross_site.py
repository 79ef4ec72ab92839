"""Cross-site request defence and CORS for trusted origins, as one pure ASGI middleware; and the
same defence for the original request that forward auth (`GET /auth/verify`) is asked about."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.client_address import ClientAddress
from entrypoints.http.middleware import send_json
from entrypoints.http.route_path import route_path
from entrypoints.settings import normalize_origin

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAFE = frozenset({"GET", "HEAD"})
FORWARD_AUTH_PATH = "/auth/verify"
# RFC 9110's safe methods: the only original methods forward auth lets through unchecked.
SAFE_ORIGINAL = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
ORIGINAL_METHOD_HEADERS = (b"x-forwarded-method", b"x-original-method")
ALLOWED_METHODS = b"GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = b"authorization, content-type"
PREFLIGHT_MAX_AGE = b"600"


def original_method_unsafe(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether a forward-auth check is about a request that the cross-site rules must check.

    - The original method is read from X-Forwarded-Method (Traefik) and X-Original-Method (the
      shipped nginx configuration); with neither, the check is about a GET (its own method).
    - Every value of both headers counts, comma-separated ones included, and the request is
      safe only when each is a safe method, spelled exactly (methods are case-sensitive): a
      proxy that appends its value to a client's, or a client that adds one of its own, can
      only make the check stricter. An unknown, empty or garbled value counts as unsafe.
    - These headers are believed from anyone, trusted proxy or not, for that reason.
    """
    for name, value in headers:
        if name in ORIGINAL_METHOD_HEADERS:
            for method in value.decode("latin-1").split(","):
                if method.strip(" \t") not in SAFE_ORIGINAL:
                    return True
    return False


class CrossSiteDefence:
    """Refuses unsafe requests from other sites with 403, by the spec's rules in order:

    1. an Origin listed in TRUSTED_ORIGINS passes;
    2. else, where Sec-Fetch-Site is present, only `same-origin` or `none` pass;
    3. else, where Origin is present, only the request's own origin passes (Host and the scheme
       the server sees; X-Forwarded-Proto/Host only from a trusted proxy);
    4. a request with neither header (curl, server-side clients) passes.

    Forward auth: a `GET /auth/verify` about an unsafe original request (original_method_unsafe)
    is judged as that request, with the Origin and Sec-Fetch-Site the proxy forwards; its own
    origin is X-Forwarded-Proto/Host from a trusted proxy, else the Host it came with. The 403
    comes before the session check, as it does for every route here: a forged request neither
    costs a session look-up nor slides the victim's idle deadline.

    Trusted origins get credentialed CORS headers and answered preflights; no other origin does.
    """

    def __init__(
        self, app: ASGIApp, trusted_origins: frozenset[str], addresses: ClientAddress
    ) -> None:
        self.app = app
        self.trusted = trusted_origins
        self.addresses = addresses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method = scope["method"]
        unsafe = self._unsafe(scope)
        if (
            not unsafe
            and method in SAFE
            and not any(name == b"origin" for name, _ in scope["headers"])
        ):
            return await self.app(scope, receive, send)  # the common case, kept cheap
        headers = dict(scope["headers"])  # the last of repeated headers; browsers send one
        origin_raw = headers.get(b"origin")
        origin = normalize_origin(origin_raw.decode("latin-1")) if origin_raw is not None else None
        trusted = origin is not None and origin in self.trusted

        if (
            method == "OPTIONS"
            and origin_raw is not None
            and b"access-control-request-method" in headers
        ):
            return await self._preflight(send, origin, trusted)
        if unsafe and not trusted and not self._same_site(scope, headers, origin_raw, origin):
            return await send_json(send, 403, {"detail": "Cross-site request refused"})
        if not trusted or origin is None:
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
        if not self._unsafe(scope):
            return False
        headers = dict(scope["headers"])
        origin_raw = headers.get(b"origin")
        origin = normalize_origin(origin_raw.decode("latin-1")) if origin_raw is not None else None
        if origin is not None and origin in self.trusted:
            return False
        return not self._same_site(scope, headers, origin_raw, origin)

    @staticmethod
    def _unsafe(scope: Scope) -> bool:
        method = scope["method"]
        if method in UNSAFE:
            return True
        return (
            method in SAFE
            and route_path(scope) == FORWARD_AUTH_PATH
            and original_method_unsafe(scope["headers"])
        )

    def _same_site(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        origin_raw: bytes | None,
        origin: str | None,
    ) -> bool:
        fetch_site = headers.get(b"sec-fetch-site")
        if fetch_site is not None:
            return fetch_site.strip().lower() in (b"same-origin", b"none")
        if origin_raw is not None:
            return origin is not None and origin == self._own_origin(scope, headers)
        return True

    def _own_origin(self, scope: Scope, headers: dict[bytes, bytes]) -> str | None:
        scheme = self.addresses.forwarded(scope, b"x-forwarded-proto") or scope.get(
            "scheme", "http"
        )
        host = self.addresses.forwarded(scope, b"x-forwarded-host") or headers.get(
            b"host", b""
        ).decode("latin-1")
        if not host or scheme.lower() not in ("http", "https"):
            return None
        return normalize_origin(f"{scheme}://{host}")

    @staticmethod
    async def _preflight(send: Send, origin: str | None, trusted: bool) -> None:
        if not trusted or origin is None:
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
