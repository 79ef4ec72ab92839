"""Two-line getters from `app.state.container` (not dependency-injector wiring, which is
process-global: two apps in one process would share the last wired container)."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie

from application import Authenticated, Login, Logout, ResolveSession, SignUp
from domain.errors import NotAuthenticated
from domain.ports import Store
from entrypoints.http.cookies import SessionCookie


def get_sign_up(request: Request) -> SignUp:
    return request.app.state.container.sign_up()


def get_login(request: Request) -> Login:
    return request.app.state.container.login()


def get_logout(request: Request) -> Logout:
    return request.app.state.container.logout()


def get_resolve_session(request: Request) -> ResolveSession:
    return request.app.state.container.resolve_session()


def get_store(request: Request) -> Store:
    return request.app.state.container.storage.store()


def get_session_cookie(request: Request) -> SessionCookie:
    return request.app.state.session_cookie


SignUpDep = Annotated[SignUp, Depends(get_sign_up)]
LoginDep = Annotated[Login, Depends(get_login)]
LogoutDep = Annotated[Logout, Depends(get_logout)]
StoreDep = Annotated[Store, Depends(get_store)]
SessionCookieDep = Annotated[SessionCookie, Depends(get_session_cookie)]


def current_session_dependency(cookie_name: str):
    """A dependency that authenticates by the session cookie; declared through APIKeyCookie so the
    OpenAPI document shows the cookie security scheme under its configured name."""
    scheme = APIKeyCookie(name=cookie_name, auto_error=False, scheme_name="sessionCookie")

    async def current_session(
        resolve: Annotated[ResolveSession, Depends(get_resolve_session)],
        token: Annotated[str | None, Depends(scheme)],
    ) -> Authenticated:
        if not token:
            raise NotAuthenticated()
        return await resolve.execute(token=token)

    return current_session
