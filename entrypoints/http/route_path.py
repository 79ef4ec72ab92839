"""The path a request names inside this app, wherever the app is mounted.

Under Starlette's `Mount` (`SessionAuth.install`) and behind an ASGI server's `--root-path`, the
scope's `path` keeps the prefix and `root_path` names it: `/auth/ui/login` with `/auth`. Routes
match what is left (`/ui/login`), so the middlewares that match paths themselves must too.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute, Route
from starlette.types import Scope


def route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


UNMATCHED = "unmatched"  # every path that names no route: a scanner's paths must not become values


class RouteTemplates:
    """The template of the route a request's path names (`/sessions/{session_id}`, never the path
    itself, which would carry ids; under a mount, the template without the mount's prefix, as the
    routes match it), or UNMATCHED: what the latency metric and the access log call a route."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        plain = [r for r in routes if isinstance(r, Route)]
        self._exact = {r.path: r.path for r in plain if not r.param_convertors}
        self._templated = [(r.path_regex, r.path) for r in plain if r.param_convertors]

    def of(self, scope: Scope) -> str:
        path = route_path(scope)
        route = self._exact.get(path)
        if route is not None:
            return route
        for regex, template in self._templated:
            if regex.match(path):
                return template
        return UNMATCHED
