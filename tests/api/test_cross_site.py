"""Cross-site request defence and CORS: each rule of the spec, in its order."""

import httpx
import pytest

from entrypoints.http.client_address import ClientAddress
from entrypoints.http.cross_site import CrossSiteDefence
from entrypoints.settings import load_settings

TRUSTED = "https://app.example.com"


async def echo(scope, receive, send):
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"reached"})


def client(proxies="", peer="192.0.2.1", base="https://auth.example.com"):
    settings = load_settings(
        trusted_origins=f"{TRUSTED}, http://LOCALHOST:80", trusted_proxies=proxies
    )
    app = CrossSiteDefence(echo, settings.origins, ClientAddress(settings.proxies))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(peer, 1234)), base_url=base
    )


async def post(headers, **kwargs):
    async with client(**kwargs) as c:
        return await c.post("/login", headers=headers)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_rule1_a_trusted_origin_passes_even_cross_site(method):
    async with client() as c:
        response = await c.request(
            method, "/x", headers={"origin": TRUSTED, "sec-fetch-site": "cross-site"}
        )
    assert response.status_code == 200 and response.text == "reached"


@pytest.mark.parametrize(
    "origin", ["HTTPS://APP.EXAMPLE.COM", "https://app.example.com:443", "http://localhost"]
)
async def test_rule1_origins_compare_case_insensitively_without_default_ports(origin):
    assert (await post({"origin": origin, "sec-fetch-site": "cross-site"})).status_code == 200


@pytest.mark.parametrize(
    ("site", "status"),
    [("same-origin", 200), ("none", 200), ("same-site", 403), ("cross-site", 403)],
)
async def test_rule2_sec_fetch_site_decides_when_present(site, status):
    # Even an Origin equal to our own does not override Sec-Fetch-Site: rule 2 comes first.
    headers = {"sec-fetch-site": site, "origin": "https://auth.example.com"}
    response = await post(headers)
    assert response.status_code == status
    if status == 403:
        assert response.json() == {"detail": "Cross-site request refused"}


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://auth.example.com", 200),
        ("https://AUTH.example.com:443", 200),
        ("http://auth.example.com", 403),  # another scheme is another origin
        ("https://auth.example.com:8443", 403),
        ("https://evil.example", 403),
        ("null", 403),
        ("garbage", 403),
    ],
)
async def test_rule3_origin_must_be_our_own_without_sec_fetch_site(origin, status):
    assert (await post({"origin": origin})).status_code == status


async def test_rule4_no_origin_and_no_sec_fetch_site_passes():
    assert (await post({})).status_code == 200


async def test_safe_methods_are_never_refused():
    async with client() as c:
        response = await c.get(
            "/x", headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
        )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


async def test_forwarded_proto_and_host_are_believed_only_from_trusted_proxies():
    headers = {
        "origin": "https://public.example",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "public.example",
    }
    trusted = await post(
        headers, proxies="10.0.0.0/8", peer="10.1.2.3", base="http://internal:8000"
    )
    untrusted = await post(
        headers, proxies="10.0.0.0/8", peer="192.0.2.9", base="http://internal:8000"
    )
    assert (trusted.status_code, untrusted.status_code) == (200, 403)


async def test_trusted_origins_get_credentialed_cors_headers():
    async with client() as c:
        response = await c.get("/x", headers={"origin": TRUSTED})
    assert response.headers["access-control-allow-origin"] == TRUSTED
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin"


async def test_other_origins_get_no_cors_headers():
    async with client() as c:
        response = await c.get("/x", headers={"origin": "https://evil.example"})
    assert not any(h.startswith("access-control-") for h in response.headers)


async def test_a_preflight_from_a_trusted_origin_is_answered():
    async with client() as c:
        response = await c.options(
            "/login", headers={"origin": TRUSTED, "access-control-request-method": "POST"}
        )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == TRUSTED
    assert "POST" in response.headers["access-control-allow-methods"]
    assert response.headers["access-control-allow-credentials"] == "true"


async def test_a_preflight_from_another_origin_is_refused_without_cors_headers():
    async with client() as c:
        response = await c.options(
            "/login",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
    assert response.status_code == 403
    assert not any(h.startswith("access-control-") for h in response.headers)


async def test_the_app_refuses_a_cross_site_post_with_a_json_403(client):
    response = await client.post("/logout", headers={"sec-fetch-site": "cross-site"})
    assert response.status_code == 403
    assert response.json() == {"detail": "Cross-site request refused"}
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("proxies", "peer", "xff", "expected"),
    [
        ("", "192.0.2.1", "198.51.100.7", "192.0.2.1"),  # no trusted proxies: the peer, always
        ("10.0.0.0/8", "192.0.2.1", "198.51.100.7", "192.0.2.1"),  # untrusted peer: header ignored
        ("10.0.0.0/8", "10.0.0.2", "198.51.100.7", "198.51.100.7"),
        (
            "10.0.0.0/8",
            "10.0.0.2",
            "6.6.6.6, 198.51.100.7, 10.0.0.9",
            "198.51.100.7",
        ),  # forged left part skipped
        ("10.0.0.0/8", "10.0.0.2", "10.0.0.5, 10.0.0.9", "10.0.0.5"),
        ("10.0.0.0/8", "10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.0/8", "10.0.0.2", "junk, 198.51.100.7", "198.51.100.7"),
        ("10.0.0.0/8", "10.0.0.2", "198.51.100.7, junk", "10.0.0.2"),
        ("10.0.0.2, 2001:db8::/32", "2001:db8::1", "2001:db8::2, 203.0.113.5", "203.0.113.5"),
    ],
)
def test_client_address_from_trusted_proxies(proxies, peer, xff, expected):
    addresses = ClientAddress(load_settings(trusted_proxies=proxies).proxies)
    scope = {"client": (peer, 1), "headers": [(b"x-forwarded-for", xff.encode())] if xff else []}
    assert addresses.of(scope) == expected


async def test_the_fast_path_leaves_cross_origin_gets_to_the_cors_rules(make_client):
    async with make_client(trusted_origins=TRUSTED) as c:
        await c.post(
            "/signup", json={"username": "alice", "password": "correct horse battery staple"}
        )
        await c.post("/login", auth=("alice", "correct horse battery staple"))
        trusted = await c.get("/auth/verify", headers={"origin": TRUSTED})
        other = await c.get("/auth/verify", headers={"origin": "https://evil.example"})
        plain = await c.get("/auth/verify")
    assert trusted.status_code == other.status_code == plain.status_code == 200
    assert trusted.headers["access-control-allow-origin"] == TRUSTED
    assert trusted.headers["x-auth-username"] == "alice"
    assert (
        "access-control-allow-origin" not in other.headers
        and "access-control-allow-origin" not in plain.headers
    )
    for response in (trusted, other, plain):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
