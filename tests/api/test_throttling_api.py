"""Throttling over HTTP: 429 with Retry-After, the device cookie, and client addresses."""

import asyncio
import time
from collections import Counter

import httpx
import pytest

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.api.client import running_client, sign_up
from tests.api.responses import set_cookie_attributes
from tests.constants import FAST_ARGON2, PASSWORD


async def wrong(client, **headers):
    return await client.post("/login", auth=("alice", "wrong password"), headers=headers)


async def test_login_is_throttled_with_retry_after_even_for_the_right_password():
    async with running_client(throttle_login_per_address=3, throttle_window=600) as client:
        await sign_up(client)
        for _ in range(3):
            assert (await wrong(client)).status_code == 401
        response = await client.post("/login", auth=("alice", PASSWORD))
        assert response.status_code == 429
        assert response.json() == {"detail": "Too many attempts; try again later"}
        assert 0 < int(response.headers["retry-after"]) <= 600
        assert "set-cookie" not in response.headers


async def test_the_device_cookie_is_set_at_login_with_the_session_cookies_rules():
    async with running_client(
        session_cookie_samesite="strict", session_cookie_domain="example.com"
    ) as client:
        await sign_up(client)
        response = await client.post("/login", auth=("alice", PASSWORD))
    device = set_cookie_attributes(response, name="session_id_device")
    assert {"httponly", "secure"} <= set(device)
    assert (
        device["path"] == "/"
        and device["samesite"].lower() == "strict"
        and device["domain"] == "example.com"
    )
    assert int(device["max-age"]) >= 30 * 24 * 3600


async def test_logout_keeps_the_device_cookie():
    async with running_client() as client:
        await sign_up(client)
        await client.post("/login", auth=("alice", PASSWORD))
        out = await client.post("/logout")
        assert all(
            not h.startswith("session_id_device=") for h in out.headers.get_list("set-cookie")
        )


async def test_the_owner_logs_in_while_an_attacker_holds_the_account_limit_down():
    async with running_client(
        throttle_login_per_account=3, throttle_login_per_address=100
    ) as client:
        await sign_up(client)
        owner = await client.post("/login", auth=("alice", PASSWORD))
        device = set_cookie_attributes(owner, name="session_id_device")["value"]
        client.cookies.clear()
        for _ in range(5):
            await wrong(client)
        assert (await client.post("/login", auth=("alice", PASSWORD))).status_code == 429
        with_device = await client.post(
            "/login", auth=("alice", PASSWORD), headers={"cookie": f"session_id_device={device}"}
        )
        assert with_device.status_code == 200


async def test_sign_ups_are_throttled_per_address():
    async with running_client(throttle_signup_per_address=2) as client:
        await sign_up(client, "alice")
        assert (
            await client.post("/signup", json={"username": "alice", "password": PASSWORD})
        ).status_code == 409
        response = await client.post("/signup", json={"username": "carol", "password": PASSWORD})
        assert response.status_code == 429 and int(response.headers["retry-after"]) > 0


async def client_behind(proxies: str, peer: str, **settings):
    container = build_container(
        load_settings(
            database_url=None,
            trusted_proxies=proxies,
            throttle_login_per_address=2,
            throttle_login_per_account=0,
            **FAST_ARGON2,
            **settings,
        )
    )
    app = create_app(container)
    transport = httpx.ASGITransport(app=app, client=(peer, 1234))
    return app, httpx.AsyncClient(transport=transport, base_url="https://testserver")


async def test_x_forwarded_for_from_an_untrusted_peer_cannot_dodge_the_throttle():
    app, client = await client_behind("", "192.0.2.50")
    async with app.router.lifespan_context(app), client:
        await sign_up(client)
        for i in range(2):
            await wrong(client, **{"x-forwarded-for": f"198.51.100.{i}"})
        response = await client.post(
            "/login", auth=("alice", PASSWORD), headers={"x-forwarded-for": "198.51.100.77"}
        )
        assert response.status_code == 429


async def test_behind_a_trusted_proxy_each_forwarded_client_is_counted_apart():
    app, client = await client_behind("10.0.0.0/8", "10.0.0.1")
    async with app.router.lifespan_context(app), client:
        await sign_up(client)
        for _ in range(2):
            await wrong(client, **{"x-forwarded-for": "198.51.100.1"})
        blocked = await client.post(
            "/login", auth=("alice", PASSWORD), headers={"x-forwarded-for": "198.51.100.1"}
        )
        other = await client.post(
            "/login", auth=("alice", PASSWORD), headers={"x-forwarded-for": "198.51.100.2"}
        )
        assert (blocked.status_code, other.status_code) == (429, 200)
        client.cookies.clear()
        sessions = (
            await client.get(
                "/sessions",
                headers={"cookie": f"session_id={set_cookie_attributes(other)['value']}"},
            )
        ).json()
        assert sessions[0]["ip"] == "198.51.100.2"


async def test_an_unknown_user_and_a_wrong_password_take_about_the_same_time():
    # Real argon2id at a modest cost, so that a missing dummy verify would show as a gap of
    # two orders of magnitude; the bound is loose because the point is the order, not the speed.
    # The fastest of each (not the median): other work on a busy machine only ever adds time.
    settings = {
        "argon2_time_cost": 2,
        "argon2_memory_cost": 16 * 1024,
        "argon2_parallelism": 1,
        "throttle_login_per_address": 0,
        "throttle_login_per_account": 0,
    }
    async with running_client(**settings) as client:
        await sign_up(client)
        durations: dict[str, list[float]] = {"alice": [], "nobody": []}
        for _ in range(15):
            for username in durations:
                started = time.perf_counter()
                response = await client.post("/login", auth=(username, "wrong password"))
                durations[username].append(time.perf_counter() - started)
                assert response.status_code == 401
    known, unknown = (min(durations[name]) for name in ("alice", "nobody"))
    assert 0.5 < unknown / known < 2.0, (known, unknown)


@pytest.mark.parametrize("limit", ["throttle_login_per_address", "throttle_login_per_account"])
async def test_a_zero_limit_turns_throttling_off(limit):
    limits = {"throttle_login_per_address": 100, "throttle_login_per_account": 100, limit: 0}
    async with running_client(**limits) as client:
        await sign_up(client)
        for _ in range(60):
            await wrong(client)
        assert (await client.post("/login", auth=("alice", PASSWORD))).status_code == 200


async def test_clients_behind_a_balancer_that_writes_ports_are_counted_apart():
    # Load balancers such as Azure's write `address:port` hops; RFC 7239 brackets IPv6 ones.
    app, client = await client_behind("10.0.0.0/8", "10.0.0.1", throttle_signup_per_address=1)
    async with app.router.lifespan_context(app), client:

        async def signup(username, hop):
            body = {"username": username, "password": PASSWORD}
            return (
                await client.post("/signup", json=body, headers={"x-forwarded-for": hop})
            ).status_code

        assert await signup("alice", "203.0.113.7:5555") == 201
        assert await signup("bob", "[2001:db8::1]:443") == 201  # another client, its own bucket
        assert await signup("carol", "203.0.113.8:5555") == 201
        assert (
            await signup("dave", "203.0.113.7:6000") == 429
        )  # the first client again, another port
        assert await signup("erin", "[2001:db8::1]") == 429


async def test_an_ipv4_mapped_proxy_peer_is_trusted_by_its_ipv4_entry():
    # A listener on `::` sees an IPv4 proxy as ::ffff:10.0.0.1.
    app, client = await client_behind(
        "10.0.0.0/8", "::ffff:10.0.0.1", throttle_signup_per_address=1
    )
    async with app.router.lifespan_context(app), client:
        for username, hop in (("alice", "198.51.100.1"), ("bob", "198.51.100.2")):
            body = {"username": username, "password": PASSWORD}
            response = await client.post("/signup", json=body, headers={"x-forwarded-for": hop})
            assert response.status_code == 201, response.text


async def test_concurrent_wrong_logins_get_at_most_the_limit_of_401s():
    async with running_client(throttle_login_per_address=3) as client:
        await sign_up(client)
        responses = await asyncio.gather(*(wrong(client) for _ in range(20)))
    assert Counter(r.status_code for r in responses) == {401: 3, 429: 17}


async def test_concurrent_wrong_current_passwords_get_at_most_the_limit_of_403s():
    async with running_client(throttle_login_per_address=3) as client:
        await sign_up(client)
        await client.post("/login", auth=("alice", PASSWORD))
        client.cookies.delete("session_id_device")  # judged per (account, address), not per device
        body = {"current_password": "wrong password", "new_password": "a brand new passphrase"}
        responses = await asyncio.gather(*(client.post("/password", json=body) for _ in range(20)))
    assert Counter(r.status_code for r in responses) == {403: 3, 429: 17}


async def test_failures_from_one_address_are_limited_across_accounts():
    async with running_client(
        throttle_failures_per_address=3, throttle_login_per_address=10
    ) as client:
        await sign_up(client)
        for name in ("bob", "carol", "no body"):
            assert (await client.post("/login", auth=(name, "wrong password"))).status_code == 401
        response = await client.post("/login", auth=("alice", PASSWORD))
        assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
