"""Browser pages under /ui/: sign up, log in, the account with its sessions, log out.

Server-rendered HTML over the same use-cases, cookies and cross-site defence as the JSON API;
no script, so the Content-Security-Policy forbids all of it.
"""

from entrypoints.http.ui.middleware import BrowserPages
from entrypoints.http.ui.routes import build_ui_router

__all__ = ["BrowserPages", "build_ui_router"]
