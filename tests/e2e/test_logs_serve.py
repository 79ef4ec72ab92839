"""The logs of a real `sessionauth serve`, read from its stderr: one access line per request and
none of uvicorn's, the request id across the lines of a request, nothing secret, every line written
by the time it exits, and a store outage as two lines however many requests meet it."""

import json
import re
import time
from urllib.parse import urlsplit

import httpx

from tests.constants import PASSWORD
from tests.e2e.tcp_proxy import TcpProxy, through
from tests.processes import serving
from tests.service_log import text_fields

SECRET = "secretinthequery0123456789"
MADE_ID = re.compile(r"[0-9a-f]{32}")
OUTAGE_REQUESTS = 30


def test_serve_writes_one_json_access_line_per_request_and_uvicorn_none():
    with serving() as server:
        with httpx.Client(base_url=server.url) as client:
            signup = {"username": "alice", "password": PASSWORD}
            client.post("/signup", json=signup, headers={"x-request-id": "e2e-signup"})
            login = client.post(
                "/login", auth=("alice", PASSWORD), headers={"x-request-id": "e2e-login"}
            )
            token = login.cookies["session_id"]
            protected = client.get(
                f"/protected?token={SECRET}", headers={"x-request-id": "e2e-protected"}
            )
            client.get(f"/reset/{SECRET}?next={SECRET}", headers={"x-request-id": "e2e-unknown"})
            replaced = client.get("/healthz", headers={"x-request-id": "not valid!"})
        assert server.stop() == 0  # the lines still waiting are written before it exits
        output = server.output()
    lines = [json.loads(line) for line in output.splitlines()]  # every line one JSON object
    access = [line for line in lines if line["logger"] == "sessionauth.access"]
    by_id = {line["request_id"]: line for line in access}
    assert len(by_id) == len(access)  # one line per request
    assert [
        (by_id[i]["method"], by_id[i]["route"], by_id[i]["status"])
        for i in ("e2e-signup", "e2e-login", "e2e-protected", "e2e-unknown")
    ] == [
        ("POST", "/signup", 201),
        ("POST", "/login", 200),
        ("GET", "/protected", 200),
        ("GET", "unmatched", 404),
    ]
    assert protected.headers["x-request-id"] == "e2e-protected"
    made = replaced.headers["x-request-id"]
    assert MADE_ID.fullmatch(made) and by_id[made]["route"] == "/healthz"
    for line in access:
        assert line["client_address"] == "127.0.0.1" and line["duration"] >= 0
    (audit,) = [line for line in lines if line.get("event") == "login_succeeded"]
    assert audit["request_id"] == "e2e-login"
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    assert 'HTTP/1.1"' not in output  # uvicorn's access line format
    for secret in (SECRET, PASSWORD, token):
        assert secret not in output


def test_log_format_text_at_log_level_error_keeps_the_access_and_audit_lines():
    with serving(LOG_FORMAT="text", LOG_LEVEL="error") as server:
        with httpx.Client(base_url=server.url) as client:
            client.post("/signup", json={"username": "bob", "password": PASSWORD})
            client.post("/login", auth=("bob", PASSWORD), headers={"x-request-id": "text-login"})
        assert server.stop() == 0
        lines = server.output().splitlines()
    (access,) = [
        text_fields(line)
        for line in lines
        if "request_id=text-login" in line and ".access:" in line
    ]
    assert access == {
        "method": "POST",
        "route": "/login",
        "status": "200",
        "duration": access["duration"],
        "client_address": "127.0.0.1",
        "request_id": "text-login",
    }
    (audit,) = [text_fields(line) for line in lines if "sessionauth.audit: login_succeeded" in line]
    assert audit["request_id"] == "text-login" and audit["client_address"] == "127.0.0.1"
    assert not [line for line in lines if " INFO uvicorn" in line or 'HTTP/1.1"' in line]


def test_a_store_outage_is_logged_once_when_it_starts_and_once_when_it_ends(database_url):
    upstream = urlsplit(database_url)
    with (
        TcpProxy(upstream.hostname, upstream.port or 5432) as proxy,
        serving(DATABASE_URL=through(proxy, database_url)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        client.post("/signup", json={"username": "carol", "password": PASSWORD})
        assert client.post("/login", auth=("carol", PASSWORD)).status_code == 200

        proxy.cut("drop")
        statuses = [client.get("/sessions").status_code for _ in range(OUTAGE_REQUESTS)]
        statuses += [client.post("/login", auth=("carol", PASSWORD)).status_code for _ in range(5)]
        assert set(statuses) == {503}

        proxy.restore()
        deadline = time.monotonic() + 30
        while client.get("/sessions").status_code != 200:
            assert time.monotonic() < deadline, "did not recover"
            time.sleep(0.2)
        assert client.post("/login", auth=("carol", PASSWORD)).status_code == 200
        assert server.stop() == 0
        lines = [json.loads(line) for line in server.output().splitlines()]
    messages = [line["message"] for line in lines]
    assert messages.count("store unavailable") == 1, messages
    assert messages.count("store available again") == 1, messages
    down = messages.index("store unavailable")
    back = messages.index("store available again")
    assert down < back
    assert lines[down]["level"] == "warning" and lines[down]["cause"]
    assert lines[back]["level"] == "warning" and lines[back]["unavailable_seconds"] > 0
    answered_503 = [
        line for line in lines if line["logger"] == "sessionauth.access" and line["status"] == 503
    ]
    assert len(answered_503) >= OUTAGE_REQUESTS + 5  # each request still has its access line
