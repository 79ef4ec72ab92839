"""The second factors' pages: the second login step, and the Security page (an authenticator
app with its QR code, recovery codes, passkeys and security keys).

- A secret or a code is never in a URL: the TOTP secret and fresh recovery codes are shown in
  the answer to the POST that made them (200, `Cache-Control: no-store` as every answer), once.
- Every change takes a re-auth form: the current password and, when the account has a second
  factor, a code, a recovery code or a WebAuthn assertion (the script puts it in a hidden field).
- A factor change rotates the caller's session token: the answer sets the new cookie.
- WebAuthn ceremonies need script (webauthn.js): it asks the JSON API for options, runs the
  browser's ceremony and posts the result in a form, so that the change itself is a form POST
  under the same cross-site defence as every page.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Request, Response

from application import Authenticated
from domain.errors import DomainError, MfaPending, NotAuthenticated, StoreUnavailable
from domain.factors import CREDENTIAL_NAME_MAX, Factor, FactorProof, Reauth
from entrypoints.http.cookies import SessionCookie, set_login_cookies
from entrypoints.http.dependencies import ClientDep
from entrypoints.http.routes import set_rotated_cookie
from entrypoints.http.ui.answers import (
    FACTOR_ERRORS,
    FORM_ERRORS,
    authenticate,
    form_again,
    logged_out,
    redirect,
    refusal,
)
from entrypoints.http.ui.forms import MalformedForm, read_form
from entrypoints.http.ui.pages import notice_text, render, ui_base

SECOND_STEP_TITLE = "Second step"
SECURITY_TITLE = "Security"
MAX_ASSERTION = 16_384  # characters of a WebAuthn credential as JSON; real ones are under 2 KiB


def _use_case(request: Request, name: str) -> Any:
    """A use-case of the container; None when its feature is off (WebAuthn)."""
    return getattr(request.app.state.container, name)()


def mfa_redirect(request: Request, pending: MfaPending) -> Response:
    """The answer to a right password for an account with a second factor: the pending login's
    cookie, set as the JSON /login sets it, and 303 to the second step's page."""
    methods = ",".join(pending.methods)
    response = redirect(request, "/login/mfa?" + urlencode({"methods": methods}))
    cookie: SessionCookie = request.app.state.session_cookie
    cookie.set_pending(response, pending.token, max_age=pending.max_age)
    return response


def add_factor_pages(router: APIRouter, *, webauthn: bool) -> None:
    _add_second_step(router, webauthn=webauthn)
    _add_security(router, webauthn=webauthn)
    if webauthn:
        _add_credentials(router)


def _methods(given: str) -> list[str]:
    """The second steps a page offers, from the redirect's query: known names only."""
    known = {factor.value for factor in Factor}
    return [name for name in given.split(",") if name in known]


def _add_second_step(router: APIRouter, *, webauthn: bool) -> None:
    def page(request: Request, methods: list[str], **context: Any) -> Response:
        return render(
            "mfa.html",
            ui_base(request.scope),
            context.pop("status", 200),
            context.pop("headers", None),
            title=SECOND_STEP_TITLE,
            methods=methods,
            webauthn=webauthn and Factor.WEBAUTHN.value in methods,
            script=webauthn,
            **context,
        )

    @router.get("/login/mfa")
    async def second_step_form(request: Request, methods: str = "") -> Response:
        cookie: SessionCookie = request.app.state.session_cookie
        if cookie.pending(request.scope) is None:
            return redirect(request, "/login")
        return page(request, _methods(methods) or [Factor.TOTP.value])

    @router.post("/login/mfa")
    async def second_step(request: Request, client: ClientDep) -> Response:
        cookie: SessionCookie = request.app.state.session_cookie
        form = await read_form(request)
        pending = cookie.pending(request.scope)
        if pending is None:
            return redirect(request, "/login?notice=mfa-expired")
        methods = _methods(form.get("methods", ""))
        proof = _proof(form)
        try:
            result = await _use_case(request, "login_mfa").execute(
                pending_token=pending,
                proof=proof,
                client=client,
                presented_token=cookie.token(request.scope),
            )
        except NotAuthenticated:  # the pending login ended: expired, used, or too many failures
            response = redirect(request, "/login?notice=mfa-expired")
            cookie.expire_pending(response)
            return response
        except (*FORM_ERRORS, *FACTOR_ERRORS) as error:
            return _again(request, error, lambda **c: page(request, methods or ["totp"], **c))
        response = redirect(request, "/")
        cookie.expire_pending(response)
        set_login_cookies(request, response, result)
        return response


async def _overview_page(
    request: Request, current: Authenticated, *, webauthn: bool, **context: Any
) -> Response:
    """The Security page, with `context` (an error, a notice) and the status it gives."""
    overview = await _use_case(request, "show_factors").execute(user=current.user)
    return render(
        "security.html",
        ui_base(request.scope),
        context.pop("status", 200),
        context.pop("headers", None),
        title=SECURITY_TITLE,
        user=current.user,
        overview=overview,
        has_factor=overview.totp or bool(overview.webauthn),
        webauthn=webauthn,
        script=webauthn,
        name_max=CREDENTIAL_NAME_MAX,
        **context,
    )


def _add_security(router: APIRouter, *, webauthn: bool) -> None:
    async def overview_page(request: Request, current: Authenticated, **context: Any) -> Response:
        return await _overview_page(request, current, webauthn=webauthn, **context)

    @router.get("/security")
    async def security(request: Request, notice: str | None = None) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        return await overview_page(request, current, notice=notice_text(notice))

    @router.post("/security/totp")
    async def start_totp(request: Request, client: ClientDep) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        form = await read_form(request)
        reauth = _reauth(form)
        try:
            setup = await _use_case(request, "start_totp").execute(
                current=current, reauth=reauth, client=client
            )
        except NotAuthenticated:
            return logged_out(request, "ended")
        except (*FORM_ERRORS, *FACTOR_ERRORS) as error:
            return await _again_async(request, error, current, overview_page)
        return render(
            "totp_setup.html",
            ui_base(request.scope),
            title="Set up an authenticator app",
            user=current.user,
            secret=setup.secret,
            qr_code=qr_svg(setup.otpauth_uri),
        )

    @router.post("/security/totp/confirm")
    async def confirm_totp(request: Request, client: ClientDep) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        form = await read_form(request)
        try:
            rotated = await _use_case(request, "confirm_totp").execute(
                current=current, code=form.get("code", ""), client=client
            )
        except NotAuthenticated:
            return logged_out(request, "ended")
        except (*FORM_ERRORS, *FACTOR_ERRORS) as error:
            return form_again(
                request,
                "totp_confirm.html",
                "Set up an authenticator app",
                error,
                user=current.user,
            )
        return _rotated(request, current, rotated.token, rotated.recovery_codes, "totp-on")

    @router.post("/security/totp/remove")
    async def remove_totp(request: Request, client: ClientDep) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        form = await read_form(request)
        reauth = _reauth(form)
        try:
            rotated = await _use_case(request, "remove_totp").execute(
                current=current, reauth=reauth, client=client
            )
        except NotAuthenticated:
            return logged_out(request, "ended")
        except (*FORM_ERRORS, *FACTOR_ERRORS) as error:
            return await _again_async(request, error, current, overview_page)
        return _rotated(request, current, rotated.token, [], "totp-off")

    @router.post("/security/recovery-codes")
    async def renew_recovery_codes(request: Request, client: ClientDep) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        form = await read_form(request)
        reauth = _reauth(form)
        try:
            rotated = await _use_case(request, "renew_recovery_codes").execute(
                current=current, reauth=reauth, client=client
            )
        except NotAuthenticated:
            return logged_out(request, "ended")
        except (*FORM_ERRORS, *FACTOR_ERRORS) as error:
            return await _again_async(request, error, current, overview_page)
        return _rotated(request, current, rotated.token, rotated.recovery_codes, "")


def _add_credentials(router: APIRouter) -> None:
    async def overview_page(request: Request, current: Authenticated, **context: Any) -> Response:
        return await _overview_page(request, current, webauthn=True, **context)

    @router.post("/security/passkeys")
    async def register_credential(request: Request, client: ClientDep) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        form = await read_form(request)
        credential = _json_field(form, "credential")
        if credential is None:
            raise MalformedForm(400, "Malformed form")
        name = form.get("name", "").strip()[:CREDENTIAL_NAME_MAX] or "Passkey"
        try:
            registered = await _use_case(request, "register_credential").execute(
                current=current, credential=credential, name=name, client=client
            )
        except NotAuthenticated:
            return logged_out(request, "ended")
        except (*FORM_ERRORS, *FACTOR_ERRORS) as error:
            return await _again_async(request, error, current, overview_page)
        return _rotated(
            request, current, registered.token, registered.recovery_codes, "passkey-added"
        )

    @router.post("/security/passkeys/{credential_id}/remove")
    async def remove_credential(
        request: Request, credential_id: str, client: ClientDep
    ) -> Response:
        current = await authenticate(request)
        if isinstance(current, Response):
            return current
        form = await read_form(request)
        reauth = _reauth(form)
        try:
            rotated = await _use_case(request, "remove_credential").execute(
                current=current, credential_id=credential_id, reauth=reauth, client=client
            )
        except NotAuthenticated:
            return logged_out(request, "ended")
        except (*FORM_ERRORS, *FACTOR_ERRORS) as error:
            return await _again_async(request, error, current, overview_page)
        return _rotated(request, current, rotated.token, [], "passkey-removed")


def qr_svg(uri: str) -> str:
    """The otpauth URI as a QR code in inline SVG (no image request, no data: URL); dark on a
    light square whatever the page's colour scheme, as scanners need."""
    return segno.make(uri, error="m").svg_inline(
        scale=4, dark="#000", light="#fff", title="QR code of the authenticator app's key"
    )


def _rotated(
    request: Request, current: Authenticated, token: str, codes: list[str], notice: str
) -> Response:
    """After a factor change: the new session cookie, and the fresh recovery codes shown once
    (when there are any), else 303 to the Security page."""
    if codes:
        response: Response = render(
            "recovery_codes.html",
            ui_base(request.scope),
            title="Your recovery codes",
            codes=codes,
            notice=notice_text(notice),
        )
    else:
        response = redirect(request, "/security" + (f"?notice={notice}" if notice else ""))
    set_rotated_cookie(request, response, current, token)
    return response


def _proof(form: dict[str, str]) -> FactorProof:
    """The one second factor a form gives; the first of an assertion, a code and a recovery code
    (a form posts only one; the script disables the others when it fills the assertion)."""
    assertion = _json_field(form, "webauthn")
    if assertion is not None:
        return FactorProof(webauthn=assertion)
    if code := form.get("code", "").strip():
        return FactorProof(code=code)
    if recovery_code := form.get("recovery_code", "").strip():
        return FactorProof(recovery_code=recovery_code)
    return FactorProof()


def _reauth(form: dict[str, str]) -> Reauth:
    return Reauth(current_password=form.get("current_password", ""), proof=_proof(form))


def _json_field(form: dict[str, str], name: str) -> dict[str, object] | None:
    """A WebAuthn credential the script put in a hidden field as JSON; None when empty, 400 when
    it is not a JSON object."""
    text = form.get(name, "")
    if not text:
        return None
    if len(text) > MAX_ASSERTION:
        raise MalformedForm(400, "Malformed form")
    try:
        value = json.loads(text)
    except ValueError:
        raise MalformedForm(400, "Malformed form") from None
    if not isinstance(value, dict):
        raise MalformedForm(400, "Malformed form")
    return value


def _refused(request: Request, error: DomainError) -> dict[str, Any]:
    """The page's context for an error its form met: status, headers, message, field."""
    if isinstance(error, StoreUnavailable):
        request.app.state.count_unavailable(error)
    status, message, field, headers = refusal(error)
    return {"status": status, "headers": headers, "error": message, "field": field}


def _again(request: Request, error: DomainError, page: Any) -> Response:
    return page(**_refused(request, error))


async def _again_async(
    request: Request, error: DomainError, current: Authenticated, overview_page: Any
) -> Response:
    return await overview_page(request, current, **_refused(request, error))
