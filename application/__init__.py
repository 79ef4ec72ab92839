"""Use-cases: one class each, ports passed in, one async `execute`. Imports domain/ only."""

from application.calibrate_dummy_verify import CalibrateDummyVerify
from application.change_password import ChangePassword
from application.delete_account import DeleteAccount
from application.delete_user import DeleteUser
from application.disable_user import DisableUser
from application.enable_user import EnableUser
from application.forgot_password import ForgotPassword
from application.list_sessions import ListSessions, SessionSummary
from application.login import Login, LoginResult
from application.logout import Logout
from application.purge_expired_sessions import PurgeExpiredSessions
from application.resend_verification import ResendVerification
from application.reset_password import ResetPassword
from application.resolve_session import Authenticated, ResolveSession
from application.revoke_all_sessions import RevokeAllSessions
from application.revoke_other_sessions import RevokeOtherSessions
from application.revoke_session import RevokeSession
from application.revoke_user_sessions import RevokeUserSessions
from application.set_email import SetEmail
from application.sign_up import SignUp
from application.throttle import Throttle
from application.use_cases import UseCases, build_use_cases
from application.verify_email import VerifyEmail

__all__ = [
    "Authenticated",
    "CalibrateDummyVerify",
    "ChangePassword",
    "DeleteAccount",
    "DeleteUser",
    "DisableUser",
    "EnableUser",
    "ForgotPassword",
    "ListSessions",
    "Login",
    "LoginResult",
    "Logout",
    "PurgeExpiredSessions",
    "ResendVerification",
    "ResetPassword",
    "ResolveSession",
    "RevokeAllSessions",
    "RevokeOtherSessions",
    "RevokeSession",
    "RevokeUserSessions",
    "SessionSummary",
    "SetEmail",
    "SignUp",
    "Throttle",
    "UseCases",
    "VerifyEmail",
    "build_use_cases",
]
