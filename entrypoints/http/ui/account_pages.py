"""The account's pages: delete the account; with mail on, also change the email address, send a
new verification link, confirm an address, and reset a forgotten password.

The pages that a mailed link opens (`/reset-password`, `/verify-email`) take its token out of the
address bar first (link_cookies.py), and use it only when their form is posted.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.responses import RedirectResponse

from domain.errors import (
    EmailAlreadyVerified,
    EmailTaken,
    InvalidToken,
    NoEmailAddress,
    NotAuthenticated,
    StoreUnavailable,
    Throttled,
)
from domain.session import is_well_formed_token
from entrypoints.http.account_routes import FORGOT_ANSWER
from entrypoints.http.dependencies import (
    ClientDep,
    DeleteAccountDep,
    ForgotPasswordDep,
    ResendVerificationDep,
    ResetPasswordDep,
    SetEmailDep,
    VerifyEmailDep,
)
from entrypoints.http.errors import Refusal
from entrypoints.http.ui.answers import (
    FORM_ERRORS,
    authenticate,
    form_again,
    logged_out,
    redirect,
    refused_page,
)
from entrypoints.http.ui.forms import read_form
from entrypoints.http.ui.link_cookies import LinkCookie, reset_cookie, verify_cookie
from entrypoints.http.ui.pages import error_page, render, ui_base

# The answer that received a link's token in its URL tells no one where it came from. The pages
# themselves keep `same-origin` (middleware.py): under `no-referrer` Chromium posts their forms
# with `Origin: null`, which the cross-site defence refuses where Sec-Fetch-Site is not sent.
NO_REFERRER = "no-referrer"
RESET_TITLE = "Choose a new password"
EMAIL_TITLE = "Change email address"
DELETE_TITLE = "Delete your account"


def add_account_pages(router: APIRouter, *, mail: bool) -> None:
    _add_deletion(router)
    if mail:  # without mail no link can be sent or received: these pages do not exist (404)
        _add_email(router)
        _add_forgot_and_reset(router)
        _add_verification(router)


def _add_deletion(router: APIRouter) -> None:
    @router.get("/account/delete")
    async def deletion_form(request: Request) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        return render(
            "delete_account.html", ui_base(request.scope), title=DELETE_TITLE, user=current.user
        )

    @router.post("/account/delete")
    async def delete_account(
        request: Request, delete: DeleteAccountDep, client: ClientDep
    ) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        form = await read_form(request)
        try:
            await delete.execute(
                current=current, current_password=form.get("current_password", ""), client=client
            )
        except NotAuthenticated:
            return logged_out(request, "ended")  # deleted meanwhile, by a racing request
        except FORM_ERRORS as error:
            return form_again(
                request, "delete_account.html", DELETE_TITLE, error, user=current.user
            )
        return logged_out(request, "account-deleted")


def _add_email(router: APIRouter) -> None:
    @router.get("/email")
    async def email_form(request: Request) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        return render(
            "email.html", ui_base(request.scope), title=EMAIL_TITLE, user=current.user, email=""
        )

    @router.post("/email")
    async def set_email(request: Request, set_email: SetEmailDep, client: ClientDep) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        form = await read_form(request)
        email = form.get("email", "")
        try:
            user = await set_email.execute(
                current=current,
                email=email,
                current_password=form.get("current_password", ""),
                client=client,
            )
        except NotAuthenticated:
            return logged_out(request, "ended")
        except FORM_ERRORS as error:
            return form_again(
                request, "email.html", EMAIL_TITLE, error, user=current.user, email=email[:320]
            )
        return redirect(
            request, "/?notice=" + ("email-unchanged" if user.email_verified else "email-set")
        )

    @router.post("/email/resend")
    async def resend_verification(
        request: Request, resend: ResendVerificationDep, client: ClientDep
    ) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        try:
            await resend.execute(current=current, client=client)
        except NotAuthenticated:
            return logged_out(request, "ended")
        except EmailAlreadyVerified:
            return error_page(
                409, ui_base(request.scope), "Your address is verified already. Nothing was sent."
            )
        except NoEmailAddress:
            return error_page(
                409, ui_base(request.scope), "Your account has no email address to verify."
            )
        except (Throttled, StoreUnavailable) as error:
            return refused_page(request, error)
        return redirect(request, "/?notice=verification-sent")


def _add_forgot_and_reset(router: APIRouter) -> None:
    @router.get("/forgot-password")
    async def forgot_form(request: Request) -> Response:
        return render(
            "forgot_password.html", ui_base(request.scope), title="Forgot your password?", email=""
        )

    @router.post("/forgot-password")
    async def forgot_password(
        request: Request, forgot: ForgotPasswordDep, client: ClientDep
    ) -> Response:
        form = await read_form(request)
        username, email = form.get("username", ""), form.get("email", "")
        try:
            await forgot.execute(username=username, email=email, client=client)
        except FORM_ERRORS as error:
            return form_again(
                request,
                "forgot_password.html",
                "Forgot your password?",
                error,
                username,
                email=email[:320],
            )
        return redirect(request, "/forgot-password/sent")

    @router.get("/forgot-password/sent")
    async def forgot_sent(request: Request) -> Response:
        return render(
            "message.html",
            ui_base(request.scope),
            title="Check your mail",
            message=FORGOT_ANSWER + ". It works once, for a short while.",
            link=("/login", "Back to log in"),
        )

    @router.get("/reset-password")
    async def reset_form(
        request: Request, reset: ResetPasswordDep, token: str | None = None
    ) -> Response:
        cookie = reset_cookie(request)
        if token is not None:
            return _take_link(request, cookie, token)
        held = cookie.read(request.scope)
        if held is None or not await reset.usable(token=held):
            return _dead_link(request, cookie)
        return render("reset_password.html", ui_base(request.scope), title=RESET_TITLE)

    @router.post("/reset-password")
    async def reset_password(
        request: Request, reset: ResetPasswordDep, client: ClientDep
    ) -> Response:
        cookie = reset_cookie(request)
        form = await read_form(request)
        token = cookie.read(request.scope)
        if token is None:
            return _dead_link(request, cookie)
        try:
            await reset.execute(
                token=token, new_password=form.get("new_password", ""), client=client
            )
        except InvalidToken:
            return _dead_link(request, cookie)
        except FORM_ERRORS as error:  # the token was not used: the form works again
            return form_again(request, "reset_password.html", RESET_TITLE, error)
        response = redirect(request, "/login?notice=password-reset")
        cookie.expire(response, ui_base(request.scope))
        return response


def _add_verification(router: APIRouter) -> None:
    @router.get("/verify-email")
    async def verification_form(
        request: Request, verify: VerifyEmailDep, token: str | None = None
    ) -> Response:
        cookie = verify_cookie(request)
        if token is not None:
            return _take_link(request, cookie, token)
        held = cookie.read(request.scope)
        if held is None or not await verify.usable(token=held):
            return _dead_link(request, cookie)
        return render("verify_email.html", ui_base(request.scope), title="Confirm your address")

    @router.post("/verify-email")
    async def verify_email(request: Request, verify: VerifyEmailDep, client: ClientDep) -> Response:
        cookie = verify_cookie(request)
        token = cookie.read(request.scope)
        if token is None:
            return _dead_link(request, cookie)
        base = ui_base(request.scope)
        try:
            await verify.execute(token=token, client=client)
        except InvalidToken:
            return _dead_link(request, cookie)
        except (EmailTaken, StoreUnavailable) as error:
            # Taken: the link stays good (it works once the other account lets the address go),
            # and the mail still holds it; the cookie is not needed for that.
            response = refused_page(request, error)
            cookie.expire(response, base)
            return response
        # To the account page when this browser is logged in, else to the login form.
        session = await request.app.state.session_gate.check(request.scope)
        to = "/login" if isinstance(session, Refusal) else "/"
        response = redirect(request, f"{to}?notice=email-verified")
        cookie.expire(response, base)
        return response


def _take_link(request: Request, cookie: LinkCookie, token: str) -> Response:
    """The token from the link into the cookie (a malformed one is dropped), and 303 to the page
    without it."""
    base = ui_base(request.scope)
    response = RedirectResponse(base + cookie.page, 303)
    if is_well_formed_token(token):
        cookie.set(response, base, token)
    else:
        cookie.expire(response, base)
    response.headers["referrer-policy"] = NO_REFERRER
    return response


def _dead_link(request: Request, cookie: LinkCookie) -> Response:
    """The one page for a link that is unknown, used, expired or missing; the cookie goes."""
    base = ui_base(request.scope)
    if cookie.page == "/reset-password":
        text = "This password reset link is invalid or has expired. Each link works once, for a short while."
        link = ("/forgot-password", "Ask for a new link")
    else:
        text = "This verification link is invalid or has expired. Each link works once."
        link = ("/", "Log in to send a new link from your account page")
    response = render(
        "message.html", base, 400, title="Link invalid or expired", message=text, link=link
    )
    cookie.expire(response, base)
    return response
