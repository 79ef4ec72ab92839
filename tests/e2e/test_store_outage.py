"""Postgres cut off under traffic: quick 503s, no 500, no hang, and recovery by itself."""

import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from tests.constants import PASSWORD
from tests.e2e.tcp_proxy import TcpProxy, through
from tests.processes import serving

WELL_WITHIN = 10.0  # seconds: every answer while the store is cut off comes sooner


def timed(base_url: str, method: str, path: str, **kwargs) -> tuple[httpx.Response, float]:
    """One request on a connection of its own, and how long it took."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        started = time.monotonic()
        response = client.request(method, path, **kwargs)
        return response, time.monotonic() - started


@pytest.mark.parametrize("how", ["drop", "blackhole"])
def test_an_outage_gives_quick_503s_and_the_service_recovers_by_itself(database_url, how):
    upstream = urlsplit(database_url)
    with (
        TcpProxy(upstream.hostname, upstream.port or 5432) as proxy,
        serving(DATABASE_URL=through(proxy, database_url)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        assert (
            client.post(
                "/signup", json={"username": f"before-{how}", "password": PASSWORD}
            ).status_code
            == 201
        )
        assert client.post("/login", auth=(f"before-{how}", PASSWORD)).status_code == 200
        cookie = client.cookies["session_id"]

        proxy.cut(how)
        calls = [
            ("POST", "/signup", {"json": {"username": f"during-{how}", "password": PASSWORD}}),
            ("POST", "/login", {"auth": (f"before-{how}", PASSWORD)}),
            ("GET", "/sessions", {"headers": {"cookie": f"session_id={cookie}"}}),
            ("GET", "/readyz", {}),
        ]
        with ThreadPoolExecutor(len(calls)) as pool:
            answers = list(pool.map(lambda c: timed(server.url, c[0], c[1], **c[2]), calls))
        for (_, path, _), (response, took) in zip(calls, answers, strict=True):
            assert took < WELL_WITHIN, (path, took)
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert response.headers["retry-after"].isdigit()
            assert "Traceback" not in response.text and "postgres" not in response.text.lower()
        assert client.get("/healthz").status_code == 200

        proxy.restore()
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "did not recover"
            time.sleep(0.2)
        # nothing committed before the cut is lost, and everything works again
        client.cookies.clear()
        assert client.post("/login", auth=(f"before-{how}", PASSWORD)).status_code == 200
        assert client.get("/sessions").status_code == 200
        assert (
            client.post(
                "/signup", json={"username": f"after-{how}", "password": PASSWORD}
            ).status_code
            == 201
        )
        log = server.output()
    assert "Traceback" not in log and PASSWORD not in log


def test_a_sign_up_in_flight_at_the_cut_is_either_kept_or_reported_failed(database_url):
    upstream = urlsplit(database_url)
    names = [f"cut{i}" for i in range(16)]
    with TcpProxy(upstream.hostname, upstream.port or 5432) as proxy:
        settings = {
            "DATABASE_URL": through(proxy, database_url),
            "HASH_QUEUE_SIZE": "64",
            "HASH_QUEUE_TIMEOUT": "30",
            "HASH_SHARE_PER_ADDRESS": "0",
            "ARGON2_TIME_COST": "2",
            "ARGON2_MEMORY_COST": "16384",
        }
        with serving(**settings) as server:

            def sign_up(name):
                with httpx.Client(base_url=server.url, timeout=30) as c:
                    return c.post(
                        "/signup", json={"username": name, "password": PASSWORD}
                    ).status_code

            with ThreadPoolExecutor(len(names)) as pool:
                futures = [pool.submit(sign_up, name) for name in names]
                time.sleep(0.3)
                proxy.cut("drop")
                statuses = dict(zip(names, (f.result() for f in futures), strict=True))
            proxy.restore()
            assert set(statuses.values()) <= {201, 503}, statuses
            deadline = time.monotonic() + 30
            with httpx.Client(base_url=server.url, timeout=30) as client:
                while client.get("/readyz").status_code != 200:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
                for name, status in statuses.items():
                    if status == 201:  # a success is never lost
                        assert client.post("/login", auth=(name, PASSWORD)).status_code == 200, name
