"""Two-line getters from `app.state.container` (not dependency-injector wiring, which is
process-global: two apps in one process would share the last wired container)."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie

from application import (
    Authenticated,
    ChangePassword,
    ConfirmTotp,
    DeleteAccount,
    ForgotPassword,
    ListSessions,
    Login,
    LoginMfa,
    Logout,
    RemoveTotp,
    RenewRecoveryCodes,
    ResendVerification,
    ResetPassword,
    RevokeOtherSessions,
    RevokeSession,
    SetEmail,
    ShowFactors,
    SignUp,
    StartTotp,
    VerifyEmail,
)
from application.webauthn_credentials import (
    RegisterCredential,
    RemoveCredential,
    WebAuthnRegistrationOptions,
)
from application.webauthn_sign_in import (
    MfaWebAuthnOptions,
    PasskeyLogin,
    PasskeyLoginOptions,
    ReauthWebAuthnOptions,
)
from domain.client import Client
from domain.ports import Store
from entrypoints.http.cookies import SessionCookie
from entrypoints.http.errors import Refusal, SessionRefused

# Every getter is `async def`: FastAPI runs a plain `def` dependency in a thread pool, which would
# cost a thread hop on every request.


def _use_case(name: str) -> Callable[[Request], Awaitable[Any]]:
    async def get(request: Request) -> Any:
        return getattr(request.app.state.container, name)()

    return Depends(get)


SignUpDep = Annotated[SignUp, _use_case("sign_up")]
LoginDep = Annotated[Login, _use_case("login")]
LogoutDep = Annotated[Logout, _use_case("logout")]
ListSessionsDep = Annotated[ListSessions, _use_case("list_sessions")]
RevokeSessionDep = Annotated[RevokeSession, _use_case("revoke_session")]
RevokeOtherSessionsDep = Annotated[RevokeOtherSessions, _use_case("revoke_other_sessions")]
ChangePasswordDep = Annotated[ChangePassword, _use_case("change_password")]
# Built only with mail on; their routes exist only then (entrypoints/http/account_routes.py).
SetEmailDep = Annotated[SetEmail, _use_case("set_email")]
VerifyEmailDep = Annotated[VerifyEmail, _use_case("verify_email")]
ResendVerificationDep = Annotated[ResendVerification, _use_case("resend_verification")]
ForgotPasswordDep = Annotated[ForgotPassword, _use_case("forgot_password")]
ResetPasswordDep = Annotated[ResetPassword, _use_case("reset_password")]
DeleteAccountDep = Annotated[DeleteAccount, _use_case("delete_account")]
LoginMfaDep = Annotated[LoginMfa, _use_case("login_mfa")]
ShowFactorsDep = Annotated[ShowFactors, _use_case("show_factors")]
StartTotpDep = Annotated[StartTotp, _use_case("start_totp")]
ConfirmTotpDep = Annotated[ConfirmTotp, _use_case("confirm_totp")]
RemoveTotpDep = Annotated[RemoveTotp, _use_case("remove_totp")]
RenewRecoveryCodesDep = Annotated[RenewRecoveryCodes, _use_case("renew_recovery_codes")]
WebAuthnRegistrationOptionsDep = Annotated[
    WebAuthnRegistrationOptions, _use_case("webauthn_registration_options")
]
RegisterCredentialDep = Annotated[RegisterCredential, _use_case("register_credential")]
RemoveCredentialDep = Annotated[RemoveCredential, _use_case("remove_credential")]
PasskeyLoginOptionsDep = Annotated[PasskeyLoginOptions, _use_case("passkey_login_options")]
PasskeyLoginDep = Annotated[PasskeyLogin, _use_case("passkey_login")]
MfaWebAuthnOptionsDep = Annotated[MfaWebAuthnOptions, _use_case("mfa_webauthn_options")]
ReauthWebAuthnOptionsDep = Annotated[ReauthWebAuthnOptions, _use_case("reauth_webauthn_options")]


async def get_store(request: Request) -> Store:
    return request.app.state.container.store()


async def get_session_cookie(request: Request) -> SessionCookie:
    return request.app.state.session_cookie


async def get_client(request: Request) -> Client:
    agent = request.headers.get("user-agent")
    return Client(
        address=request.app.state.client_address.of(request.scope),
        user_agent=agent[:512] if agent else None,
        device_cookie=request.app.state.session_cookie.device(request.scope),
    )


StoreDep = Annotated[Store, Depends(get_store)]
SessionCookieDep = Annotated[SessionCookie, Depends(get_session_cookie)]
ClientDep = Annotated[Client, Depends(get_client)]


def current_session_dependency(cookie_name: str) -> Callable[..., Awaitable[Authenticated]]:
    """A dependency that authenticates by the session cookie, by SessionGate's rule. The
    APIKeyCookie parameter only declares the cookie security scheme in the OpenAPI document under
    its configured name: its value (Starlette's reading, the last of a duplicated name) is unused."""
    scheme = APIKeyCookie(name=cookie_name, auto_error=False, scheme_name="sessionCookie")

    async def current_session(
        request: Request, _declared: Annotated[str | None, Depends(scheme)]
    ) -> Authenticated:
        outcome = await request.app.state.session_gate.check(request.scope)
        if isinstance(outcome, Refusal):
            raise SessionRefused(outcome)
        return outcome

    return current_session
