"""Thin routes: parse the request, call one use-case, shape the answer."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse

from application import Authenticated
from domain.errors import InvalidCredentials
from entrypoints.http.credentials import read_credentials
from entrypoints.http.dependencies import (
    LoginDep,
    LogoutDep,
    SessionCookieDep,
    SignUpDep,
    StoreDep,
    current_session_dependency,
)
from entrypoints.http.errors import BASIC_CHALLENGE
from entrypoints.http.schemas import (
    Credentials,
    ErrorOut,
    LoginOut,
    MessageOut,
    ProtectedOut,
    SignUpOut,
    StatusOut,
    UserOut,
    ValidationErrorOut,
)

# Answers any operation may give (spec: "Any endpoint may also answer ..."), documented on each.
_COMMON: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Malformed request"},
    403: {"model": ErrorOut, "description": "Cross-site request refused"},
    413: {"model": ErrorOut, "description": "Body over 64 KiB"},
    503: {"model": ErrorOut, "description": "Store unreachable (Retry-After)"},
}
_UNAUTHENTICATED = {401: {"model": ErrorOut, "description": "No valid session; an invalid cookie is expired"}}


def _responses(*extra: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    merged = dict(_COMMON)
    for item in extra:
        merged.update(item)
    return merged


def build_router(cookie_name: str) -> APIRouter:
    router = APIRouter()
    CurrentSession = Annotated[Authenticated, Depends(current_session_dependency(cookie_name))]

    @router.post(
        "/signup",
        status_code=status.HTTP_201_CREATED,
        response_model=SignUpOut,
        responses=_responses(
            {409: {"model": ErrorOut, "description": "Username taken (usernames are public)"}},
            {422: {"model": ValidationErrorOut, "description": "Invalid username or password"}},
            {429: {"model": ErrorOut, "description": "Too many sign-ups from this address"}},
        ),
    )
    async def signup(body: Credentials, sign_up: SignUpDep) -> SignUpOut:
        user = await sign_up.execute(username=body.username, password=body.password)
        return SignUpOut(message="User created", user=UserOut.of(user))

    @router.post(
        "/login",
        response_model=LoginOut,
        responses=_responses(
            {401: {"model": ErrorOut, "description": "Invalid credentials"}},
            {422: {"model": ValidationErrorOut, "description": "Body is not valid credentials JSON"}},
            {429: {"model": ErrorOut, "description": "Throttled (Retry-After)"}},
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
    async def login(request: Request, login: LoginDep, cookie: SessionCookieDep) -> Any:
        credentials = await read_credentials(request)
        challenge = {"WWW-Authenticate": BASIC_CHALLENGE}
        if credentials is None:
            return JSONResponse({"detail": str(InvalidCredentials())}, 401, headers=challenge)
        try:
            result = await login.execute(
                username=credentials.username,
                password=credentials.password,
                presented_token=request.cookies.get(cookie.name),
                user_agent=_user_agent(request),
                ip=request.app.state.client_address.of(request.scope),
            )
        except InvalidCredentials as error:
            headers = challenge if credentials.via_basic else None
            return JSONResponse({"detail": str(error)}, 401, headers=headers)
        policy = request.app.state.container.session_policy()
        body = LoginOut(
            message="Logged in",
            user=UserOut.of(result.user),
            expires_at=result.session.expires_at,
            idle_expires_at=policy.idle_deadline(result.session),
        )
        response = JSONResponse(body.model_dump(mode="json"))
        cookie.set(response, result.token, max_age=int(policy.absolute_timeout.total_seconds()))
        return response

    @router.get("/getusers/me", response_model=UserOut, responses=_responses(_UNAUTHENTICATED))
    async def me(current: CurrentSession) -> UserOut:
        return UserOut.of(current.user)

    @router.get("/protected", response_model=ProtectedOut, responses=_responses(_UNAUTHENTICATED))
    async def protected(current: CurrentSession) -> ProtectedOut:
        return ProtectedOut(
            message=f"Hello, {current.user.username.display}: this is protected",
            user=UserOut.of(current.user),
        )

    @router.post("/logout", response_model=MessageOut, responses=_responses(_UNAUTHENTICATED))
    async def logout(current: CurrentSession, logout: LogoutDep, cookie: SessionCookieDep) -> Any:
        await logout.execute(session=current.session)
        response = JSONResponse({"message": "Logged out"})
        cookie.expire(response)
        return response

    @router.get("/healthz", response_model=StatusOut, tags=["operations"])
    async def healthz() -> StatusOut:
        return StatusOut(status="ok")

    @router.get(
        "/readyz",
        response_model=StatusOut,
        tags=["operations"],
        responses={503: {"model": StatusOut, "description": "Store unreachable"}},
    )
    async def readyz(store: StoreDep) -> Any:
        if await store.ping():
            return StatusOut(status="ok")
        return JSONResponse({"status": "unavailable"}, 503, headers={"Retry-After": "5"})

    return router


def _user_agent(request: Request) -> str | None:
    agent = request.headers.get("user-agent")
    return agent[:512] if agent else None
