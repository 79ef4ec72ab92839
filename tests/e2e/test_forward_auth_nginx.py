"""Forward auth through a real nginx (Debian's package) running the shipped
docker/nginx/forward-auth.conf, in front of a real `sessionauth serve` on Postgres and a recording
application on loopback.

Without nginx installed these tests fail (never skip), saying how to install it. The processes
start inside the first test that needs them, so that such a problem is a test failure rather than
a setup error.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import quote, unquote

import httpx
import pytest

from tests.e2e.nginx_runner import Nginx, nginx_binary, nginx_in_front
from tests.e2e.recording_upstream import RecordingUpstream, recording_upstream
from tests.processes import Server, free_port, serving

PASSWORD = "correct horse battery staple"
COOKIE = "session_id"
SPOOFED_ID = "00000000-0000-0000-0000-000000000000"


class Stack:
    """sessionauth, the recording application and nginx in front of both, started on first use."""

    def __init__(self, database_url: str, exits: ExitStack) -> None:
        self._database_url = database_url
        self._exits = exits
        self._started: tuple[Server, RecordingUpstream, Nginx] | None = None

    def start(self) -> tuple[Server, RecordingUpstream, Nginx]:
        if self._started is None:
            nginx_binary()  # fails with the install hint before anything else starts
            # All of loopback is trusted, clients' addresses too: as broad as a Docker network's
            # CIDR, which holds the gateway that published ports' clients come through. nginx must
            # then replace a client's X-Forwarded-For, not append to it.
            server = self._exits.enter_context(
                serving(DATABASE_URL=self._database_url, TRUSTED_PROXIES="127.0.0.0/8")
            )
            upstream = self._exits.enter_context(recording_upstream())
            port = int(server.url.rsplit(":", 1)[1])
            nginx = self._exits.enter_context(
                nginx_in_front(sessionauth_ports=[port], app_port=upstream.port)
            )
            self._started = (server, upstream, nginx)
        server, upstream, nginx = self._started
        upstream.clear()
        return server, upstream, nginx


@pytest.fixture(scope="module")
def stack(database_url: str) -> Iterator[Stack]:
    with ExitStack() as exits:
        yield Stack(database_url, exits)


def sign_up_and_log_in(nginx: Nginx, username: str | None = None) -> tuple[dict, str]:
    """A new user, signed up and logged in through nginx: (the user object, the session token)."""
    username = username or f"user.{secrets.token_hex(4)}"
    with httpx.Client(base_url=nginx.url, timeout=30) as client:
        signup = client.post("/signup", json={"username": username, "password": PASSWORD})
        assert signup.status_code == 201, signup.text
        login = client.post("/login", auth=(username, PASSWORD))
        assert login.status_code == 200, login.text
        return signup.json()["user"], login.cookies[COOKIE]


def get_app(nginx: Nginx, token: str | None, path: str = "/app/page", **kwargs) -> httpx.Response:
    headers = list(kwargs.pop("headers", []))
    if token is not None:
        headers.append(("cookie", f"{COOKIE}={token}"))
    return httpx.request(
        kwargs.pop("method", "GET"), nginx.url + path, headers=headers, timeout=30, **kwargs
    )


def assert_refused_by_nginx(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "Not authenticated"}
    assert response.headers["cache-control"] == "no-store"


def test_requests_without_a_valid_session_never_reach_the_application(stack: Stack) -> None:
    _, upstream, nginx = stack.start()
    spoof = [("X-Auth-User-Id", SPOOFED_ID), ("X-Auth-Username", "admin")]

    for token in (None, "garbage", secrets.token_urlsafe(32)):
        assert_refused_by_nginx(get_app(nginx, token, headers=spoof))
        assert_refused_by_nginx(get_app(nginx, token, method="POST", json={"a": 1}, headers=spoof))
        assert_refused_by_nginx(get_app(nginx, token, path="/metrics"))

    assert upstream.received == []


def test_a_cookie_naming_no_session_is_expired_by_the_401(stack: Stack) -> None:
    _, upstream, nginx = stack.start()

    response = get_app(nginx, secrets.token_urlsafe(32))

    assert_refused_by_nginx(response)
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE}=") and "max-age=0" in set_cookie.lower()
    assert upstream.received == []


def test_a_session_reaches_the_application_with_the_user_id_and_encoded_username(
    stack: Stack,
) -> None:
    _, upstream, nginx = stack.start()
    username = f"Jürgen.Groß{secrets.token_hex(3)}"
    user, token = sign_up_and_log_in(nginx, username)
    assert upstream.received == []  # sign-up and login went to sessionauth, not to the application

    page = get_app(nginx, token, path="/app/page?q=1")
    posted = get_app(nginx, token, path="/app/form", method="POST", content=b"field=value")

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


def test_identity_headers_sent_by_the_client_are_replaced(stack: Stack) -> None:
    _, upstream, nginx = stack.start()
    user, token = sign_up_and_log_in(nginx)
    spoof = [
        ("X-Auth-User-Id", SPOOFED_ID),
        ("x-auth-user-id", SPOOFED_ID),  # a second one, in another case
        ("X_Auth_User_Id", SPOOFED_ID),  # what CGI-style frameworks would read as the same header
        ("X-Auth-Username", "admin"),
        ("x_auth_username", "admin"),
    ]

    response = get_app(nginx, token, headers=spoof)

    assert response.status_code == 200, response.text
    (received,) = upstream.received
    assert received.values("X-Auth-User-Id") == [user["user_id"]]
    assert received.values("X-Auth-Username") == [
        user["username"]
    ]  # ASCII: encoding leaves it as is
    assert not [name for name, _ in received.headers if "_" in name]
    assert not [value for _, value in received.headers if value in (SPOOFED_ID, "admin")]


def test_a_revoked_or_logged_out_session_is_refused_at_once(stack: Stack) -> None:
    _, upstream, nginx = stack.start()
    user, first = sign_up_and_log_in(nginx)
    with httpx.Client(base_url=nginx.url, timeout=30) as client:
        second = client.post("/login", auth=(user["username"], PASSWORD)).cookies[COOKIE]
    assert get_app(nginx, first).status_code == 200
    upstream.clear()

    # the second session ends the first, through nginx
    sessions = httpx.get(
        f"{nginx.url}/sessions", headers={"cookie": f"{COOKIE}={second}"}, timeout=30
    )
    (first_id,) = [s["id"] for s in sessions.json() if not s["current"]]
    revoked = httpx.delete(
        f"{nginx.url}/sessions/{first_id}", headers={"cookie": f"{COOKIE}={second}"}, timeout=30
    )
    assert revoked.status_code == 204, revoked.text
    assert_refused_by_nginx(get_app(nginx, first))

    # a browser's logout: its Origin is the origin it used, which sessionauth sees through nginx
    browser = {"cookie": f"{COOKIE}={second}", "origin": nginx.url}
    cross_site = httpx.post(
        f"{nginx.url}/logout", headers={**browser, "origin": "https://evil.example"}, timeout=30
    )
    assert cross_site.status_code == 403, cross_site.text
    logout = httpx.post(f"{nginx.url}/logout", headers=browser, timeout=30)
    assert logout.status_code == 200, logout.text
    assert_refused_by_nginx(get_app(nginx, second))

    assert upstream.received == []


CROSS_SITE = [("origin", "https://evil.example"), ("sec-fetch-site", "cross-site")]


def assert_cross_site_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == {"detail": "Cross-site request refused"}
    assert response.headers["cache-control"] == "no-store"


def test_a_cross_site_post_is_refused_before_it_reaches_the_application(stack: Stack) -> None:
    _, upstream, nginx = stack.start()
    _, token = sign_up_and_log_in(nginx)
    # What a client may add to talk its way past: nginx asks sessionauth with its own values.
    claims = [
        ("x-original-method", "GET"),
        ("x-forwarded-method", "GET"),
        ("x-forwarded-host", "evil.example"),
    ]

    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert_cross_site_refused(
            get_app(nginx, token, path="/app/form", method=method, headers=CROSS_SITE)
        )
    assert_cross_site_refused(
        get_app(nginx, token, path="/app/form", method="POST", headers=[*CROSS_SITE, *claims])
    )
    # An older browser sends no Sec-Fetch-Site: its Origin is compared with the one it used.
    assert_cross_site_refused(
        get_app(nginx, token, method="POST", headers=[("origin", "https://evil.example")])
    )
    # Refused before the session is looked at: without one, the answer is the same 403.
    assert_cross_site_refused(
        get_app(nginx, None, path="/app/form", method="POST", headers=CROSS_SITE)
    )

    assert upstream.received == []


def test_a_same_site_post_and_a_cross_site_get_reach_the_application(stack: Stack) -> None:
    _, upstream, nginx = stack.start()
    user, token = sign_up_and_log_in(nginx)

    same_site = get_app(
        nginx,
        token,
        path="/app/form",
        method="POST",
        content=b"a=1",
        headers=[("origin", nginx.url), ("sec-fetch-site", "same-origin")],
    )
    origin_only = get_app(
        nginx,
        token,
        path="/app/form",
        method="POST",
        content=b"a=2",
        headers=[("origin", nginx.url)],
    )
    cross_site_get = get_app(nginx, token, path="/app/page", headers=CROSS_SITE)

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


def test_sessionauth_sees_the_client_address_nginx_saw_not_the_one_claimed(stack: Stack) -> None:
    _, _, nginx = stack.start()
    user, _ = sign_up_and_log_in(nginx)
    # Another loopback address than nginx's own (127.0.0.1), so the two can be told apart.
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    claims = {"X-Forwarded-For": "203.0.113.7"}
    with httpx.Client(
        base_url=nginx.url, transport=transport, headers=claims, timeout=30
    ) as client:
        assert client.post("/login", auth=(user["username"], PASSWORD)).status_code == 200
        sessions = client.get("/sessions")

    (current,) = [s for s in sessions.json() if s["current"]]
    assert current["ip"] == "127.0.0.3"


def test_sessionauth_unreachable_is_a_503_and_the_application_is_not_reached() -> None:
    nginx_binary()
    nowhere = free_port()  # nothing listens there
    with (
        recording_upstream() as upstream,
        nginx_in_front(sessionauth_ports=[nowhere], app_port=upstream.port) as nginx,
    ):
        response = get_app(nginx, secrets.token_urlsafe(32))

        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert upstream.received == []


def test_one_login_serves_applications_on_several_subdomains(database_url: str) -> None:
    nginx_binary()
    settings = {
        "DATABASE_URL": database_url,
        "TRUSTED_PROXIES": "127.0.0.1",
        "SESSION_COOKIE_DOMAIN": "example.test",
    }
    with (
        serving(**settings) as server,
        recording_upstream() as upstream,
        nginx_in_front(
            sessionauth_ports=[int(server.url.rsplit(":", 1)[1])], app_port=upstream.port
        ) as nginx,
    ):
        username = f"sub.{secrets.token_hex(4)}"
        app = {"host": "app.example.test"}
        signup = httpx.post(
            f"{nginx.url}/signup", json={"username": username, "password": PASSWORD}, headers=app
        )
        assert signup.status_code == 201, signup.text
        login = httpx.post(f"{nginx.url}/login", auth=(username, PASSWORD), headers=app)
        assert login.status_code == 200, login.text

        # The browser keeps a Domain=example.test cookie for every host under example.test.
        (set_cookie,) = [
            c for c in login.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}=")
        ]
        assert "domain=example.test" in set_cookie.lower()
        token = set_cookie.split(";", 1)[0].split("=", 1)[1]
        response = get_app(nginx, token, headers=[("host", "api.example.test")])

        assert response.status_code == 200, response.text
        (received,) = upstream.received
        assert received.values("X-Forwarded-Host") == ["api.example.test"]
        assert received.values("X-Auth-Username") == [username]
