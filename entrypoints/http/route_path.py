"""The path a request names inside this app, wherever the app is mounted.

Under Starlette's `Mount` (`SessionAuth.install`) and behind an ASGI server's `--root-path`, the
scope's `path` keeps the prefix and `root_path` names it: `/auth/ui/login` with `/auth`. Routes
match what is left (`/ui/login`), so the middlewares that match paths themselves must too.
"""

from __future__ import annotations

from starlette.types import Scope


def route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
