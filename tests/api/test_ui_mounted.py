"""The browser pages of an embedded sessionauth (`auth.install(app, prefix="/auth")`): every link,
form action, redirect and the stylesheet stay under /auth/ui/, every page keeps its headers, and
the host app's own routes (its own /ui/ included) get none of them. The flow below only follows
what the pages themselves link to, as a browser would."""

import re
from html import unescape

import httpx
from fastapi.responses import HTMLResponse
from prometheus_client.parser import text_string_to_metric_families

from tests.api.host_app import host_app, make_auth, serving
from tests.api.responses import assert_html, assert_page_headers
from tests.constants import PASSWORD

UI = "/auth/ui/"
# Every URL a page can name: links, the stylesheet, form actions, and any image or script source.
URL_ATTRIBUTE = re.compile(r'\s(?:href|action|src)="([^"]*)"')
FORM_ACTION = re.compile(r'<form [^>]*\baction="([^"]*)"')
STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]*)"')


def urls(page: httpx.Response) -> list[str]:
    return [unescape(url) for url in URL_ATTRIBUTE.findall(page.text)]


def form_action(page: httpx.Response, ending: str) -> str:
    actions = [unescape(url) for url in FORM_ACTION.findall(page.text) if url.endswith(ending)]
    assert len(actions) == 1, (ending, FORM_ACTION.findall(page.text))
    return actions[0]


def assert_mounted_page(page: httpx.Response) -> None:
    """A page of the mounted UI, and every answer on the way to it, stays under /auth/ui/."""
    for answer in [*page.history, page]:
        assert_page_headers(answer)
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        if answer.is_redirect:
            assert answer.headers["location"].startswith(UI), answer.headers["location"]
    assert page.url.path.startswith(UI)
    assert_html(page)
    assert urls(page), page.text
    assert all(url.startswith(UI) for url in urls(page)), urls(page)
    assert not re.search(r'="/ui[/"?]', page.text)


async def submit(
    client: httpx.AsyncClient, page: httpx.Response, ending: str, **fields: str
) -> httpx.Response:
    return await client.post(form_action(page, ending), data=fields, follow_redirects=True)


async def test_sign_up_log_in_revoke_and_log_out_all_under_the_prefix():
    app = host_app(make_auth())
    async with serving(app) as client, serving_also(app) as elsewhere:
        signup = await client.get(f"{UI}signup")
        assert_mounted_page(signup)
        assert STYLESHEET.findall(signup.text) == ["/auth/ui/static/ui.css"]
        stylesheet = STYLESHEET.findall(signup.text)[0]
        css = await client.get(stylesheet)
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert_page_headers(css)

        login = await submit(client, signup, "/signup", username="alice", password=PASSWORD)
        assert (
            login.history[0].headers["location"] == "/auth/ui/login?notice=signed-up&username=alice"
        )
        assert_mounted_page(login)
        assert "Account created." in login.text

        home = await submit(client, login, "/login", username="alice", password=PASSWORD)
        assert [r.headers["location"] for r in home.history] == [UI]
        assert_mounted_page(home)
        assert '<dd id="username">alice</dd>' in home.text

        # A second session, from another browser, to end from the account page.
        other = await submit(
            elsewhere,
            await elsewhere.get(f"{UI}login"),
            "/login",
            username="alice",
            password=PASSWORD,
        )
        assert_mounted_page(other)
        home = await client.get(UI)
        assert home.text.count('class="card session') == 2
        other_id = next(
            s["id"] for s in (await client.get("/auth/sessions")).json() if not s["current"]
        )
        home = await submit(client, home, f"/sessions/{other_id}/revoke")
        assert [r.headers["location"] for r in home.history] == [f"{UI}?notice=revoked"]
        assert_mounted_page(home)
        assert "That session has ended." in home.text

        ended = await elsewhere.get(UI, follow_redirects=True)
        assert [r.headers["location"] for r in ended.history] == [f"{UI}login?notice=ended"]
        assert_mounted_page(ended)

        logged_out = await submit(client, home, "/logout")
        assert [r.headers["location"] for r in logged_out.history] == [
            f"{UI}login?notice=logged-out"
        ]
        assert_mounted_page(logged_out)
        assert "You have logged out." in logged_out.text
        assert (await client.get("/mine")).status_code == 401


async def test_error_answers_under_the_prefix_are_pages_that_link_under_it():
    async with serving(host_app(make_auth())) as client:
        missing = await client.get(f"{UI}nowhere")
        assert missing.status_code == 404
        assert_mounted_page(missing)

        # Refused by the cross-site defence, before any page route: the middleware's HTML page.
        forged = await client.post(
            f"{UI}login", data={"username": "a"}, headers={"origin": "https://evil.example"}
        )
        assert forged.status_code == 403
        assert_mounted_page(forged)
        assert "came from another site" in forged.text

        # A page route's own error page.
        await client.post("/auth/signup", json={"username": "alice", "password": PASSWORD})
        await client.post(f"{UI}login", data={"username": "alice", "password": PASSWORD})
        gone = await client.post(f"{UI}sessions/{'0' * 32}/revoke")
        assert gone.status_code == 404
        assert_mounted_page(gone)


async def test_the_host_apps_routes_get_none_of_the_page_headers():
    app = host_app(make_auth())

    @app.get("/ui/", response_class=HTMLResponse)
    async def hosts_own_page() -> str:
        return "<!doctype html><p>the host's own page</p>"

    async with serving(app) as client:
        for path in ("/ui/", "/mine", "/ui/nowhere"):
            response = await client.get(path)
            assert response.status_code in (200, 401, 404)
            for header in ("content-security-policy", "x-frame-options", "referrer-policy"):
                assert header not in response.headers, (path, header)
        assert (await client.get("/ui/")).text == "<!doctype html><p>the host's own page</p>"
        assert (await client.get("/ui/nowhere")).json() == {
            "detail": "Not Found"
        }  # the host's own 404


async def test_the_mounted_metrics_label_requests_by_the_services_own_route_templates():
    async with serving(host_app(make_auth())) as client:
        await client.post("/auth/signup", json={"username": "alice", "password": PASSWORD})
        await client.post("/auth/login", auth=("alice", PASSWORD))
        await client.get(f"{UI}login")
        await client.get("/auth/sessions")
        await client.delete(f"/auth/sessions/{'0' * 32}")
        await client.post(f"{UI}sessions/{'0' * 32}/revoke")
        await client.get("/auth/nowhere")
        await client.get("/mine")  # the host's: not the mounted app's to measure
        scraped = await client.get("/auth/metrics")
    assert scraped.status_code == 200
    routes = {
        (sample.labels["route"], sample.labels["method"])
        for family in text_string_to_metric_families(scraped.text)
        if family.name == "sessionauth_http_request_duration_seconds"
        for sample in family.samples
        if sample.name.endswith("_count") and sample.value > 0
    }
    assert {
        ("/signup", "POST"),
        ("/login", "POST"),
        ("/ui/login", "GET"),
        ("/sessions", "GET"),
        ("/sessions/{session_id}", "DELETE"),
        ("/ui/sessions/{session_id}/revoke", "POST"),
        ("unmatched", "GET"),
    } <= routes
    assert not [route for route, _ in routes if route.startswith("/auth") or route == "/mine"]


def serving_also(app):
    """A second client (another browser) on the same running app: no second lifespan."""
    transport = httpx.ASGITransport(app=app, client=("192.0.2.31", 50000))
    return httpx.AsyncClient(transport=transport, base_url="https://host.test")
