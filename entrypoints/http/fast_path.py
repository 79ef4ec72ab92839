"""The hot authenticated GETs, answered in pure ASGI ahead of FastAPI's routing.

`GET /auth/verify` runs on every request a reverse proxy lets through, and `GET /protected` and
`GET /getusers/me` stand for every authenticated page of an application: their cost is paid by
everything behind the service. FastAPI's router, dependency solver and response validation cost
more than the session check itself, so these three are answered here, by the same SessionGate
(cookie reading, ResolveSession, refusals) and with the same answers as the FastAPI routes of
the same paths, which stay declared for the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, quote

from starlette.types import ASGIApp, Receive, Scope, Send

from application import Authenticated
from domain.errors import SecondFactorRequired
from entrypoints.http.cross_site import original_method_unsafe
from entrypoints.http.errors import Refusal
from entrypoints.http.middleware import SecurityHeaders
from entrypoints.http.schemas import ProtectedOut, UserOut
from entrypoints.http.session_gate import SessionGate

Handler = Callable[[Authenticated], tuple[bytes, list[tuple[bytes, bytes]]]]

_JSON = (b"content-type", b"application/json")


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
    return {
        "x-auth-user-id": current.user.id,
        "x-auth-username": quote(current.user.username.display, safe=""),
        "x-auth-aal": str(current.session.aal),
    }


def required_aal(query: bytes) -> int | None:
    """The level `GET /auth/verify?aal=` demands: 1 (the plain check) without the parameter,
    the last one's value when it is exactly 1 or 2 (as Starlette reads a repeated parameter),
    None for any other value (the full stack answers that with a 422 naming the parameter)."""
    if not query:
        return 1
    values = [
        v for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if k == "aal"
    ]
    if not values:
        return 1
    return {"1": 1, "2": 2}.get(values[-1])


def second_factor_refusal(current: Authenticated) -> Refusal:
    """The answer to a forward-auth check that demands a level the session lacks: 403
    "Second factor required", with the level it has in X-Auth-AAL (which a proxy reads to tell
    this 403 from the cross-site one, see docker/nginx/forward-auth.conf). The cookie stays: the
    session is valid."""
    refusal = Refusal.of(SecondFactorRequired(), expiring=None)
    aal = ("x-auth-aal", str(current.session.aal))
    return Refusal(refusal.error, refusal.presented, refusal.status, (*refusal.headers, aal))


def _verify(current: Authenticated) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    return b"", [(k.encode(), v.encode()) for k, v in forward_auth_headers(current).items()]


ROUTES: dict[str, Handler] = {
    "/protected": _protected,
    "/getusers/me": _me,
    "/auth/verify": _verify,
}


class FastPath:
    """Placed in front of the whole app (see SessionAuthAPI), so it adds the security headers
    itself, and leaves to the full stack every request that `_for_the_full_stack` names. The
    session rule is SessionGate's, as on every other path; this only writes its answer."""

    app: ASGIApp  # the full stack, set by SessionAuthAPI.build_middleware_stack

    def __init__(self, gate: SessionGate) -> None:
        self._gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = (
            ROUTES.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "GET"
            else None
        )
        if handler is None or _for_the_full_stack(scope):
            return await self.app(scope, receive, send)
        outcome = await self._gate.check(scope)
        if (
            handler is _verify
            and isinstance(outcome, Authenticated)
            and outcome.session.aal < _demanded(scope)
        ):
            outcome = second_factor_refusal(outcome)
        if not isinstance(outcome, Authenticated):
            headers = [
                _JSON,
                *((k.encode("latin-1"), v.encode("latin-1")) for k, v in outcome.headers),
            ]
            return await _answer(send, outcome.status, outcome.body(), headers)
        body, headers = handler(outcome)
        await _answer(send, 200, body, headers)


def _demanded(scope: Scope) -> int:
    # Checked valid by _for_the_full_stack before the request came this far.
    return required_aal(scope.get("query_string", b"")) or 1


def _for_the_full_stack(scope: Scope) -> bool:
    """Whether a hot GET must still go through the full stack, one condition per rule:
    - an Origin header: a browser's CORS request, and the CORS rules live there;
    - U+0000 in a header or the query string: refused with 400 there (see request_text.py);
    - a forward-auth check about an unsafe original request (a POST, say): the cross-site
      rules there judge it (cross_site.original_method_unsafe);
    - a forward-auth check with an `aal` other than 1 or 2: the 422 is FastAPI's there."""
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        return True
    for name, value in scope["headers"]:
        if name == b"origin" or b"\x00" in value:
            return True
    if scope["path"] != "/auth/verify":
        return False
    return required_aal(query) is None or original_method_unsafe(scope["headers"])


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *headers,
                (b"content-length", str(len(body)).encode()),
                *SecurityHeaders.HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
