"""Forward auth applies the cross-site rules to the original request it is asked about.

The proxy asks `GET /auth/verify` about a request whose method comes in `X-Forwarded-Method`
(Traefik) or `X-Original-Method` (the shipped nginx configuration), with the browser's `Origin`
and `Sec-Fetch-Site`: an unsafe original request from another site gets 403, so that the
protected application inherits the defence. Each test runs with the fast path and without it.
"""

import pytest

from entrypoints.http.client_address import ClientAddress
from entrypoints.http.cross_site import CrossSiteDefence
from entrypoints.settings import load_settings
from tests.api.client import log_in, running_client, sign_up
from tests.cross_site import CROSS_SITE, EVIL_ORIGIN, assert_cross_site_refused

TRUSTED = "https://partner.example"
PROXY = "192.0.2.10"  # the ASGI transport's peer in tests/api/conftest.py


@pytest.fixture(params=[True, False], ids=["fast-path", "full-stack"])
async def client(request):
    async with running_client(
        fast_path=request.param, trusted_origins=TRUSTED, trusted_proxies=PROXY
    ) as client:
        await sign_up(client)
        await log_in(client)
        yield client


async def verify(client, headers, cookie=True):
    if not cookie:
        client.cookies.clear()
    return await client.get("/auth/verify", headers=headers)


@pytest.mark.parametrize("header", ["x-forwarded-method", "x-original-method"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_an_unsafe_original_request_from_another_site_is_refused(client, header, method):
    assert_cross_site_refused(await verify(client, {header: method, **CROSS_SITE}))
    assert_cross_site_refused(
        await verify(client, {header: method, "sec-fetch-site": "cross-site"})
    )
    assert_cross_site_refused(await verify(client, {header: method, "sec-fetch-site": "same-site"}))
    assert_cross_site_refused(await verify(client, {header: method, "origin": EVIL_ORIGIN}))
    assert_cross_site_refused(await verify(client, {header: method, "origin": "null"}))


@pytest.mark.parametrize("header", ["x-forwarded-method", "x-original-method"])
@pytest.mark.parametrize(
    "browser",
    [
        {"sec-fetch-site": "same-origin", "origin": "https://app.example"},
        {"sec-fetch-site": "none"},
        {},  # curl, a server-side client
        {"origin": TRUSTED, "sec-fetch-site": "cross-site"},  # TRUSTED_ORIGINS vouches for it
    ],
)
async def test_an_unsafe_original_request_from_the_same_site_passes(client, header, browser):
    response = await verify(client, {header: "POST", **browser})
    assert response.status_code == 200, response.text
    assert response.headers["x-auth-username"] == "alice"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
async def test_a_safe_original_request_from_another_site_passes(client, method):
    response = await verify(client, {"x-forwarded-method": method, **CROSS_SITE})
    assert response.status_code == 200, response.text
    assert response.headers["x-auth-username"] == "alice"


async def test_without_a_method_header_the_check_is_about_a_get(client):
    response = await verify(client, CROSS_SITE)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "methods",
    [
        [("x-forwarded-method", "GET, POST")],  # a proxy that appends to a client's header
        [("x-forwarded-method", "POST, GET")],
        [("x-forwarded-method", "GET"), ("x-forwarded-method", "POST")],
        [("x-forwarded-method", "GET"), ("x-original-method", "POST")],
        [("x-original-method", "GET"), ("x-forwarded-method", "DELETE")],
        [("x-forwarded-method", "post")],  # methods are case-sensitive: not GET, so not known safe
        [("x-forwarded-method", "PROPFIND")],  # WebDAV: unknown here, so not known safe
        [("x-forwarded-method", "")],
        [("x-forwarded-method", " ")],
        [("x-forwarded-method", "GET POST")],
        [("x-original-method", "G\u00c9T")],
    ],
)
async def test_a_method_header_that_is_not_one_safe_method_is_checked_as_unsafe(client, methods):
    headers = [*((k, v.encode("latin-1")) for k, v in methods), *CROSS_SITE.items()]
    assert_cross_site_refused(await verify(client, headers))
    same_origin = [
        *((k, v.encode("latin-1")) for k, v in methods),
        ("sec-fetch-site", "same-origin"),
    ]
    assert (await verify(client, same_origin)).status_code == 200


async def test_an_unauthenticated_cross_site_post_is_a_403_before_any_session_check(client):
    for cookie in ({}, {"cookie": "session_id=not-a-session"}):
        client.cookies.clear()
        response = await client.get(
            "/auth/verify", headers={"x-forwarded-method": "POST", **CROSS_SITE, **cookie}
        )
        assert_cross_site_refused(response)
        assert "set-cookie" not in response.headers  # the refusal looked at no session


async def test_the_original_origin_is_the_forwarded_host_and_scheme_from_a_trusted_proxy(client):
    forwarded = {
        "x-forwarded-method": "POST",
        "x-forwarded-host": "app.example",
        "x-forwarded-proto": "https",
    }
    ours = await verify(client, {**forwarded, "origin": "https://app.example"})
    other_scheme = await verify(client, {**forwarded, "origin": "http://app.example"})
    other_host = await verify(client, {**forwarded, "origin": EVIL_ORIGIN})
    assert ours.status_code == 200, ours.text
    assert_cross_site_refused(other_scheme)
    assert_cross_site_refused(other_host)


async def test_forwarded_host_is_not_believed_from_an_untrusted_peer():
    async with running_client(fast_path=False, trusted_proxies="10.0.0.0/8") as client:
        await sign_up(client)
        await log_in(client)
        forwarded = {
            "x-forwarded-method": "POST",
            "x-forwarded-host": "app.example",
            "x-forwarded-proto": "https",
        }
        # Without a proxy's word, the request's own origin is the Host it came with.
        assert_cross_site_refused(
            await verify(client, {**forwarded, "origin": "https://app.example"})
        )
        assert (
            await verify(client, {**forwarded, "origin": "https://testserver"})
        ).status_code == 200


@pytest.mark.parametrize(("method", "refused"), [("POST", True), ("DELETE", True), ("GET", False)])
def test_refuses_judges_a_forward_auth_check_as_the_middleware_does(method, refused):
    # SessionAuth.current_user (embedding) asks `refuses` rather than running the middleware.
    settings = load_settings(trusted_proxies=PROXY)
    defence = CrossSiteDefence(None, settings.origins, ClientAddress(settings.proxies))
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/auth/verify",
        "scheme": "https",
        "headers": [
            (b"host", b"testserver"),
            (b"x-forwarded-method", method.encode()),
            (b"sec-fetch-site", b"cross-site"),
        ],
        "client": (PROXY, 1),
    }
    assert defence.refuses(scope) is refused
