"""Email addresses and password recovery (POST /signup takes the address itself). Included only
when mail is on: without it these routes do not exist, so they answer 404 and the OpenAPI
document leaves them out."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status

from application import Authenticated
from entrypoints.http.dependencies import (
    ClientDep,
    ForgotPasswordDep,
    ResendVerificationDep,
    ResetPasswordDep,
    SetEmailDep,
    VerifyEmailDep,
    current_session_dependency,
)
from entrypoints.http.routes import _INVALID, _THROTTLED, _UNAUTHENTICATED, _responses
from entrypoints.http.schemas import (
    AccountOut,
    EmailChange,
    ErrorOut,
    MessageOut,
    PasswordForgot,
    PasswordReset,
    TokenIn,
    UserOut,
)

_BAD_TOKEN: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": "Invalid or expired token (unknown, used, expired or malformed alike), "
        "or a malformed request",
    }
}
# One answer for every request that passed its checks: whether a link was sent is not told.
FORGOT_ANSWER = (
    "If that account exists and has a verified email address, a reset link is on its way"
)


def build_account_router(cookie_name: str) -> APIRouter:
    router = APIRouter(tags=["account"])
    CurrentSession = Annotated[Authenticated, Depends(current_session_dependency(cookie_name))]

    @router.put(
        "/email",
        response_model=AccountOut,
        responses=_responses(
            _UNAUTHENTICATED,
            {
                403: {
                    "model": ErrorOut,
                    "description": "Wrong current password or second factor (counted by the "
                    "login throttle), second factor required, or a cross-site request",
                }
            },
            _INVALID,
            _THROTTLED,
        ),
    )
    async def set_email(
        body: EmailChange, current: CurrentSession, set_email: SetEmailDep, client: ClientDep
    ) -> AccountOut:
        user = await set_email.execute(
            current=current,
            email=body.email,
            current_password=body.current_password,
            client=client,
            proof=body.proof(),
        )
        message = (
            "Email address set; follow the link mailed to it to verify it"
            if not user.email_verified
            else "Email address unchanged"
        )
        return AccountOut(message=message, user=UserOut.of(user))

    @router.post(
        "/email/verify",
        response_model=AccountOut,
        responses=_responses(
            _BAD_TOKEN,
            {409: {"model": ErrorOut, "description": "Another account has verified the address"}},
        ),
    )
    async def verify_email(body: TokenIn, verify: VerifyEmailDep, client: ClientDep) -> AccountOut:
        user = await verify.execute(token=body.token, client=client)
        return AccountOut(message="Email address verified", user=UserOut.of(user))

    @router.post(
        "/email/verify/resend",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=MessageOut,
        responses=_responses(
            _UNAUTHENTICATED,
            {
                409: {
                    "model": ErrorOut,
                    "description": "The address is verified already, or the account has none",
                }
            },
            _THROTTLED,
        ),
    )
    async def resend_verification(
        current: CurrentSession, resend: ResendVerificationDep, client: ClientDep
    ) -> MessageOut:
        await resend.execute(current=current, client=client)
        return MessageOut(message="A new verification link is on its way")

    @router.post(
        "/password/forgot",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=MessageOut,
        responses=_responses(
            _INVALID,
            {
                429: {
                    "model": ErrorOut,
                    "description": "Too many requests from this client address (Retry-After)",
                }
            },
        ),
    )
    async def forgot_password(
        body: PasswordForgot, forgot: ForgotPasswordDep, client: ClientDep
    ) -> MessageOut:
        await forgot.execute(username=body.username, email=body.email, client=client)
        return MessageOut(message=FORGOT_ANSWER)

    @router.post(
        "/password/reset",
        response_model=MessageOut,
        responses=_responses(
            _BAD_TOKEN,
            {
                403: {
                    "model": ErrorOut,
                    "description": "The account has a second factor: a TOTP code or a recovery "
                    "code is required, or the one given is wrong (the token stays usable); or "
                    "a cross-site request",
                }
            },
            _INVALID,
            _THROTTLED,
        ),
    )
    async def reset_password(
        body: PasswordReset, reset: ResetPasswordDep, client: ClientDep
    ) -> MessageOut:
        await reset.execute(
            token=body.token, new_password=body.new_password, client=client, proof=body.proof()
        )
        return MessageOut(message="Password reset; every session has ended, log in again")

    return router
