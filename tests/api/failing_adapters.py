"""A store that is down and a hasher that is overloaded, and an app built with either in place."""

import httpx

from domain.errors import HashingOverloaded, OutageCause, StoreUnavailable
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.constants import FAST_ARGON2


class DownStore:
    """Every repository call fails as a Postgres adapter does when the server is gone (or for
    `cause`)."""

    def __init__(self, cause: OutageCause = OutageCause.UNREACHABLE):
        self.cause = cause

    def __getattr__(self, name):
        async def unavailable(*args, **kwargs):
            raise StoreUnavailable(self.cause)

        return unavailable

    @property
    def users(self):
        return self

    @property
    def sessions(self):
        return self

    @property
    def attempts(self):
        return self

    @property
    def tokens(self):
        return self

    shared = True

    async def open(self):
        pass

    async def close(self):
        pass

    async def ping(self):
        return False

    def describe(self):
        return "a store that is down"


class OverloadedHasher:
    async def hash(self, *args, **kwargs):
        raise HashingOverloaded()

    verify = verify_dummy = calibrate_dummy = hash

    def close(self):
        pass


async def client_for(override, **settings):
    container = build_container(load_settings(database_url=None, **{**FAST_ARGON2, **settings}))
    override(container)
    app = create_app(container)
    return app, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://testserver"
    )
