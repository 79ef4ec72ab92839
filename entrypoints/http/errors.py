"""Every error's HTTP answer, in one place."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.errors import (
    DomainError,
    HashingOverloaded,
    InvalidCredentials,
    NotAuthenticated,
    PolicyViolation,
    SessionNotFound,
    StoreUnavailable,
    Throttled,
    UnknownUser,
    UsernameTaken,
    WrongPassword,
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
}


def _status_of(error: DomainError) -> tuple[int, dict[str, str]]:
    for kind in type(error).__mro__:
        if kind in _STATUS:
            return _STATUS[kind]
    return 400, {}


def validation_issues(errors: list[dict]) -> list[dict]:
    """FastAPI's 422 body echoes `input` (a password, say); keep only loc, msg and type."""
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]


async def _domain_error(request: Request, error: DomainError) -> JSONResponse:
    if isinstance(error, PolicyViolation):
        issue = {"loc": ["body", error.field], "msg": error.message, "type": error.code}
        return JSONResponse({"detail": [issue]}, status_code=422)
    status, headers = _status_of(error)
    if isinstance(error, Throttled):
        status, headers = 429, {"Retry-After": str(error.retry_after)}
    response = JSONResponse({"detail": str(error)}, status_code=status, headers=headers)
    if isinstance(error, NotAuthenticated):
        cookie = request.app.state.session_cookie
        if cookie.name in request.cookies:  # a cookie naming no valid session: expire it
            cookie.expire(response)
    if isinstance(error, StoreUnavailable):
        log.warning("store unavailable", extra={"path": request.url.path})
    return response


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
    log.error("unhandled error", exc_info=error, extra={"path": request.url.path})
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(MalformedRequest, _malformed_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
