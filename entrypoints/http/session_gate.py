"""The one rule that turns a request's session cookie into a user or a refusal.

Every path that authenticates by the session cookie asks SessionGate (the JSON API's dependency,
the fast path, the browser pages and the embedding dependency), and only turns its answer into
its own kind of response: JSON, raw ASGI, a redirect, an HTTPException. Four copies of this rule
used to disagree about which of two `session_id` cookies counted, and so two requests of one
browser could act on different sessions.

- The cookie is read by `read_cookie` (entrypoints/http/cookies.py): the first of a duplicated
  name, a double-quoted value unquoted.
- Its value goes to ResolveSession as it is; malformed, unknown, revoked and expired all refuse.
- A refusal's status and headers come from the error table (entrypoints/http/errors.py): 401
  (expiring a presented cookie) or 503 with `Retry-After`. Callers tell refusals apart by type
  (`refusal.error`), never by message text.
- A 503 is counted here, by its cause (`on_unavailable`), once: every caller answers it.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import Scope

from application import Authenticated, ResolveSession
from domain.errors import NotAuthenticated, StoreUnavailable
from entrypoints.http.cookies import SessionCookie, read_cookie
from entrypoints.http.errors import Refusal, UnavailableCounter


class SessionGate:
    def __init__(
        self,
        resolve: Callable[[], ResolveSession],
        cookie: SessionCookie,
        on_unavailable: UnavailableCounter,
    ) -> None:
        self._resolve = resolve
        self._name = cookie.name.encode("latin-1")
        self._expiring = cookie.expiring_header()
        self._absent = Refusal.of(NotAuthenticated(), expiring=None)
        self._unavailable = on_unavailable

    async def check(self, scope: Scope) -> Authenticated | Refusal:
        token = read_cookie(scope["headers"], self._name)
        if token is None:
            return self._absent
        try:
            return await self._resolve().execute(token=token)
        except NotAuthenticated as error:
            return Refusal.of(error, expiring=self._expiring)
        except StoreUnavailable as error:
            self._unavailable(error)
            return Refusal.of(error, expiring=self._expiring)
