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

from domain.errors import MfaPending, SessionNotFound
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
from entrypoints.http.ui.account_pages import add_account_pages
from entrypoints.http.ui.answers import (
    FORM_ERRORS,
    authenticate,
    form_again,
    logged_out,
    redirect,
)
from entrypoints.http.ui.factor_pages import add_factor_pages, mfa_redirect
from entrypoints.http.ui.forms import read_form
from entrypoints.http.ui.pages import error_page, notice_text, render, ui_base

_STATIC = resources.files("entrypoints.http.ui").joinpath("static")
_STYLESHEET = _STATIC.joinpath("ui.css").read_bytes()
_SCRIPT = _STATIC.joinpath("webauthn.js").read_bytes()


def build_ui_router(*, mail: bool = False, webauthn: bool = False) -> APIRouter:
    """The pages; with `mail` (MAIL_URL set) also those that send or take a mailed link; with
    `webauthn` (a relying party known) also passkeys and security keys."""
    # Kept out of the OpenAPI document, which describes the JSON API only.
    router = APIRouter(prefix="/ui", include_in_schema=False)

    @router.get("/")
    async def home(
        request: Request, listing: ListSessionsDep, notice: str | None = None
    ) -> Response:
        current = await authenticate(request)
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
            mail=mail,
        )

    @router.get("/signup")
    async def signup_form(request: Request) -> Response:
        return render("signup.html", ui_base(request.scope), title="Sign up", mail=mail)

    @router.post("/signup")
    async def signup(request: Request, sign_up: SignUpDep, client: ClientDep) -> Response:
        form = await read_form(request)
        username = form.get("username", "")
        # The address is optional: an empty field is none. Asked for only with mail on.
        email = form.get("email", "") if mail else ""
        try:
            user = await sign_up.execute(
                username=username,
                password=form.get("password", ""),
                email=email or None,
                client=client,
            )
        except FORM_ERRORS as error:
            return form_again(
                request, "signup.html", "Sign up", error, username, email=email[:320], mail=mail
            )
        query = urlencode({"notice": "signed-up", "username": user.username.display})
        return redirect(request, f"/login?{query}")

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
            mail=mail,
            webauthn=webauthn,
            script=webauthn,
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
        except MfaPending as pending:
            return mfa_redirect(request, pending)
        except FORM_ERRORS as error:
            return form_again(
                request,
                "login.html",
                "Log in",
                error,
                username,
                mail=mail,
                webauthn=webauthn,
                script=webauthn,
            )
        response = redirect(request, "/")
        set_login_cookies(request, response, result)
        return response

    @router.post("/logout")
    async def logout(request: Request, logout: LogoutDep, client: ClientDep) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        await logout.execute(current=current, client=client)
        return logged_out(request)

    @router.post("/sessions/others/revoke")
    async def revoke_others(
        request: Request, revoke: RevokeOtherSessionsDep, client: ClientDep
    ) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        await revoke.execute(current=current, client=client)
        return redirect(request, "/?notice=others-revoked")

    @router.post("/sessions/{session_id}/revoke")
    async def revoke(
        request: Request, session_id: str, revoke: RevokeSessionDep, client: ClientDep
    ) -> Response:
        current = await authenticate(request)
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
            return logged_out(request)
        return redirect(request, "/?notice=revoked")

    add_account_pages(router, mail=mail)
    add_factor_pages(router, webauthn=webauthn)

    @router.get("/static/ui.css")
    async def stylesheet() -> Response:
        return Response(_STYLESHEET, media_type="text/css")

    @router.get("/static/webauthn.js")
    async def script() -> Response:
        return Response(_SCRIPT, media_type="text/javascript")

    return router
