"""Use-cases: one class each, ports passed in, one async `execute`. Imports domain/ only."""

from application.calibrate_dummy_verify import CalibrateDummyVerify
from application.change_password import ChangePassword
from application.confirm_totp import ConfirmTotp
from application.delete_account import DeleteAccount
from application.delete_user import DeleteUser
from application.disable_user import DisableUser
from application.enable_user import EnableUser
from application.factor_results import FactorOverview, Rotated, TotpSetup
from application.forgot_password import ForgotPassword
from application.list_sessions import ListSessions, SessionSummary
from application.login import Login, LoginResult
from application.login_mfa import LoginMfa
from application.logout import Logout
from application.open_session import OpenSession
from application.purge_expired_sessions import PurgeExpiredSessions
from application.reauthenticate import Reauthenticate
from application.remove_totp import RemoveTotp
from application.renew_recovery_codes import RenewRecoveryCodes
from application.resend_verification import ResendVerification
from application.reset_factors import ResetFactors
from application.reset_password import ResetPassword
from application.resolve_session import Authenticated, ResolveSession
from application.revoke_all_sessions import RevokeAllSessions
from application.revoke_other_sessions import RevokeOtherSessions
from application.revoke_session import RevokeSession
from application.revoke_user_sessions import RevokeUserSessions
from application.second_factor import SecondFactor
from application.set_email import SetEmail
from application.show_factors import ShowFactors
from application.sign_up import SignUp
from application.start_totp import StartTotp
from application.throttle import Throttle
from application.use_cases import UseCases, build_use_cases
from application.verify_email import VerifyEmail
from application.webauthn_credentials import (
    RegisterCredential,
    RegisteredCredential,
    RemoveCredential,
    WebAuthnRegistrationOptions,
)
from application.webauthn_sign_in import (
    MfaWebAuthnOptions,
    PasskeyLogin,
    PasskeyLoginOptions,
    PasskeyStart,
    ReauthWebAuthnOptions,
)

__all__ = [
    "Authenticated",
    "CalibrateDummyVerify",
    "ChangePassword",
    "ConfirmTotp",
    "DeleteAccount",
    "DeleteUser",
    "DisableUser",
    "EnableUser",
    "FactorOverview",
    "ForgotPassword",
    "ListSessions",
    "Login",
    "LoginMfa",
    "LoginResult",
    "Logout",
    "MfaWebAuthnOptions",
    "OpenSession",
    "PasskeyLogin",
    "PasskeyLoginOptions",
    "PasskeyStart",
    "PurgeExpiredSessions",
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
    "SessionSummary",
    "SetEmail",
    "ShowFactors",
    "SignUp",
    "StartTotp",
    "Throttle",
    "TotpSetup",
    "UseCases",
    "VerifyEmail",
    "WebAuthnRegistrationOptions",
    "build_use_cases",
]
