"""Use-cases: one class each, ports passed in, one async `execute`. Imports domain/ only."""

from application.login import Login, LoginResult
from application.logout import Logout
from application.resolve_session import Authenticated, ResolveSession
from application.sign_up import SignUp

__all__ = ["Authenticated", "Login", "LoginResult", "Logout", "ResolveSession", "SignUp"]
