"""The browser pages: server-rendered forms over the same use-cases as the JSON API.

- Post/Redirect/Get: every successful POST answers 303 to a page.
- No page ever answers 401. A 401 must carry a challenge, and the one browsers act on is Basic's
  login dialog; a page that needs a session redirects (303) to the login form instead, with a
  notice when a session it was given has expired or ended, and a failed login is a 422 form.
- Credentials arrive as form fields, never as Basic credentials.
- A form that fails is shown again with the error beside its field, the username kept and the
  password never sent back.
"""

from __future__ import annotations

from importlib import resources
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from starlette.responses import RedirectResponse

from application import Authenticated
from domain.errors import (
    DomainError,
    HashingOverloaded,
    InvalidCredentials,
    PolicyViolation,
    SessionExpired,
    SessionNotFound,
    StoreUnavailable,
    Throttled,
    UsernameTaken,
)
from entrypoints.http.cookies import SessionCookie, set_login_cookies
from entrypoints.http.dependencies import (
    ClientDep,
    ListSessionsDep,
    LoginDep,
    LogoutDep,
    RevokeOtherSessionsDep,
    RevokeSessionDep,
    SignUpDep,
)
from entrypoints.http.errors import (
    HASHING_RETRY_AFTER,
    STORE_RETRY_AFTER,
    Refusal,
    SessionRefused,
)
from entrypoints.http.ui.forms import read_form
from entrypoints.http.ui.pages import error_page, notice_text, render, ui_base, wait_text

_FORM_ERRORS = (
    PolicyViolation,
    UsernameTaken,
    InvalidCredentials,
    Throttled,
    HashingOverloaded,
    StoreUnavailable,
)
_STYLESHEET = resources.files("entrypoints.http.ui").joinpath("static/ui.css").read_bytes()


def build_ui_router() -> APIRouter:
    # Kept out of the OpenAPI document, which describes the JSON API only.
    router = APIRouter(prefix="/ui", include_in_schema=False)

    @router.get("/")
    async def home(
        request: Request, listing: ListSessionsDep, notice: str | None = None
    ) -> Response:
        current = await _authenticate(request)
        if isinstance(current, Response):
            return current
        sessions = await listing.execute(current=current)
        return render(
            "home.html",
            ui_base(request.scope),
            title="Your account",
            user=current.user,
            sessions=sessions,
            others=sum(not s.current for s in sessions),
            notice=notice_text(notice),
        )

    @router.get("/signup")
    async def signup_form(request: Request) -> Response:
        return render("signup.html", ui_base(request.scope), title="Sign up")

    @router.post("/signup")
    async def signup(request: Request, sign_up: SignUpDep, client: ClientDep) -> Response:
        form = await read_form(request)
        username = form.get("username", "")
        try:
            user = await sign_up.execute(
                username=username, password=form.get("password", ""), client=client
            )
        except _FORM_ERRORS as error:
            return _form_again(request, "signup.html", "Sign up", error, username)
        query = urlencode({"notice": "signed-up", "username": user.username.display})
        return _redirect(request, f"/login?{query}")

    @router.get("/login")
    async def login_form(
        request: Request, notice: str | None = None, username: str = ""
    ) -> Response:
        return render(
            "login.html",
            ui_base(request.scope),
            title="Log in",
            notice=notice_text(notice),
            username=username[:64],
        )

    @router.post("/login")
    async def login(request: Request, login: LoginDep, client: ClientDep) -> Response:
        form = await read_form(request)
        username = form.get("username", "")
        cookie: SessionCookie = request.app.state.session_cookie
        try:
            result = await login.execute(
                username=username,
                password=form.get("password", ""),
                presented_token=cookie.token(request.scope),
                client=client,
            )
        except _FORM_ERRORS as error:
            return _form_again(request, "login.html", "Log in", error, username)
        response = _redirect(request, "/")
        set_login_cookies(request, response, result)
        return response

    @router.post("/logout")
    async def logout(request: Request, logout: LogoutDep, client: ClientDep) -> Response:
        current = await _authenticate(request)
        if isinstance(current, Response):
            return current
        await logout.execute(current=current, client=client)
        return _logged_out(request)

    @router.post("/sessions/others/revoke")
    async def revoke_others(
        request: Request, revoke: RevokeOtherSessionsDep, client: ClientDep
    ) -> Response:
        current = await _authenticate(request)
        if isinstance(current, Response):
            return current
        await revoke.execute(current=current, client=client)
        return _redirect(request, "/?notice=others-revoked")

    @router.post("/sessions/{session_id}/revoke")
    async def revoke(
        request: Request, session_id: str, revoke: RevokeSessionDep, client: ClientDep
    ) -> Response:
        current = await _authenticate(request)
        if isinstance(current, Response):
            return current
        try:
            was_current = await revoke.execute(
                current=current, session_id=session_id, client=client
            )
        except SessionNotFound:
            return error_page(
                404,
                ui_base(request.scope),
                "That session is not active any more. Nothing was changed.",
            )
        if was_current:
            return _logged_out(request)
        return _redirect(request, "/?notice=revoked")

    @router.get("/static/ui.css")
    async def stylesheet() -> Response:
        return Response(_STYLESHEET, media_type="text/css")

    return router


async def _authenticate(request: Request) -> Authenticated | Response:
    """The session the cookie names (SessionGate's rule, as every path), or a redirect to the
    login form that also expires a cookie naming no valid session. A store that cannot be
    reached propagates as the refusal it is (503; the gate has counted it)."""
    outcome = await request.app.state.session_gate.check(request.scope)
    if not isinstance(outcome, Refusal):
        return outcome
    if isinstance(outcome.error, StoreUnavailable):
        raise SessionRefused(outcome)
    if not outcome.presented:
        return _redirect(request, "/login")
    response = _redirect(
        request,
        "/login?notice=expired"
        if isinstance(outcome.error, SessionExpired)
        else "/login?notice=ended",
    )
    for name, value in outcome.headers:
        response.headers.append(name, value)
    return response


def _redirect(request: Request, to: str) -> RedirectResponse:
    """303 to a page, under wherever the app is mounted (`to` is "/", "/login", ...)."""
    return RedirectResponse(ui_base(request.scope) + to, 303)


def _logged_out(request: Request) -> Response:
    response = _redirect(request, "/login?notice=logged-out")
    request.app.state.session_cookie.expire(response)
    return response


def _form_again(
    request: Request, template: str, title: str, error: DomainError, username: str
) -> Response:
    """The form once more, with what went wrong; the status says it too."""
    headers: dict[str, str] = {}
    field = None
    if isinstance(error, PolicyViolation):
        status, message, field = 422, error.message, error.field
    elif isinstance(error, UsernameTaken):
        status, message, field = 409, "That username is taken. Choose another one.", "username"
    elif isinstance(error, InvalidCredentials):
        # One message for an unknown user, a wrong password and unusable input, as /login.
        status, message = 422, "Wrong username or password."
    elif isinstance(error, Throttled):
        status, message = 429, f"Too many attempts. Try again in {wait_text(error.retry_after)}."
        headers["Retry-After"] = str(error.retry_after)
    elif isinstance(error, HashingOverloaded):
        status, message = 503, "The service is busy. Try again in a moment."
        headers["Retry-After"] = HASHING_RETRY_AFTER
    else:
        request.app.state.count_unavailable(error)
        status, message = 503, "The service is unavailable right now. Try again in a few seconds."
        headers["Retry-After"] = STORE_RETRY_AFTER
    base = ui_base(request.scope)
    return render(
        template,
        base,
        status,
        headers,
        title=title,
        error=message,
        field=field,
        username=username[:256],
    )
