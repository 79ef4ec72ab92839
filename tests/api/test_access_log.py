"""The access log and the request id, read from the service's own log stream: one line per request
with its fields, nothing secret in any line, X-Request-ID honoured or replaced, echoed, and carried
by the other lines of the request; ACCESS_LOG and LOG_LEVEL each doing only their part."""

import base64
import re

import pytest

from tests.api.client import AppClient, log_in, running_client, sign_up
from tests.api.responses import set_cookie_attributes
from tests.constants import PASSWORD
from tests.service_log import json_lines, service_log, text_fields

MADE_ID = re.compile(r"[0-9a-f]{32}")  # a request id the service made (16 random bytes, hex)
ACCESS_FIELDS = {
    "time",
    "level",
    "logger",
    "message",
    "method",
    "route",
    "status",
    "duration",
    "client_address",
    "request_id",
}


def access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "sessionauth.access"]


def written(client: AppClient) -> None:
    """The access lines waiting for the writing thread, written now."""
    client.app.observer.access_log.flush()


async def test_each_request_is_one_json_line_with_its_fields():
    with service_log() as stream:
        async with running_client() as client:
            await sign_up(client)
            login = await log_in(client)
            protected = await client.get("/protected")  # the fast path
            sessions = (await client.get("/sessions")).json()
            one = await client.delete(f"/sessions/{sessions[0]['id']}")
            missing = await client.get("/no/such/page")
            written(client)
        lines = json_lines(stream)
    access = access_lines(lines)
    responses = [login, protected, one, missing]
    assert [(a["method"], a["route"], a["status"]) for a in access] == [
        ("POST", "/signup", 201),
        ("POST", "/login", 200),
        ("GET", "/protected", 200),
        ("GET", "/sessions", 200),
        ("DELETE", "/sessions/{session_id}", one.status_code),
        ("GET", "unmatched", 404),
    ]
    for line in access:
        assert set(line) == ACCESS_FIELDS
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
        assert line["level"] == "info" and line["message"] == "request"
        assert isinstance(line["duration"], float) and 0 <= line["duration"] < 10
        assert line["client_address"] == "192.0.2.10"
        assert MADE_ID.fullmatch(line["request_id"])
    ids = {line["request_id"] for line in access}
    assert len(ids) == len(access)  # made anew for each request
    for response in responses:
        assert response.headers["x-request-id"] in ids


async def test_the_client_address_is_the_one_trusted_proxies_vouch_for():
    with service_log() as stream:
        async with running_client(trusted_proxies="192.0.2.10") as client:
            await client.get("/healthz", headers={"x-forwarded-for": "203.0.113.9, 192.0.2.10"})
            await client.get("/healthz", headers={"x-forwarded-for": '"\r\nforged'})
            written(client)
        lines = access_lines(json_lines(stream))
    assert [line["client_address"] for line in lines] == ["203.0.113.9", "192.0.2.10"]


SECRET_QUERY = "secretquerytoken0123456789"
SECRET_PATH = "secretpathtoken0123456789"


async def test_no_query_string_path_cookie_or_credential_reaches_any_line():
    breaking = '"}\r\n{"forged": "line"}\t'
    with service_log() as stream:
        async with running_client() as client:
            await sign_up(client)
            login = await client.post(
                f"/login?token={SECRET_QUERY}",
                auth=("alice", PASSWORD),
                headers={
                    "x-request-id": f"{breaking}\u2028{SECRET_QUERY}".encode(),
                    # the audit events log the user agent: escaped, it cannot break their line
                    "user-agent": breaking.encode(),
                },
            )
            token = set_cookie_attributes(login)["value"]
            device = set_cookie_attributes(login, name="session_id_device")["value"]
            for path in (
                f"/protected?token={SECRET_QUERY}&password={PASSWORD}",
                f"/auth/verify?next=/x%3Ftoken%3D{SECRET_QUERY}",
                f"/reset/{SECRET_PATH}?token={SECRET_QUERY}",
                f"/sessions/{SECRET_PATH}",
                f"/ui/{SECRET_PATH}",
            ):
                await client.get(
                    path,
                    headers={
                        "x-request-id": ("x" * 10_000).encode(),
                        "authorization": "Basic "
                        + base64.b64encode(f"alice:{PASSWORD}".encode()).decode(),
                        "referer": f"https://example.com/?token={SECRET_QUERY}",
                        "user-agent": f"agent\r\n{SECRET_QUERY}",
                        "x-forwarded-for": SECRET_QUERY,
                    },
                )
            await client.post(
                "/login",
                json={"username": "alice", "password": PASSWORD},
                headers={"x-request-id": "é\x00\"'<>".encode("latin-1")},
            )
            written(client)
        text = stream.getvalue()
        lines = json_lines(stream)  # every line is one JSON object: nothing broke a line
    assert len(access_lines(lines)) == 8
    for secret in (SECRET_QUERY, SECRET_PATH, PASSWORD, token, device, "%3F"):
        assert secret not in text, secret
    # the hostile user agent is in its audit line, whole: escaped, it broke no line
    assert [line["event"] for line in lines if line.get("user_agent") == breaking] == [
        "login_succeeded"
    ]
    for line in access_lines(lines):
        assert MADE_ID.fullmatch(line["request_id"])
        assert "?" not in line["route"]


@pytest.mark.parametrize(
    "sent",
    [
        "a",
        "abc-123.DEF_4",
        "x" * 128,
        "0f6e1c3a-9b1e-4a53-8c7e-3f1d2e4b5a69",  # a UUID, as many proxies make
    ],
)
async def test_a_valid_x_request_id_is_honoured_echoed_and_carried_by_the_audit_line(sent):
    with service_log() as stream:
        async with running_client() as client:
            await sign_up(client)
            login = await client.post(
                "/login", auth=("alice", PASSWORD), headers={"x-request-id": sent}
            )
            written(client)
        lines = json_lines(stream)
    assert login.headers["x-request-id"] == sent
    audit = [line for line in lines if line.get("event") == "login_succeeded"]
    access = [line for line in access_lines(lines) if line["route"] == "/login"]
    assert [line["request_id"] for line in audit + access] == [sent, sent]


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"x" * 129,
        b"a b",
        b"a/b",
        b"a=b",
        b"a\tb",
        b'a"b',
        b"a\r\nb",
        "é".encode(),
        "é".encode("latin-1"),
    ],
    ids=repr,
)
async def test_an_invalid_x_request_id_is_replaced_by_one_the_service_makes(sent):
    with service_log() as stream:
        async with running_client() as client:
            response = await client.get("/healthz", headers={"x-request-id": sent})
            written(client)
        (line,) = access_lines(json_lines(stream))
    echoed = response.headers["x-request-id"]
    assert MADE_ID.fullmatch(echoed) and line["request_id"] == echoed


async def test_the_request_id_is_echoed_on_every_kind_of_answer(client):
    answers = [
        await client.get("/protected"),  # 401 from the fast path
        await client.get("/nowhere"),  # 404
        await client.post("/signup", json={"username": "x"}),  # 422
        await client.post("/login", content=b"{", headers={"content-type": "application/json"}),
        await client.get("/ui/login"),  # an HTML page
    ]
    for answer in answers:
        assert MADE_ID.fullmatch(answer.headers["x-request-id"]), answer.status_code


async def test_access_log_false_writes_no_access_line_and_keeps_the_rest():
    with service_log() as stream:
        async with running_client(access_log=False) as client:
            await sign_up(client)
            login = await client.post(
                "/login", auth=("alice", PASSWORD), headers={"x-request-id": "kept-1"}
            )
            assert client.app.observer.access_log is None
        lines = json_lines(stream)
    assert access_lines(lines) == []
    assert login.headers["x-request-id"] == "kept-1"
    audit = [line for line in lines if line.get("audit")]
    assert [e["event"] for e in audit] == ["signup", "login_succeeded"]
    assert audit[1]["request_id"] == "kept-1"


async def test_audit_events_and_the_access_log_are_written_at_log_level_error():
    with service_log(level="error") as stream:
        async with running_client() as client:
            await sign_up(client)
            await log_in(client)
            await client.post("/login", auth=("alice", "wrong password"))
            written(client)
        lines = json_lines(stream)
    assert [e["event"] for e in lines if e.get("audit")] == [
        "signup",
        "login_succeeded",
        "login_failed",
    ]
    assert len(access_lines(lines)) == 3
    # LOG_LEVEL still applies to the service's messages: the in-memory store's warning is gone.
    assert not [line for line in lines if line["level"] == "warning"]


async def test_log_format_text_keeps_every_field_of_the_access_and_audit_lines():
    agent = 'Mozilla/5.0 "quoted"\r\nforged=line'
    with service_log(fmt="text") as stream:
        async with running_client() as client:
            await sign_up(client)
            await client.post(
                "/login",
                auth=("alice", PASSWORD),
                headers={"x-request-id": "text-1", "user-agent": agent},
            )
            session_id = (await client.get("/sessions")).json()[0]["id"]
            revoked = await client.delete(f"/sessions/{session_id}")
            written(client)
        lines = stream.getvalue().splitlines()
    assert all(
        re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [a-z.]+: ", line) for line in lines
    ), lines
    access = [text_fields(line) for line in lines if " sessionauth.access: request " in line]
    assert [(a["method"], a["route"], a["status"]) for a in access] == [
        ("POST", "/signup", "201"),
        ("POST", "/login", "200"),
        ("GET", "/sessions", "200"),
        ("DELETE", "/sessions/{session_id}", str(revoked.status_code)),
    ]
    for fields in access:
        assert set(fields) == {
            "method",
            "route",
            "status",
            "duration",
            "client_address",
            "request_id",
        }
        assert float(fields["duration"]) >= 0 and fields["client_address"] == "192.0.2.10"
    assert access[1]["request_id"] == "text-1"
    (login,) = [text_fields(line) for line in lines if "sessionauth.audit: login_succeeded" in line]
    assert login["user_agent"] == agent  # escaped on its line, whole once read back
    assert login["request_id"] == "text-1"
    assert {"event", "audit", "user_id", "session_id", "client_address"} <= set(login)
