"""Text that the service cannot store or hash is refused where a request enters.

- U+0000: PostgreSQL's `text` refuses it, and RFC 9110 (5.5) lets a recipient reject a field
  value that holds it.
- A lone surrogate (U+D800 to U+DFFF, `"\\ud800"` in JSON): it is not a Unicode scalar value, so
  it has no UTF-8 form and argon2 and asyncpg raise on it. RFC 7493 (I-JSON) forbids it.
- Either one is refused in every header and the query string (by `UnstorableText`, below),
  every JSON string field (schemas.py), Basic credentials (credentials.py) and every form field
  (ui/forms.py), before any use-case runs. The answer depends on the request's text alone, never
  on an account, so it tells nothing about one (a /login refused here is not a failed login).
- The path is left to the routes: its one parameter, a session id, is only compared with the
  caller's own sessions and never sent to the store as given, and the spec wants the same 404
  for every id that is not an active session of the caller.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from entrypoints.http.middleware import send_json

UNSTORABLE_TEXT = "Text must be Unicode without U+0000 or unpaired surrogates"
TOO_DEEP = "JSON nested too deeply"

_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


class MalformedRequest(Exception):
    """A request that cannot be read (400); the message is for the client and holds no input."""


def is_storable(text: str) -> bool:
    return _UNSTORABLE.search(text) is None


def unstorable_part(scope: Scope) -> str | None:
    """Which of the headers and the query string holds U+0000, if any. Only U+0000 can be there:
    header values are bytes read as latin-1, and the query is percent-decoded with a replacement
    character for bytes that are not UTF-8, so no surrogate comes out of it."""
    if any(b"\x00" in value for _, value in scope["headers"]):
        return "a header"
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        return "the query string"
    return None


class UnstorableText:
    """400 `Malformed request: U+0000 in <part>` for a request whose headers or query string
    hold U+0000, before any route reads them (the User-Agent is stored with a session, query
    parameters reach the pages)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (part := unstorable_part(scope)) is not None:
            return await send_json(send, 400, {"detail": f"Malformed request: U+0000 in {part}"})
        await self.app(scope, receive, send)
