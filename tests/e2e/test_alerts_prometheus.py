"""docs/alerts.yaml in a real Prometheus, scraping a real `sessionauth serve` on Postgres every
second: the hashing queue overrun by concurrent logins, then the store cut off (through the TCP
proxy of the outage tests), and each alert seen firing through Prometheus' own API.

The rules are the shipped ones, except that every `for:` is shortened to FOR in a copy: the
shipped durations (2 to 15 minutes) keep a blip from paging someone, and would keep this test
waiting as long. The expressions, windows and thresholds are left as shipped: their rates are
over 5 minutes, and the series exist at zero from the start, so a burst shows within seconds."""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml

from tests.constants import PASSWORD
from tests.e2e.tcp_proxy import TcpProxy, through
from tests.processes import serving
from tests.prometheus_runner import ALERTS, Prometheus, prometheus_scraping

FOR = "1s"
DEADLINE = 120  # seconds for an alert to fire: generous, on a machine busy with other suites
LOGINS_AT_ONCE = 40
# One hash at a time and one waiting, every client alike (all come from 127.0.0.1), and a cost
# that keeps each hash busy long enough for the other logins to find the queue full; no login
# throttled, so that each reaches the hasher.
SETTINGS = {
    "HASH_CONCURRENCY": "1",
    "HASH_QUEUE_SIZE": "1",
    "HASH_SHARE_PER_ADDRESS": "0",
    "ARGON2_TIME_COST": "2",
    "ARGON2_MEMORY_COST": "32768",
    "THROTTLE_LOGIN_PER_ADDRESS": "0",
    "THROTTLE_LOGIN_PER_ACCOUNT": "0",
    "THROTTLE_LOGIN_PER_DEVICE": "0",
}
PROVOKED = (
    "SessionauthHashingSaturated",
    "SessionauthStoreUnavailable",
    "SessionauthSessionCacheListenerDown",
)


def rules_with_short_for(directory: Path) -> Path:
    rules = yaml.safe_load(ALERTS.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert "for" in rule, rule["alert"]  # every shipped alert waits before it fires
            rule["for"] = FOR
    copy = directory / "alerts.yaml"
    copy.write_text(yaml.safe_dump(rules))
    return copy


def wait_for(check: Callable[[], bool], what: str, prometheus: Prometheus) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"{what}; alerts: {prometheus.alerts()}"
        time.sleep(0.5)


def post_login(url: str) -> int:
    with httpx.Client(base_url=url, timeout=60) as client:  # a connection of its own
        return client.post("/login", auth=("watched", PASSWORD)).status_code


def test_prometheus_fires_the_hashing_and_the_outage_alerts(database_url, tmp_path):
    upstream = urlsplit(database_url)
    with (
        TcpProxy(upstream.hostname, upstream.port or 5432) as proxy,
        serving(DATABASE_URL=through(proxy, database_url), **SETTINGS) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        assert (
            client.post("/signup", json={"username": "watched", "password": PASSWORD}).status_code
            == 201
        )
        assert client.post("/login", auth=("watched", PASSWORD)).status_code == 200
        cookie = {"cookie": f"session_id={client.cookies['session_id']}"}
        client.cookies.clear()
        target = server.url.removeprefix("http://")
        with prometheus_scraping(target, rules_with_short_for(tmp_path)) as prometheus:
            # A healthy service first: scraped, its listener up, the rules evaluated on it.
            wait_for(
                lambda: prometheus.query("sessionauth_session_cache_listener_up") == [1.0],
                "the listener is never seen up",
                prometheus,
            )
            time.sleep(3)  # three more evaluations
            assert not set(prometheus.alerts()) & set(PROVOKED), prometheus.alerts()

            with ThreadPoolExecutor(LOGINS_AT_ONCE) as pool:
                statuses = list(pool.map(post_login, [server.url] * LOGINS_AT_ONCE))
            assert set(statuses) <= {200, 503}, statuses
            assert statuses.count(503) > 10, statuses  # the alert's threshold, in 5 minutes
            wait_for(
                lambda: prometheus.alerts().get("SessionauthHashingSaturated") == "firing",
                "the hashing alert did not fire",
                prometheus,
            )

            proxy.cut("drop")

            def answered_503_and_firing() -> bool:
                assert client.get("/sessions", headers=cookie).status_code == 503
                return prometheus.alerts().get("SessionauthStoreUnavailable") == "firing"

            wait_for(answered_503_and_firing, "the outage alert did not fire", prometheus)
            wait_for(
                lambda: prometheus.alerts().get("SessionauthSessionCacheListenerDown") == "firing",
                "the listener alert did not fire",
                prometheus,
            )
            proxy.restore()
