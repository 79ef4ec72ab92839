"""What every /ui/ response carries, whichever part of the app produced it."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.http.route_path import route_path
from entrypoints.http.ui.pages import error_html, ui_base

# One script file of the service's own (webauthn.js: WebAuthn ceremonies are offered to script
# only) and nothing inline: no inline script, no event-handler attribute, no eval. The script's
# requests go to the service's own JSON API (connect-src 'self'). Every frame ancestor is
# refused (no clickjacking of the revoke buttons).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    # Not `no-referrer`: under it Chromium sends `Origin: null` with the pages' own form posts,
    # which the cross-site defence refuses wherever Sec-Fetch-Site is not sent (plain http to a
    # host other than loopback, older browsers). `same-origin` still tells other sites nothing.
    (b"referrer-policy", b"same-origin"),
]
_REPLACED = frozenset({b"content-type", b"content-length"})


def is_page(scope: Scope) -> bool:
    path = route_path(scope)
    return path == "/ui" or path.startswith("/ui/")


class BrowserPages:
    """Adds the page headers (CSP, X-Frame-Options, Referrer-Policy) to every /ui/ response, and
    turns the JSON error answers that come from outside the page routes (a cross-site 403, a 413
    from the body limit, a 404 or 405 from the router, a 503 from the error handlers) into HTML
    error pages with the same status and headers: a browser is never shown raw JSON. Under a mount
    (`SessionAuth.install`) the pages are at <prefix>/ui/, matched once the prefix is taken off.

    Placed outermost, so that the answers of the other middlewares pass through it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page(scope):
            return await self.app(scope, receive, send)
        held: Message | None = None

        async def paged(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # A page may set its own Referrer-Policy (the one that takes a mailed link's
                # token); two would combine, and the last would win.
                present = {name for name, _ in headers}
                headers += [h for h in PAGE_HEADERS if h[0] not in present]
                message = {**message, "headers": headers}
                if message["status"] >= 400 and _is_json(headers):
                    held = message  # the JSON body that follows is dropped for the page
                    return
            elif message["type"] == "http.response.body" and held is not None:
                if message.get("more_body", False):
                    return
                return await _send_html(send, held, ui_base(scope))
            await send(message)

        await self.app(scope, receive, paged)


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        name == b"content-type" and value.startswith(b"application/json") for name, value in headers
    )


async def _send_html(send: Send, start: Message, base: str) -> None:
    body = error_html(start["status"], base)
    headers = [(name, value) for name, value in start["headers"] if name not in _REPLACED]
    headers += [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})
