"""Second factors: the second login step, TOTP and recovery codes (WebAuthn's own routes live
beside these). Every factor change rotates the caller's session: the answer sets the new cookie."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from application import Authenticated
from domain.errors import NotAuthenticated
from entrypoints.http.dependencies import (
    ClientDep,
    ConfirmTotpDep,
    LoginMfaDep,
    RemoveTotpDep,
    RenewRecoveryCodesDep,
    SessionCookieDep,
    ShowFactorsDep,
    StartTotpDep,
    current_session_dependency,
)
from entrypoints.http.routes import (
    _INVALID,
    _THROTTLED,
    _UNAUTHENTICATED,
    Responses,
    _responses,
    login_answer,
    set_rotated_cookie,
)
from entrypoints.http.schemas import (
    ErrorOut,
    FactorsOut,
    LoginOut,
    MfaIn,
    ReauthIn,
    RecoveryCodesOut,
    TotpCodeIn,
    TotpSetupOut,
    ValidationErrorOut,
)

REAUTH_FAILURES: Responses = {
    403: {
        "model": ErrorOut,
        "description": "Wrong current password or second factor (counted by the login "
        "throttle), second factor required, or a cross-site request",
    }
}


def build_mfa_router(cookie_name: str) -> APIRouter:
    router = APIRouter(tags=["second factors"])
    CurrentSession = Annotated[Authenticated, Depends(current_session_dependency(cookie_name))]

    @router.post(
        "/login/mfa",
        response_model=LoginOut,
        responses=_responses(
            {
                401: {
                    "model": ErrorOut,
                    "description": "Invalid code (wrong, replayed or malformed; counted as a "
                    "failed login), or Not authenticated: no live pending login",
                }
            },
            _INVALID,
            _THROTTLED,
        ),
    )
    async def login_mfa(
        body: MfaIn,
        request: Request,
        login_mfa: LoginMfaDep,
        cookie: SessionCookieDep,
        client: ClientDep,
    ) -> Any:
        pending = cookie.pending(request.scope)
        try:
            if pending is None:
                raise NotAuthenticated()
            result = await login_mfa.execute(
                pending_token=pending,
                proof=body.proof(),
                client=client,
                presented_token=cookie.token(request.scope),
            )
        except NotAuthenticated as error:
            # The pending login is gone (or never was): its cookie names nothing any more. The
            # session cookie, if any, is not this request's business.
            response = JSONResponse({"detail": str(error)}, 401)
            if pending is not None:
                cookie.expire_pending(response)
            return response
        response = login_answer(request, result)
        cookie.expire_pending(response)
        return response

    @router.get("/mfa", response_model=FactorsOut, responses=_responses(_UNAUTHENTICATED))
    async def show_factors(current: CurrentSession, show: ShowFactorsDep) -> FactorsOut:
        return FactorsOut.of(await show.execute(user=current.user))

    @router.post(
        "/mfa/totp",
        response_model=TotpSetupOut,
        responses=_responses(
            _UNAUTHENTICATED,
            REAUTH_FAILURES,
            {409: {"model": ErrorOut, "description": "TOTP is already active"}},
            _INVALID,
            _THROTTLED,
        ),
    )
    async def start_totp(
        body: ReauthIn, current: CurrentSession, start: StartTotpDep, client: ClientDep
    ) -> TotpSetupOut:
        setup = await start.execute(current=current, reauth=body.reauth(), client=client)
        return TotpSetupOut(secret=setup.secret, otpauth_uri=setup.otpauth_uri)

    @router.post(
        "/mfa/totp/confirm",
        response_model=RecoveryCodesOut,
        responses=_responses(
            _UNAUTHENTICATED,
            {400: {"model": ErrorOut, "description": "No TOTP set-up pending"}},
            {
                422: {
                    "model": ValidationErrorOut,
                    "description": "Invalid input, or a wrong code (`wrong_code` on `code`; "
                    "the set-up stays pending)",
                }
            },
        ),
    )
    async def confirm_totp(
        body: TotpCodeIn,
        request: Request,
        current: CurrentSession,
        confirm: ConfirmTotpDep,
        client: ClientDep,
    ) -> Any:
        rotated = await confirm.execute(current=current, code=body.code, client=client)
        answer = RecoveryCodesOut(recovery_codes=rotated.recovery_codes)
        response = JSONResponse(answer.model_dump(mode="json"))
        set_rotated_cookie(request, response, current, rotated.token)
        return response

    @router.delete(
        "/mfa/totp",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        responses=_responses(
            {204: {"description": "TOTP removed; other sessions ended; the cookie rotated"}},
            _UNAUTHENTICATED,
            REAUTH_FAILURES,
            {404: {"model": ErrorOut, "description": "No TOTP active"}},
            _INVALID,
            _THROTTLED,
        ),
    )
    async def remove_totp(
        body: ReauthIn,
        request: Request,
        current: CurrentSession,
        remove: RemoveTotpDep,
        client: ClientDep,
    ) -> Response:
        rotated = await remove.execute(current=current, reauth=body.reauth(), client=client)
        response = Response(status_code=status.HTTP_204_NO_CONTENT)
        set_rotated_cookie(request, response, current, rotated.token)
        return response

    @router.post(
        "/mfa/recovery-codes",
        response_model=RecoveryCodesOut,
        responses=_responses(
            _UNAUTHENTICATED,
            REAUTH_FAILURES,
            {409: {"model": ErrorOut, "description": "No second factor enrolled"}},
            _INVALID,
            _THROTTLED,
        ),
    )
    async def renew_recovery_codes(
        body: ReauthIn,
        request: Request,
        current: CurrentSession,
        renew: RenewRecoveryCodesDep,
        client: ClientDep,
    ) -> Any:
        rotated = await renew.execute(current=current, reauth=body.reauth(), client=client)
        answer = RecoveryCodesOut(recovery_codes=rotated.recovery_codes)
        response = JSONResponse(answer.model_dump(mode="json"))
        set_rotated_cookie(request, response, current, rotated.token)
        return response

    return router
