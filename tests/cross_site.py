"""What a cross-site refusal looks like, for the suites that provoke one: the API tests ask
/auth/verify directly, the e2e forward-auth suite asks through nginx and Traefik."""

import httpx

EVIL_ORIGIN = "https://evil.example"
# What a browser sends with a request that another site's page makes.
CROSS_SITE = {"origin": EVIL_ORIGIN, "sec-fetch-site": "cross-site"}
REFUSED = {"detail": "Cross-site request refused"}


def assert_cross_site_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json() == REFUSED
    # no identity for the application to act on, and nothing a cache may keep
    assert "x-auth-user-id" not in response.headers and "x-auth-username" not in response.headers
    assert response.headers["cache-control"] == "no-store"
