"""Security keys and passkeys (WebAuthn): registration, listing, removal, the passkey login,
and the request options for the second login step and for a re-auth body. Registered only when
WebAuthn is on (a relying party is known): otherwise these paths answer 404."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import JSONResponse

from application import Authenticated
from domain.errors import FactorNotFound, InvalidCredentials, NotAuthenticated
from entrypoints.http.dependencies import (
    ClientDep,
    MfaWebAuthnOptionsDep,
    PasskeyLoginDep,
    PasskeyLoginOptionsDep,
    ReauthWebAuthnOptionsDep,
    RegisterCredentialDep,
    RemoveCredentialDep,
    SessionCookieDep,
    ShowFactorsDep,
    WebAuthnRegistrationOptionsDep,
    current_session_dependency,
)
from entrypoints.http.mfa_routes import REAUTH_FAILURES
from entrypoints.http.routes import (
    _INVALID,
    _THROTTLED,
    _UNAUTHENTICATED,
    _responses,
    login_answer,
    set_rotated_cookie,
)
from entrypoints.http.schemas import (
    CredentialOut,
    CredentialRegistrationIn,
    ErrorOut,
    LoginOut,
    PasskeyLoginIn,
    ReauthIn,
    RegisteredCredentialOut,
)

_OPTIONS = "WebAuthn options for navigator.credentials (base64url strings, as the spec's JSON)"


def build_webauthn_router(cookie_name: str) -> APIRouter:
    router = APIRouter(tags=["second factors"])
    CurrentSession = Annotated[Authenticated, Depends(current_session_dependency(cookie_name))]

    @router.post(
        "/webauthn/register/options",
        description=f"A re-auth body; answers creation {_OPTIONS}.",
        responses=_responses(_UNAUTHENTICATED, REAUTH_FAILURES, _INVALID, _THROTTLED),
    )
    async def registration_options(
        body: ReauthIn,
        current: CurrentSession,
        options: WebAuthnRegistrationOptionsDep,
        client: ClientDep,
    ) -> dict[str, Any]:
        return await options.execute(current=current, reauth=body.reauth(), client=client)

    @router.post(
        "/webauthn/register",
        status_code=status.HTTP_201_CREATED,
        response_model=RegisteredCredentialOut,
        responses=_responses(
            _UNAUTHENTICATED,
            {
                400: {
                    "model": ErrorOut,
                    "description": "No registration pending for this session, or the "
                    "authenticator's response was refused",
                }
            },
            _INVALID,
        ),
    )
    async def register(
        body: CredentialRegistrationIn,
        request: Request,
        current: CurrentSession,
        register: RegisterCredentialDep,
        client: ClientDep,
    ) -> Any:
        done = await register.execute(
            current=current, credential=body.credential, name=body.name, client=client
        )
        answer = RegisteredCredentialOut(
            **CredentialOut.of(done.credential).model_dump(),
            recovery_codes=done.recovery_codes or None,
        )
        # last_used_at is null here, and in the answer; recovery_codes only with the first factor
        unset = None if done.recovery_codes else {"recovery_codes"}
        response = JSONResponse(answer.model_dump(mode="json", exclude=unset), 201)
        set_rotated_cookie(request, response, current, done.token)
        return response

    @router.get(
        "/webauthn/credentials",
        response_model=list[CredentialOut],
        responses=_responses(_UNAUTHENTICATED),
    )
    async def credentials(current: CurrentSession, show: ShowFactorsDep) -> list[CredentialOut]:
        overview = await show.execute(user=current.user)
        return [CredentialOut.of(c) for c in overview.webauthn]

    @router.delete(
        "/webauthn/credentials/{credential_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
        responses=_responses(
            {204: {"description": "Removed; other sessions ended; the cookie rotated"}},
            _UNAUTHENTICATED,
            REAUTH_FAILURES,
            {404: {"model": ErrorOut, "description": "No such credential of the caller"}},
            _INVALID,
            _THROTTLED,
        ),
    )
    async def remove(
        credential_id: str,
        body: ReauthIn,
        request: Request,
        current: CurrentSession,
        remove: RemoveCredentialDep,
        client: ClientDep,
    ) -> Response:
        if len(credential_id) > 64:
            raise FactorNotFound("Credential")
        rotated = await remove.execute(
            current=current, credential_id=credential_id, reauth=body.reauth(), client=client
        )
        response = Response(status_code=status.HTTP_204_NO_CONTENT)
        set_rotated_cookie(request, response, current, rotated.token)
        return response

    @router.post(
        "/login/passkey/options",
        description=f"Starts a passkey login: request {_OPTIONS}, and a short-lived cookie "
        "that binds their challenge to this browser.",
        responses=_responses(_THROTTLED),
    )
    async def passkey_options(
        options: PasskeyLoginOptionsDep, cookie: SessionCookieDep, client: ClientDep
    ) -> Any:
        start = await options.execute(client=client)
        response = JSONResponse(start.options)
        cookie.set_passkey(response, start.key, max_age=start.max_age)
        return response

    @router.post(
        "/login/passkey",
        response_model=LoginOut,
        responses=_responses(
            {401: {"model": ErrorOut, "description": "Invalid credentials (every failure)"}},
            _INVALID,
            _THROTTLED,
        ),
    )
    async def passkey_login(
        body: PasskeyLoginIn,
        request: Request,
        login: PasskeyLoginDep,
        cookie: SessionCookieDep,
        client: ClientDep,
    ) -> Any:
        try:
            result = await login.execute(
                key=cookie.passkey(request.scope),
                credential=body.credential,
                client=client,
                presented_token=cookie.token(request.scope),
            )
        except InvalidCredentials as refused:
            response = JSONResponse({"detail": str(refused)}, 401)
            cookie.expire_passkey(response)  # its challenge is used up either way
            return response
        response = login_answer(request, result)
        cookie.expire_passkey(response)
        return response

    @router.post(
        "/login/mfa/webauthn/options",
        description=f"Request {_OPTIONS} for the second step of the pending login.",
        responses=_responses(_UNAUTHENTICATED),
    )
    async def mfa_options(
        request: Request, options: MfaWebAuthnOptionsDep, cookie: SessionCookieDep
    ) -> dict[str, Any]:
        pending = cookie.pending(request.scope)
        if pending is None:
            raise NotAuthenticated()
        return await options.execute(pending_token=pending)

    @router.post(
        "/reauth/webauthn/options",
        description=f"Request {_OPTIONS} for the `webauthn` proof of a re-auth body.",
        responses=_responses(_UNAUTHENTICATED),
    )
    async def reauth_options(
        current: CurrentSession, options: ReauthWebAuthnOptionsDep
    ) -> dict[str, Any]:
        return await options.execute(current=current)

    return router
