"""Every error's HTTP answer, in one place."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.prometheus_metrics import PrometheusMetrics
from domain.errors import (
    CeremonyFailed,
    DomainError,
    EmailAlreadyVerified,
    EmailTaken,
    FactorAlreadyActive,
    FactorNotFound,
    HashingOverloaded,
    InvalidCode,
    InvalidCredentials,
    InvalidToken,
    NoEmailAddress,
    NoFactorSetup,
    NoSecondFactor,
    NotAuthenticated,
    PolicyViolation,
    SecondFactorRequired,
    SessionNotFound,
    StoreUnavailable,
    Throttled,
    UnknownUser,
    UsernameTaken,
    WrongPassword,
    WrongSecondFactor,
)
from entrypoints.http.request_text import TOO_DEEP, MalformedRequest

log = logging.getLogger("sessionauth.http")

STORE_RETRY_AFTER = "5"
HASHING_RETRY_AFTER = "1"
BASIC_CHALLENGE = 'Basic realm="sessionauth", charset="UTF-8"'

# (status, extra headers) by error type; the message is the error's own, which never holds a secret.
_STATUS: dict[type[DomainError], tuple[int, dict[str, str]]] = {
    UsernameTaken: (409, {}),
    InvalidCredentials: (401, {}),
    NotAuthenticated: (401, {}),
    WrongPassword: (403, {}),
    SessionNotFound: (404, {}),
    UnknownUser: (404, {}),
    StoreUnavailable: (503, {"Retry-After": STORE_RETRY_AFTER}),
    HashingOverloaded: (503, {"Retry-After": HASHING_RETRY_AFTER}),
    InvalidToken: (400, {}),
    EmailTaken: (409, {}),
    EmailAlreadyVerified: (409, {}),
    NoEmailAddress: (409, {}),
    SecondFactorRequired: (403, {}),
    InvalidCode: (401, {}),
    WrongSecondFactor: (403, {}),
    FactorAlreadyActive: (409, {}),
    NoFactorSetup: (400, {}),
    FactorNotFound: (404, {}),
    NoSecondFactor: (409, {}),
    CeremonyFailed: (400, {}),  # its message is generic; the reason goes to the audit log
}


# Told of every 503 answered because the store could not be used, once each: by SessionGate for
# the paths that authenticate by cookie, by _domain_error for errors raised out of a route, and
# by the browser pages' forms. The metrics count them by cause.
UnavailableCounter = Callable[[StoreUnavailable], None]


def unavailable_counter(metrics: PrometheusMetrics | None) -> UnavailableCounter:
    return _uncounted if metrics is None else metrics.store_unavailable_answered


def _uncounted(error: StoreUnavailable) -> None:
    pass


def status_of(error: DomainError) -> tuple[int, dict[str, str]]:
    for kind in type(error).__mro__:
        if kind in _STATUS:
            return _STATUS[kind]
    return 400, {}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request's session cookie authenticates nobody, and the HTTP answer that says so
    (SessionGate makes it; each path turns it into its own kind of response).

    - `error` is NotAuthenticated (no cookie, or one naming no valid session), SessionExpired or
      StoreUnavailable; status and headers come from the table above.
    - A 401 to a presented cookie expires it (`Set-Cookie` with `Max-Age=0`); a 401 to a request
      without one has nothing to expire; a 503 leaves the cookie alone: the session may be fine.
    """

    error: DomainError
    presented: bool  # the request carried the session cookie (perhaps empty or garbage)
    status: int
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, error: DomainError, expiring: tuple[str, str] | None) -> Refusal:
        status, extra = status_of(error)
        headers = tuple(
            (name.lower(), value) for name, value in extra.items()
        )  # ASGI wants lower case
        if status == 401 and expiring is not None:
            headers += (expiring,)
        return cls(error=error, presented=expiring is not None, status=status, headers=headers)

    @property
    def detail(self) -> str:
        return str(self.error)

    def body(self) -> bytes:
        """`{"detail": ...}` exactly as JSONResponse renders it."""
        return json.dumps(
            {"detail": self.detail}, ensure_ascii=False, separators=(",", ":")
        ).encode()


class SessionRefused(Exception):
    """Raised by the JSON API's session dependency; answered by the handler below."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal


def validation_issues(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's 422 body echoes `input` (a password, say); keep only loc, msg and type."""
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]


async def _domain_error(request: Request, error: DomainError) -> JSONResponse:
    if isinstance(error, PolicyViolation):
        issue = {"loc": ["body", error.field], "msg": error.message, "type": error.code}
        return JSONResponse({"detail": [issue]}, status_code=422)
    status, headers = status_of(error)
    if isinstance(error, Throttled):
        status, headers = 429, {"Retry-After": str(error.retry_after)}
    response = JSONResponse({"detail": str(error)}, status_code=status, headers=headers)
    if isinstance(error, NotAuthenticated):
        # The session ended while the request was served (a password change racing a logout).
        cookie = request.app.state.session_cookie
        if cookie.token(request.scope) is not None:  # a cookie naming no valid session: expire it
            cookie.expire(response)
    if isinstance(error, StoreUnavailable):
        request.app.state.count_unavailable(error)
    return response


async def _session_refused(request: Request, error: SessionRefused) -> JSONResponse:
    refusal = error.refusal
    return JSONResponse(
        {"detail": refusal.detail}, status_code=refusal.status, headers=dict(refusal.headers)
    )


async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    return JSONResponse({"detail": validation_issues(error.errors())}, status_code=422)


async def _malformed_request(request: Request, error: MalformedRequest) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=400)


async def _http_error(request: Request, error: HTTPException) -> Response:
    # FastAPI answers any failure to parse a JSON body with one vague 400; say why when the body
    # was nested deeper than json's recursion limit.
    if isinstance(error.__cause__, RecursionError):
        error = HTTPException(400, TOO_DEEP)
    return await http_exception_handler(request, error)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # Last resort: no stack trace or exception text reaches the client.
    # The route's template, not the path: a path may carry an id or a token (request_id, which
    # the logging filter adds, leads to the request's access line).
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.error("unhandled error", exc_info=error, extra={"route": route})
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    # Starlette types every handler as taking Exception; each of these takes the class it is
    # registered for, which is what Starlette passes it.
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(SessionRefused, _session_refused)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(MalformedRequest, _malformed_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
