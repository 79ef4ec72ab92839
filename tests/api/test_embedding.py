"""SessionAuth, the embedding API: what `install` does and leaves alone in the host app, its
lifespan, and `current_user`'s answers (the notes example's tests cover the whole flow)."""

from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import PlainTextResponse

from entrypoints.http.client_address import ClientAddress
from entrypoints.http.cross_site import CrossSiteDefence
from entrypoints.http.embedding import CurrentUser, SessionAuth
from entrypoints.settings import load_settings
from tests.api.host_app import host_app, make_auth, serving
from tests.api.responses import set_cookie_attributes
from tests.constants import FAST_ARGON2, PASSWORD
from tests.postgres_provider import SECRET, with_database, with_secret
from tests.processes import free_port

TRUSTED = "https://front.example"
WELL_FORMED = "a" * 43  # the shape of a token, naming no session


async def log_in(client: httpx.AsyncClient, username: str = "alice") -> None:
    assert (
        await client.post("/auth/signup", json={"username": username, "password": PASSWORD})
    ).status_code == 201
    assert (await client.post("/auth/login", auth=(username, PASSWORD))).status_code == 200


async def test_the_host_apps_own_handlers_middleware_and_routes_are_left_alone():
    app = FastAPI()
    app.add_middleware(GZipMiddleware)

    @app.exception_handler(ValueError)
    async def own(request, error):
        return PlainTextResponse("the host's own answer", status_code=400)

    handlers, middleware = dict(app.exception_handlers), list(app.user_middleware)
    make_auth().install(app)
    assert app.exception_handlers == handlers
    assert app.user_middleware == middleware
    assert [getattr(r, "path", None) for r in app.routes][-1] == "/auth"  # one mount, nothing else


async def test_the_mounted_routes_give_the_services_answers():
    async with serving(host_app(make_auth(trusted_origins=TRUSTED))) as client:
        refused = await client.post("/auth/signup", json={"username": "alice", "password": "short"})
        assert refused.status_code == 422
        assert refused.json()["detail"] == [
            {
                "loc": ["body", "password"],
                "msg": "Password must be at least 8 characters",
                "type": "too_short",
            }
        ]
        assert refused.headers["x-content-type-options"] == "nosniff"
        assert refused.headers["cache-control"] == "no-store"

        too_large = await client.post(
            "/auth/signup",
            content=b"x" * (64 * 1024 + 1),
            headers={"content-type": "application/json"},
        )
        assert too_large.status_code == 413

        forged = await client.post(
            "/auth/login", auth=("alice", PASSWORD), headers={"origin": "https://evil.example"}
        )
        assert forged.status_code == 403
        preflight = await client.options(
            "/auth/login", headers={"origin": TRUSTED, "access-control-request-method": "POST"}
        )
        assert (
            preflight.status_code == 204
            and preflight.headers["access-control-allow-origin"] == TRUSTED
        )

        await log_in(client)
        assert (await client.get("/auth/getusers/me")).json()["username"] == "alice"
        assert (await client.get("/auth/readyz")).json() == {"status": "ok"}


async def test_current_user_on_a_host_route():
    async with serving(host_app(make_auth())) as client:
        missing = await client.get("/mine")
        assert (missing.status_code, missing.json()) == (401, {"detail": "Not authenticated"})
        assert "set-cookie" not in missing.headers

        client.cookies.set("session_id", "not a token")
        malformed = await client.get("/mine")
        assert malformed.status_code == 401
        assert "Max-Age=0" in malformed.headers["set-cookie"]
        client.cookies.clear()

        await log_in(client)
        mine = await client.get("/mine")
        assert mine.status_code == 200
        assert mine.headers["cache-control"] == "no-store"
        assert set(mine.json()) == {"user_id", "username", "created_at", "session_id"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"origin": "https://host.test"}, 200),
        (
            {"origin": TRUSTED, "sec-fetch-site": "cross-site"},
            200,
        ),  # TRUSTED_ORIGINS vouches for it
        ({"origin": "https://evil.example"}, 403),
        ({"sec-fetch-site": "cross-site"}, 403),
        ({"origin": "null"}, 403),
    ],
)
async def test_current_user_refuses_unsafe_requests_from_other_sites(headers, status):
    async with serving(host_app(make_auth(trusted_origins=TRUSTED))) as client:
        await log_in(client)
        assert (await client.post("/act", headers=headers)).status_code == status
        assert (await client.get("/mine", headers=headers)).status_code == 200  # safe methods pass


SCOPES = [
    (method, headers)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    for headers in (
        {},
        {"origin": "https://host.test"},
        {"origin": "https://HOST.test:443"},
        {"origin": "http://host.test"},
        {"origin": "https://evil.example"},
        {"origin": TRUSTED},
        {"origin": "null"},
        {"sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "none"},
        {"sec-fetch-site": "same-site", "origin": "https://host.test"},
        {"sec-fetch-site": "cross-site", "origin": TRUSTED},
        {"origin": "https://host.test", "x-forwarded-proto": "http"},
    )
]


@pytest.mark.parametrize(("method", "headers"), SCOPES)
async def test_refuses_agrees_with_the_middleware(method, headers):
    settings = load_settings(trusted_origins=TRUSTED)
    reached = []

    async def app(scope, receive, send):
        reached.append(True)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    defence = CrossSiteDefence(app, settings.origins, ClientAddress(settings.proxies))
    scope = {
        "type": "http",
        "method": method,
        "scheme": "https",
        "path": "/",
        "headers": [
            (b"host", b"host.test"),
            *((k.encode(), v.encode()) for k, v in headers.items()),
        ],
        "client": ("192.0.2.1", 1234),
    }

    async def receive():
        return {"type": "http.request", "body": b""}

    sent = []

    async def send(message):
        sent.append(message)

    await defence(scope, receive, send)
    refused_by_middleware = sent[0]["status"] == 403 and method != "OPTIONS"
    assert defence.refuses(scope) == refused_by_middleware
    assert not (reached and refused_by_middleware)


async def test_sessionauth_runs_around_the_host_lifespan(migrated_database_url):
    auth = make_auth(database_url=migrated_database_url)
    seen = []

    @asynccontextmanager
    async def lifespan(app):
        # The store is open here: the host's start-up may already use sessionauth's use-cases.
        await auth.container.sign_up().execute(username="admin", password=PASSWORD)
        seen.append("started")
        yield {"from_host": True}
        seen.append("stopped")
        assert await auth.container.store().ping()  # still open while the host stops

    app = host_app(auth, lifespan)
    async with serving(app) as client:
        assert seen == ["started"]
        assert (await client.post("/auth/login", auth=("admin", PASSWORD))).status_code == 200
        assert (await client.get("/mine")).json()["username"] == "admin"
    assert seen == ["started", "stopped"]
    assert not await auth.container.store().ping()  # closed after the host stopped


async def test_install_migrates_a_fresh_database_at_start(database_url):
    async with serving(host_app(make_auth(database_url=database_url))) as client:
        await log_in(client)
        assert (await client.get("/mine")).status_code == 200


async def test_an_unreachable_database_at_start_does_not_stop_the_host_app(caplog):
    auth = make_auth(database_url=f"postgresql://app:{SECRET}@127.0.0.1:{free_port()}/app")
    async with serving(host_app(auth)) as client:
        client.cookies.set("session_id", WELL_FORMED)
        assert (await client.get("/mine")).status_code == 503
        assert (
            await client.post("/auth/signup", json={"username": "alice", "password": PASSWORD})
        ).status_code == 503
        assert (await client.get("/auth/readyz")).status_code == 503
        assert (await client.get("/auth/healthz")).status_code == 200
    not_ready = [r for r in caplog.records if r.getMessage().startswith("store not ready")]
    assert not_ready, caplog.text
    assert "postgresql://app:***@127.0.0.1:" in not_ready[0].store
    assert "refused" in not_ready[0].cause.lower()
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("database", "cause"),
    [("no_such_database", "no such database"), ("role", "refused the role or password")],
)
async def test_a_configuration_error_at_start_stops_the_host_app_naming_it(
    postgres_server_url, database, cause
):
    server = with_database(postgres_server_url, database)
    url = with_secret(server, "no_such_role") if database == "role" else with_secret(server)
    with pytest.raises(RuntimeError) as raised:
        async with serving(host_app(make_auth(database_url=url))):
            pass
    assert cause in str(raised.value)
    assert SECRET not in str(raised.value)


async def test_a_store_that_goes_away_is_503_with_retry_after_on_host_routes():
    # Unreachable from the start, and migrate=False: the first attempt only looks at the schema.
    auth = SessionAuth.from_settings(
        load_settings(
            database_url=f"postgresql://app@127.0.0.1:{free_port()}/app",
            database_timeout=1,
            **FAST_ARGON2,
        ),
        migrate=False,
    )
    async with serving(host_app(auth)) as client:
        client.cookies.set("session_id", WELL_FORMED)
        response = await client.get("/mine")
        assert response.status_code == 503
        assert response.json() == {"detail": "Store unavailable"}
        assert response.headers["retry-after"].isdigit()
        assert (await client.get("/auth/readyz")).status_code == 503


async def test_installing_twice_is_refused_at_start():
    auth = make_auth()
    app = host_app(auth)
    auth.install(app, prefix="/again")
    with pytest.raises(RuntimeError, match="already running"):
        async with serving(app):
            pass


@pytest.mark.parametrize("prefix", ["", "/", "auth", "/auth/"])
def test_the_prefix_must_be_a_path_without_a_trailing_slash(prefix):
    with pytest.raises(ValueError):
        make_auth().install(FastAPI(), prefix=prefix)


async def test_running_without_an_app_gives_the_use_cases():
    auth = make_auth()
    async with auth.running():
        user = await auth.container.sign_up().execute(username="alice", password=PASSWORD)
        result = await auth.container.login().execute(username="alice", password=PASSWORD)
        current = await auth.container.resolve_session().execute(token=result.token)
        assert CurrentUser.of(current).user_id == user.id


async def test_the_openapi_documents_show_the_cookie_and_the_mounted_routes():
    async with serving(host_app(make_auth(session_cookie_name="sid"))) as client:
        host = (await client.get("/openapi.json")).json()
        assert host["paths"]["/mine"]["get"]["security"] == [{"sessionCookie": []}]
        assert host["components"]["securitySchemes"]["sessionCookie"] == {
            "type": "apiKey",
            "in": "cookie",
            "name": "sid",
        }
        mounted = (await client.get("/auth/openapi.json")).json()
        assert {"/signup", "/login", "/logout", "/sessions"} <= set(mounted["paths"])
        assert (await client.get("/auth/docs")).status_code == 200


async def test_a_mailed_link_to_the_mounted_pages_keeps_its_token_under_the_mount():
    auth = make_auth(mail_url="console:", public_url="https://host.test/auth")
    async with serving(host_app(auth)) as client:
        token = "A" * 43
        opened = await client.get("/auth/ui/reset-password", params={"token": token})
        assert opened.status_code == 303
        assert opened.headers["location"].endswith("/auth/ui/reset-password")
        cookie = set_cookie_attributes(opened, "session_id_reset")
        assert cookie["value"] == token
        assert cookie["path"] == "/auth/ui/reset-password"  # that page alone, under the mount
        assert "httponly" in cookie and "secure" in cookie
