"""What the page routes answer besides a page: the session check, redirects, and a form shown
again with what went wrong."""

from __future__ import annotations

from fastapi import Request, Response
from starlette.responses import RedirectResponse

from application import Authenticated
from domain.errors import (
    CeremonyFailed,
    DomainError,
    EmailTaken,
    FactorAlreadyActive,
    FactorNotFound,
    HashingOverloaded,
    InvalidCode,
    InvalidCredentials,
    NoFactorSetup,
    NoSecondFactor,
    PolicyViolation,
    SecondFactorRequired,
    SessionExpired,
    StoreUnavailable,
    Throttled,
    UsernameTaken,
    WrongPassword,
    WrongSecondFactor,
    WrongSetupCode,
)
from entrypoints.http.errors import (
    HASHING_RETRY_AFTER,
    STORE_RETRY_AFTER,
    Refusal,
    SessionRefused,
)
from entrypoints.http.ui.pages import error_page, render, ui_base, wait_text

# The errors a form shows beside its fields rather than on an error page of their own.
FORM_ERRORS = (
    PolicyViolation,
    UsernameTaken,
    InvalidCredentials,
    WrongPassword,
    EmailTaken,
    Throttled,
    HashingOverloaded,
    StoreUnavailable,
)
# The second factors' errors, shown beside a form as well (factor_pages.py).
FACTOR_ERRORS = (
    InvalidCode,
    SecondFactorRequired,
    WrongSecondFactor,
    WrongSetupCode,
    FactorAlreadyActive,
    NoFactorSetup,
    FactorNotFound,
    NoSecondFactor,
    CeremonyFailed,
)
_FACTOR_REFUSALS: dict[type[DomainError], tuple[int, str, str | None]] = {
    InvalidCode: (422, "That code is wrong or was used already.", "code"),
    SecondFactorRequired: (
        403,
        "Your account has a second factor: enter a code from your authenticator app or a "
        "recovery code, or use your security key.",
        "code",
    ),
    WrongSecondFactor: (403, "That second factor is wrong.", "code"),
    WrongSetupCode: (422, "That code is wrong. Enter the code your app shows now.", "code"),
    FactorAlreadyActive: (409, "An authenticator app is set up already.", None),
    NoFactorSetup: (400, "No set-up is waiting for a code. Start the set-up again.", None),
    FactorNotFound: (404, "That second factor is not active any more. Nothing was changed.", None),
    NoSecondFactor: (409, "Recovery codes need a second factor first.", None),
    # The library's reason is for the audit log only.
    CeremonyFailed: (400, "The security key could not be registered. Try again.", None),
}


async def authenticate(request: Request) -> Authenticated | Response:
    """The session the cookie names (SessionGate's rule, as every path), or a redirect to the
    login form that also expires a cookie naming no valid session. A store that cannot be
    reached propagates as the refusal it is (503; the gate has counted it)."""
    outcome = await request.app.state.session_gate.check(request.scope)
    if not isinstance(outcome, Refusal):
        return outcome
    if isinstance(outcome.error, StoreUnavailable):
        raise SessionRefused(outcome)
    if not outcome.presented:
        return redirect(request, "/login")
    response = redirect(
        request,
        "/login?notice=expired"
        if isinstance(outcome.error, SessionExpired)
        else "/login?notice=ended",
    )
    for name, value in outcome.headers:
        response.headers.append(name, value)
    return response


def redirect(request: Request, to: str) -> RedirectResponse:
    """303 to a page, under wherever the app is mounted (`to` is "/", "/login", ...)."""
    return RedirectResponse(ui_base(request.scope) + to, 303)


def logged_out(request: Request, notice: str = "logged-out") -> Response:
    response = redirect(request, f"/login?notice={notice}")
    request.app.state.session_cookie.expire(response)
    return response


def refusal(error: DomainError) -> tuple[int, str, str | None, dict[str, str]]:
    """(status, message, the field it is about, headers) for an error a form or a button met."""
    headers: dict[str, str] = {}
    field = None
    if type(error) in _FACTOR_REFUSALS:  # before PolicyViolation: WrongSetupCode is one
        status, message, field = _FACTOR_REFUSALS[type(error)]
    elif isinstance(error, PolicyViolation):
        status, message, field = 422, error.message, error.field
    elif isinstance(error, UsernameTaken):
        status, message, field = 409, "That username is taken. Choose another one.", "username"
    elif isinstance(error, InvalidCredentials):
        # One message for an unknown user, a wrong password and unusable input, as /login.
        status, message = 422, "Wrong username or password."
    elif isinstance(error, WrongPassword):
        status, message, field = 403, "That is not your current password.", "current_password"
    elif isinstance(error, EmailTaken):
        status, message = 409, "Another account has already verified this email address."
    elif isinstance(error, Throttled):
        status, message = 429, f"Too many attempts. Try again in {wait_text(error.retry_after)}."
        headers["Retry-After"] = str(error.retry_after)
    elif isinstance(error, HashingOverloaded):
        status, message = 503, "The service is busy. Try again in a moment."
        headers["Retry-After"] = HASHING_RETRY_AFTER
    else:
        status, message = 503, "The service is unavailable right now. Try again in a few seconds."
        headers["Retry-After"] = STORE_RETRY_AFTER
    return status, message, field, headers


def form_again(
    request: Request,
    template: str,
    title: str,
    error: DomainError,
    username: str = "",
    **context: object,
) -> Response:
    """The form once more, with what went wrong; the status says it too. What the user typed is
    kept (`username`, `context`), a password never."""
    if isinstance(error, StoreUnavailable):
        request.app.state.count_unavailable(error)
    status, message, field, headers = refusal(error)
    return render(
        template,
        ui_base(request.scope),
        status,
        headers,
        title=title,
        error=message,
        field=field,
        username=username[:256],
        **context,
    )


def refused_page(request: Request, error: DomainError) -> Response:
    """An error page for a button (no form to show again) that met `error`."""
    if isinstance(error, StoreUnavailable):
        request.app.state.count_unavailable(error)
    status, message, _, headers = refusal(error)
    response = error_page(status, ui_base(request.scope), message)
    response.headers.update(headers)
    return response
