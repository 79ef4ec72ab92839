"""sessionauth for applications that embed it: the one import name to use.

    from sessionauth import CurrentUser, SessionAuth

    auth = SessionAuth.from_env()
    app = FastAPI()
    auth.install(app, prefix="/auth")

    @app.get("/me")
    async def me(user: Annotated[CurrentUser, Depends(auth.current_user)]) -> CurrentUser: ...

`auth.current_user` is the FastAPI dependency; it returns a `CurrentUser`. The use-cases are
`auth.container`'s providers, usable inside `async with auth.running():`; their classes, their
results, the `Client` they take and the errors they raise are exported here too.

The service's code lives in the top-level packages `domain`, `application`, `adapters` and
`entrypoints`, installed beside this one. Importing sessionauth first checks that those names
resolve to that code and not to an application's own packages of the same name, and raises
ImportError saying which one is shadowed if they do not.

The use-cases and their types are stdlib-only code; `SessionAuth`, `CurrentUser` and the settings
bring in FastAPI, pydantic and dependency-injector, so they are imported on first use: a worker or
a command that only runs use-cases does not pay for a web stack it does not use.
"""

import importlib
from typing import TYPE_CHECKING

from sessionauth.layers import check_layers

check_layers()

# After the check, so that a shadowed layer fails with its message rather than at these imports.
from application import (  # noqa: E402
    Authenticated,
    CalibrateDummyVerify,
    ChangePassword,
    ConfirmTotp,
    DeleteAccount,
    DeleteUser,
    DisableUser,
    EnableUser,
    FactorOverview,
    ForgotPassword,
    ListSessions,
    Login,
    LoginMfa,
    LoginResult,
    Logout,
    MfaWebAuthnOptions,
    OpenSession,
    PasskeyLogin,
    PasskeyLoginOptions,
    PasskeyStart,
    PurgeExpiredSessions,
    Reauthenticate,
    ReauthWebAuthnOptions,
    RegisterCredential,
    RegisteredCredential,
    RemoveCredential,
    RemoveTotp,
    RenewRecoveryCodes,
    ResendVerification,
    ResetFactors,
    ResetPassword,
    ResolveSession,
    RevokeAllSessions,
    RevokeOtherSessions,
    RevokeSession,
    RevokeUserSessions,
    Rotated,
    SecondFactor,
    SessionSummary,
    SetEmail,
    ShowFactors,
    SignUp,
    StartTotp,
    Throttle,
    TotpSetup,
    UseCases,
    VerifyEmail,
    WebAuthnRegistrationOptions,
    build_use_cases,
)
from domain.client import Client  # noqa: E402
from domain.errors import (  # noqa: E402
    CeremonyFailed,
    DomainError,
    EmailAlreadyVerified,
    EmailTaken,
    FactorAlreadyActive,
    FactorNotFound,
    HashingOverloaded,
    InvalidCode,
    InvalidCredentials,
    InvalidEmail,
    InvalidPassword,
    InvalidToken,
    InvalidUsername,
    MfaPending,
    NoEmailAddress,
    NoFactorSetup,
    NoSecondFactor,
    NotAuthenticated,
    PolicyViolation,
    SecondFactorRequired,
    SessionExpired,
    SessionNotFound,
    StoreUnavailable,
    Throttled,
    UnknownUser,
    UsernameTaken,
    WrongPassword,
    WrongSecondFactor,
    WrongSetupCode,
)
from domain.factors import FactorProof, Reauth  # noqa: E402
from domain.session import AuthMethod, Session  # noqa: E402
from domain.user import User, Username  # noqa: E402

if TYPE_CHECKING:
    from entrypoints.http.embedding import CurrentUser, SessionAuth
    from entrypoints.settings import ConfigError, Settings, load_settings

_ON_FIRST_USE = {
    "ConfigError": "entrypoints.settings",
    "CurrentUser": "entrypoints.http.embedding",
    "SessionAuth": "entrypoints.http.embedding",
    "Settings": "entrypoints.settings",
    "load_settings": "entrypoints.settings",
}

__all__ = [
    "AuthMethod",
    "Authenticated",
    "CalibrateDummyVerify",
    "CeremonyFailed",
    "ChangePassword",
    "Client",
    "ConfigError",
    "ConfirmTotp",
    "CurrentUser",
    "DeleteAccount",
    "DeleteUser",
    "DisableUser",
    "DomainError",
    "EmailAlreadyVerified",
    "EmailTaken",
    "EnableUser",
    "FactorAlreadyActive",
    "FactorNotFound",
    "FactorOverview",
    "FactorProof",
    "ForgotPassword",
    "HashingOverloaded",
    "InvalidCode",
    "InvalidCredentials",
    "InvalidEmail",
    "InvalidPassword",
    "InvalidToken",
    "InvalidUsername",
    "ListSessions",
    "Login",
    "LoginMfa",
    "LoginResult",
    "Logout",
    "MfaPending",
    "MfaWebAuthnOptions",
    "NoEmailAddress",
    "NoFactorSetup",
    "NoSecondFactor",
    "NotAuthenticated",
    "OpenSession",
    "PasskeyLogin",
    "PasskeyLoginOptions",
    "PasskeyStart",
    "PolicyViolation",
    "PurgeExpiredSessions",
    "Reauth",
    "ReauthWebAuthnOptions",
    "Reauthenticate",
    "RegisterCredential",
    "RegisteredCredential",
    "RemoveCredential",
    "RemoveTotp",
    "RenewRecoveryCodes",
    "ResendVerification",
    "ResetFactors",
    "ResetPassword",
    "ResolveSession",
    "RevokeAllSessions",
    "RevokeOtherSessions",
    "RevokeSession",
    "RevokeUserSessions",
    "Rotated",
    "SecondFactor",
    "SecondFactorRequired",
    "Session",
    "SessionAuth",
    "SessionExpired",
    "SessionNotFound",
    "SessionSummary",
    "SetEmail",
    "Settings",
    "ShowFactors",
    "SignUp",
    "StartTotp",
    "StoreUnavailable",
    "Throttle",
    "Throttled",
    "TotpSetup",
    "UnknownUser",
    "UseCases",
    "User",
    "Username",
    "UsernameTaken",
    "VerifyEmail",
    "WebAuthnRegistrationOptions",
    "WrongPassword",
    "WrongSecondFactor",
    "WrongSetupCode",
    "build_use_cases",
    "load_settings",
]


def __getattr__(name: str) -> object:
    module = _ON_FIRST_USE.get(name)
    if module is None:
        raise AttributeError(f"module 'sessionauth' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup finds it without coming here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_ON_FIRST_USE})
