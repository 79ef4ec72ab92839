"""GET /metrics: counters that move by exactly one event each, latency by route template (the fast
path's routes included), the hashing queue depth, nothing that names a user, and 404 when off."""

import asyncio
import re
import threading
from importlib.metadata import version

import httpx

from adapters.postgres.migrate import migrations
from tests.api.client import log_in, running_client, sign_up
from tests.api.responses import set_cookie_attributes
from tests.api.scraping import Samples, moved, scrape
from tests.constants import PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def as_cookie(login: httpx.Response) -> dict[str, str]:
    return {"cookie": f"session_id={set_cookie_attributes(login)['value']}"}


async def test_logins_are_counted_by_outcome():
    async with running_client(throttle_login_per_address=1, throttle_login_per_device=1) as client:
        await sign_up(client)
        before = await scrape(client)
        await log_in(client)
        assert (await client.post("/login", auth=("alice", "wrong password"))).status_code == 401
        assert (await client.post("/login", auth=("alice", PASSWORD))).status_code == 429
        assert (await client.post("/login", auth=("nobody", "wrong password"))).status_code == 401
        after = await scrape(client)
    assert moved(before, after, "sessionauth_logins_total", outcome="success") == 1
    assert moved(before, after, "sessionauth_logins_total", outcome="invalid") == 2
    assert moved(before, after, "sessionauth_logins_total", outcome="throttled") == 1
    assert moved(before, after, "sessionauth_signups_total", outcome="success") == 0


async def test_sign_ups_are_counted_by_outcome():
    async with running_client(throttle_signup_per_address=2) as client:
        before = await scrape(client)
        await sign_up(client, "alice")
        assert (
            await client.post("/signup", json={"username": "ALICE", "password": PASSWORD})
        ).status_code == 409
        assert (
            await client.post("/signup", json={"username": "carol", "password": PASSWORD})
        ).status_code == 429
        after = await scrape(client)
    assert moved(before, after, "sessionauth_signups_total", outcome="success") == 1
    assert moved(before, after, "sessionauth_signups_total", outcome="throttled") == 1


async def test_logouts_revocations_and_password_changes_are_counted():
    async with running_client() as client:
        await sign_up(client)
        logins = []
        for _ in range(4):
            client.cookies.clear()
            logins.append(await log_in(client))
        client.cookies.clear()
        mine = as_cookie(logins[0])
        before = await scrape(client)

        listed = (await client.get("/sessions", headers=mine)).json()
        other = next(s["id"] for s in listed if not s["current"])
        assert (await client.delete(f"/sessions/{other}", headers=mine)).status_code == 204
        assert (await client.delete("/sessions", headers=mine)).json() == {"revoked": 2}
        middle = await scrape(client)

        for _ in range(3):
            await client.post("/login", auth=("alice", PASSWORD), headers={"cookie": ""})
        wrong = {"current_password": "wrong password", "new_password": NEW_PASSWORD}
        assert (await client.post("/password", json=wrong, headers=mine)).status_code == 403
        right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        changed = await client.post("/password", json=right, headers=mine)
        assert changed.status_code == 200
        assert (await client.post("/logout", headers=as_cookie(changed))).status_code == 200
        after = await scrape(client)

    assert moved(before, middle, "sessionauth_sessions_revoked_total", scope="single") == 1
    assert moved(before, middle, "sessionauth_sessions_revoked_total", scope="others") == 2
    assert moved(middle, after, "sessionauth_sessions_revoked_total", scope="password_change") == 3
    assert moved(before, after, "sessionauth_sessions_revoked_total", scope="all") == 0
    assert moved(before, after, "sessionauth_password_changes_total", outcome="success") == 1
    assert moved(before, after, "sessionauth_password_changes_total", outcome="invalid") == 1
    assert (
        moved(before, after, "sessionauth_logins_total", outcome="invalid") == 0
    )  # 403 is not a login
    assert moved(before, after, "sessionauth_logouts_total") == 1


async def test_latency_is_labelled_by_route_template_method_and_status_class():
    async with running_client() as client:
        await sign_up(client)
        await log_in(client)
        session_id = (await client.get("/sessions")).json()[0]["id"]
        before = await scrape(client)
        for path in ("/protected", "/getusers/me", "/auth/verify"):  # answered by the fast path
            assert (await client.get(path)).status_code == 200
        assert (await client.get("/protected", headers={"cookie": ""})).status_code == 401
        assert (await client.delete(f"/sessions/{session_id}")).status_code == 204
        assert (await client.get(f"/no/such/{session_id}")).status_code == 404
        assert (await client.request("BREW", "/protected")).status_code == 405
        after = await scrape(client)

    def count(route: str, method: str, status: str) -> float:
        return moved(
            before,
            after,
            "sessionauth_http_request_duration_seconds_count",
            route=route,
            method=method,
            status=status,
        )

    assert count("/protected", "GET", "2xx") == 1
    assert count("/protected", "GET", "4xx") == 1
    assert count("/getusers/me", "GET", "2xx") == 1
    assert count("/auth/verify", "GET", "2xx") == 1
    assert count("/sessions/{session_id}", "DELETE", "2xx") == 1
    assert count("unmatched", "GET", "4xx") == 1
    assert count("/protected", "other", "4xx") == 1
    assert count("/metrics", "GET", "2xx") == 1  # the first scrape
    routes = {
        dict(labels)["route"]
        for name, labels in after
        if name.startswith("sessionauth_http_request")
    }
    assert all(r == "unmatched" or (r.startswith("/") and session_id not in r) for r in routes), (
        routes
    )
    durations = moved(
        before,
        after,
        "sessionauth_http_request_duration_seconds_sum",
        route="/protected",
        method="GET",
        status="2xx",
    )
    assert 0 < durations < 60


async def test_the_hashing_queue_depth_is_a_gauge_of_admitted_hashes():
    async with running_client() as client:
        hasher = client.app.state.container.hasher()
        release = threading.Event()
        held = asyncio.ensure_future(hasher._run(release.wait, 30))
        await asyncio.sleep(0)
        assert (await scrape(client))[("sessionauth_hash_queue_depth", frozenset())] == 1
        release.set()
        assert await held is True
        for _ in range(500):
            if hasher.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert (await scrape(client))[("sessionauth_hash_queue_depth", frozenset())] == 0


async def test_the_exposition_never_names_a_user_session_address_or_token():
    username = "Quizzical-Xylophone"
    async with running_client() as client:
        created = (
            await client.post("/signup", json={"username": username, "password": PASSWORD})
        ).json()
        login = await client.post(
            "/login", auth=(username, PASSWORD), headers={"user-agent": "Distinctive-Agent/9.9"}
        )
        await client.post("/login", auth=(username, "wrong password"))
        sessions = (await client.get("/sessions")).json()
        await client.get("/auth/verify")
        await client.delete(f"/sessions/{sessions[0]['id']}")
        exposition = (await client.get("/metrics")).text
    secrets = [
        username.casefold(),
        created["user"]["user_id"],
        sessions[0]["id"],
        set_cookie_attributes(login)["value"],
        set_cookie_attributes(login, name="session_id_device")["value"],
        "192.0.2.10",
        "distinctive-agent",
        PASSWORD,
    ]
    for secret in secrets:
        assert secret.casefold() not in exposition.casefold()
    # every label value is one of a few fixed words, a route template, the version or a migration
    values = set(re.findall(r'="([^"]*)"', exposition))
    assert all(
        re.fullmatch(
            r"[a-z_]+|[0-9.e+-]+|\+Inf|[A-Z]+|[1-5]xx|/[a-z/{}_.-]*|[0-9]{4}_[a-z0-9_]+|", v
        )
        for v in values
    ), values


async def test_metrics_are_on_by_default_and_not_in_the_openapi_document():
    async with running_client() as client:
        assert (await client.get("/metrics")).status_code == 200
        assert "/metrics" not in (await client.get("/openapi.json")).json()["paths"]


async def test_metrics_disabled_answers_404_and_measures_nothing():
    async with running_client(metrics_enabled=False) as client:
        response = await client.get("/metrics")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}
        assert client.app.state.container.metrics() is None
        assert client.app.observer.latency is None
        await sign_up(client)
        await log_in(client)
        assert (await client.get("/protected")).status_code == 200


def test_latency_buckets_count_each_observation_in_every_bucket_at_or_above_it():
    # The single-process histogram is our own (no lock per observation): its buckets must read
    # as Prometheus' do, `le` inclusive and cumulative.
    from adapters.prometheus_metrics import PrometheusMetrics

    metrics = PrometheusMetrics()
    observe = metrics.request_observer("/protected", "GET", "2xx")
    for seconds in (0.001, 0.0011, 0.3, 20.0):
        observe(seconds)
    lines = metrics.exposition().decode().splitlines()

    def bucket(le: str) -> float:
        prefix = (
            "sessionauth_http_request_duration_seconds_bucket"
            f'{{le="{le}",method="GET",route="/protected",status="2xx"}}'
        )
        return next(float(line.split()[-1]) for line in lines if line.startswith(prefix))

    assert bucket("0.0005") == 0
    assert bucket("0.001") == 1
    assert bucket("0.0025") == 2
    assert bucket("0.5") == 3
    assert bucket("10.0") == 3
    assert bucket("+Inf") == 4
    assert any(
        line.startswith("sessionauth_http_request_duration_seconds_sum{")
        and line.endswith(" 20.3021")
        for line in lines
    )
    assert any(
        line.startswith("sessionauth_http_request_duration_seconds_count{")
        and line.endswith(" 4.0")
        for line in lines
    )


def build_info(samples: Samples) -> dict[str, str]:
    (labels,) = [dict(k) for (name, k), v in samples.items() if name == "sessionauth_build_info"]
    return labels


async def test_build_info_names_the_version_and_no_schema_on_the_memory_store():
    async with running_client() as client:
        samples = await scrape(client)
    assert build_info(samples) == {"version": version("sessionauth"), "schema_version": ""}
    assert samples[("sessionauth_unknown_migrations", frozenset())] == 0


async def test_build_info_names_the_highest_applied_migration(migrated_database_url):
    newest = migrations()[-1][0]
    async with running_client(database_url=migrated_database_url) as client:
        # Looked at beside serving, not before it: wait for it, within a generous bound.
        for _ in range(600):  # 30 s at most
            if build_info(samples := await scrape(client))["schema_version"] == newest:
                break
            await asyncio.sleep(0.05)
    assert build_info(samples)["version"] == version("sessionauth")
    assert samples[("sessionauth_unknown_migrations", frozenset())] == 0
