"""Thin routes: parse the request, call one use-case, shape the answer."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse

from application import Authenticated, LoginResult
from domain.errors import InvalidCredentials, MfaPending
from entrypoints.http.cookies import SessionCookie, set_login_cookies
from entrypoints.http.credentials import read_credentials
from entrypoints.http.dependencies import (
    ChangePasswordDep,
    ClientDep,
    DeleteAccountDep,
    ListSessionsDep,
    LoginDep,
    LogoutDep,
    RevokeOtherSessionsDep,
    RevokeSessionDep,
    SessionCookieDep,
    SignUpDep,
    StoreDep,
    current_session_dependency,
)
from entrypoints.http.errors import BASIC_CHALLENGE, STORE_RETRY_AFTER
from entrypoints.http.fast_path import forward_auth_headers, second_factor_refusal
from entrypoints.http.schemas import (
    AccountDeletion,
    Credentials,
    ErrorOut,
    LoginOut,
    MessageOut,
    MfaPendingOut,
    PasswordChange,
    ProtectedOut,
    RevokedOut,
    SessionOut,
    SignUpIn,
    SignUpOut,
    StatusOut,
    UserOut,
    ValidationErrorOut,
)

Responses = dict[int | str, dict[str, Any]]

# Answers any operation may give (spec: "Any endpoint may also answer ..."), documented on each.
_COMMON: Responses = {
    400: {"model": ErrorOut, "description": "Malformed request"},
    403: {"model": ErrorOut, "description": "Cross-site request refused"},
    413: {"model": ErrorOut, "description": "Body over 64 KiB"},
    503: {
        "model": ErrorOut,
        "description": "Store unreachable, or hashing queue full (Retry-After)",
    },
}
_UNAUTHENTICATED: Responses = {
    401: {"model": ErrorOut, "description": "No valid session; an invalid cookie is expired"}
}
_INVALID: Responses = {422: {"model": ValidationErrorOut, "description": "Invalid input"}}
_THROTTLED: Responses = {429: {"model": ErrorOut, "description": "Too many attempts (Retry-After)"}}


def _responses(*extra: Responses) -> Responses:
    merged = dict(_COMMON)
    for item in extra:
        merged.update(item)
    return merged


def login_answer(request: Request, result: LoginResult) -> JSONResponse:
    """What every successful login answers (POST /login, /login/mfa, /login/passkey): 200, the
    session and device cookies."""
    policy = request.app.state.container.session_policy()
    body = LoginOut(
        message="Logged in",
        user=UserOut.of(result.user),
        expires_at=result.session.expires_at,
        idle_expires_at=policy.idle_deadline(result.session),
        aal=result.session.aal,
    )
    response = JSONResponse(body.model_dump(mode="json"))
    set_login_cookies(request, response, result)
    return response


def pending_answer(request: Request, pending: MfaPending) -> JSONResponse:
    """The right password of an account with a second factor: 202, no session cookie, and the
    pending login's cookie (HttpOnly, the session cookie's other attributes)."""
    cookie: SessionCookie = request.app.state.session_cookie
    body = MfaPendingOut(message=str(pending), methods=pending.methods)
    response = JSONResponse(body.model_dump(mode="json"), status.HTTP_202_ACCEPTED)
    cookie.set_pending(response, pending.token, max_age=pending.max_age)
    return response


def set_rotated_cookie(
    request: Request, response: Response, current: Authenticated, token: str
) -> None:
    """The caller's session under its new token (a password or factor change rotated it),
    lasting to the session's absolute deadline as before."""
    now = request.app.state.container.clock().now()
    request.app.state.session_cookie.set(
        response, token, max_age=max(0, int((current.session.expires_at - now).total_seconds()))
    )


def build_router(cookie_name: str) -> APIRouter:
    router = APIRouter()
    CurrentSession = Annotated[Authenticated, Depends(current_session_dependency(cookie_name))]

    @router.post(
        "/signup",
        status_code=status.HTTP_201_CREATED,
        response_model=SignUpOut,
        responses=_responses(
            {409: {"model": ErrorOut, "description": "Username taken (usernames are public)"}},
            _INVALID,
            _THROTTLED,
        ),
    )
    async def signup(body: SignUpIn, sign_up: SignUpDep, client: ClientDep) -> SignUpOut:
        user = await sign_up.execute(
            username=body.username, password=body.password, email=body.email, client=client
        )
        return SignUpOut(message="User created", user=UserOut.of(user))

    @router.post(
        "/login",
        response_model=LoginOut,
        responses=_responses(
            {
                202: {
                    "model": MfaPendingOut,
                    "description": "Right password, second factor required: continue at "
                    "POST /login/mfa (a short-lived <cookie name>_mfa cookie, no session)",
                },
                401: {"model": ErrorOut, "description": "Invalid credentials"},
            },
            _INVALID,
            _THROTTLED,
        ),
        # Credentials are parsed by hand (FastAPI's HTTPBasic decodes ASCII only), so the Basic
        # scheme and the optional body are declared here for the OpenAPI document.
        openapi_extra={
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": Credentials.model_json_schema()}},
            },
            "security": [{"basicAuth": []}, {}],
        },
    )
    async def login(
        request: Request, login: LoginDep, cookie: SessionCookieDep, client: ClientDep
    ) -> Any:
        credentials = await read_credentials(request)
        challenge = {"WWW-Authenticate": BASIC_CHALLENGE}
        if credentials is None:
            return JSONResponse({"detail": str(InvalidCredentials())}, 401, headers=challenge)
        try:
            result = await login.execute(
                username=credentials.username,
                password=credentials.password,
                presented_token=cookie.token(request.scope),
                client=client,
            )
        except InvalidCredentials as error:
            headers = challenge if credentials.via_basic else None
            return JSONResponse({"detail": str(error)}, 401, headers=headers)
        except MfaPending as pending:
            return pending_answer(request, pending)
        return login_answer(request, result)

    @router.get("/getusers/me", response_model=UserOut, responses=_responses(_UNAUTHENTICATED))
    async def me(current: CurrentSession) -> UserOut:
        return UserOut.of(current.user)

    @router.get("/protected", response_model=ProtectedOut, responses=_responses(_UNAUTHENTICATED))
    async def protected(current: CurrentSession) -> ProtectedOut:
        return ProtectedOut(
            message=f"Hello, {current.user.username.display}: this is protected",
            user=UserOut.of(current.user),
        )

    @router.get(
        "/auth/verify",
        response_class=Response,
        responses=_responses(
            {
                200: {
                    "description": "Authenticated: X-Auth-User-Id, X-Auth-Username (percent-encoded "
                    "UTF-8) and X-Auth-AAL (the session's assurance level, 1 or 2) set"
                }
            },
            _UNAUTHENTICATED,
            {
                403: {
                    "model": ErrorOut,
                    "description": "Second factor required: `aal=2` asked for a session of level 1 "
                    "(X-Auth-AAL: 1 set); or cross-site request refused: the original request "
                    "(X-Forwarded-Method or X-Original-Method, with the forwarded Origin and "
                    "Sec-Fetch-Site) is unsafe and from another site",
                }
            },
            {422: {"model": ValidationErrorOut, "description": "`aal` other than 1 or 2"}},
        ),
        summary="Forward-auth check for reverse proxies (nginx auth_request, Traefik forwardAuth)",
    )
    async def verify(
        current: CurrentSession,
        aal: Annotated[
            int,
            Query(
                ge=1,
                le=2,
                description="The assurance level the path demands: 2 for a second factor",
            ),
        ] = 1,
    ) -> Response:
        # Served by the pure ASGI fast path (entrypoints/http/fast_path.py); declared here for the
        # OpenAPI document, with the same answer (and reached for what the fast path leaves to
        # the full stack: a cross-site check, an invalid `aal`).
        if current.session.aal < aal:
            refusal = second_factor_refusal(current)
            return JSONResponse(
                {"detail": refusal.detail}, refusal.status, headers=dict(refusal.headers)
            )
        return Response(headers=forward_auth_headers(current))

    @router.post("/logout", response_model=MessageOut, responses=_responses(_UNAUTHENTICATED))
    async def logout(
        current: CurrentSession, logout: LogoutDep, cookie: SessionCookieDep, client: ClientDep
    ) -> Any:
        await logout.execute(current=current, client=client)
        response = JSONResponse({"message": "Logged out"})
        cookie.expire(response)
        return response

    @router.get(
        "/sessions", response_model=list[SessionOut], responses=_responses(_UNAUTHENTICATED)
    )
    async def list_sessions(current: CurrentSession, listing: ListSessionsDep) -> list[SessionOut]:
        return [SessionOut.of(summary) for summary in await listing.execute(current=current)]

    @router.delete(
        "/sessions/{session_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        responses=_responses(
            _UNAUTHENTICATED,
            {404: {"model": ErrorOut, "description": "Not an active session of the caller"}},
        ),
    )
    async def revoke_session(
        session_id: str,
        current: CurrentSession,
        revoke: RevokeSessionDep,
        cookie: SessionCookieDep,
        client: ClientDep,
    ) -> Response:
        was_current = await revoke.execute(current=current, session_id=session_id, client=client)
        response = Response(status_code=status.HTTP_204_NO_CONTENT)
        if was_current:
            cookie.expire(response)
        return response

    @router.delete("/sessions", response_model=RevokedOut, responses=_responses(_UNAUTHENTICATED))
    async def revoke_other_sessions(
        current: CurrentSession, revoke: RevokeOtherSessionsDep, client: ClientDep
    ) -> RevokedOut:
        return RevokedOut(revoked=await revoke.execute(current=current, client=client))

    @router.post(
        "/password",
        response_model=MessageOut,
        responses=_responses(
            _UNAUTHENTICATED,
            {
                403: {
                    "model": ErrorOut,
                    "description": "Wrong current password or second factor, second factor "
                    "required, or a cross-site request",
                }
            },
            _INVALID,
            _THROTTLED,
        ),
    )
    async def change_password(
        body: PasswordChange,
        request: Request,
        current: CurrentSession,
        change: ChangePasswordDep,
        client: ClientDep,
    ) -> Any:
        token = await change.execute(
            current=current,
            current_password=body.current_password,
            new_password=body.new_password,
            client=client,
            proof=body.proof(),
        )
        response = JSONResponse({"message": "Password changed; other sessions have ended"})
        set_rotated_cookie(request, response, current, token)
        return response

    @router.delete(
        "/account",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        responses=_responses(
            {204: {"description": "Account deleted with its sessions and data; cookie expired"}},
            _UNAUTHENTICATED,
            {
                403: {
                    "model": ErrorOut,
                    "description": "Wrong current password or second factor, second factor "
                    "required, or a cross-site request",
                }
            },
            _INVALID,
            _THROTTLED,
        ),
    )
    async def delete_account(
        body: AccountDeletion,
        current: CurrentSession,
        delete: DeleteAccountDep,
        cookie: SessionCookieDep,
        client: ClientDep,
    ) -> Response:
        await delete.execute(
            current=current,
            current_password=body.current_password,
            client=client,
            proof=body.proof(),
        )
        # The device cookie may stay: it names an account that no longer exists, which counts as
        # no device cookie at all.
        response = Response(status_code=status.HTTP_204_NO_CONTENT)
        cookie.expire(response)
        return response

    @router.get(
        "/healthz",
        response_model=StatusOut,
        tags=["operations"],
        responses={code: answer for code, answer in _COMMON.items() if code != 503},  # no store
    )
    async def healthz() -> StatusOut:
        return StatusOut(status="ok")

    @router.get(
        "/readyz",
        response_model=StatusOut,
        tags=["operations"],
        responses=_responses(
            {503: {"model": StatusOut, "description": "Store unreachable, or shutting down"}}
        ),
    )
    async def readyz(request: Request, store: StoreDep) -> Any:
        readiness = request.app.state.readiness
        if readiness.draining:  # still serving, but send nothing new here
            return JSONResponse({"status": "draining"}, 503)
        # Until the store has been brought up (entrypoints/bring_up.py), no need to ask it; after
        # that, the store answers on a path of its own, within a second.
        if readiness.ready and await store.ping():
            return StatusOut(status="ok")
        return JSONResponse(
            {"status": "unavailable"}, 503, headers={"Retry-After": STORE_RETRY_AFTER}
        )

    return router
