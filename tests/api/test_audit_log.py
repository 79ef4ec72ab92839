"""Audit events: one JSON line per security event, with its context, and never a secret."""

import json
import logging

import pytest

from entrypoints.logging_setup import JsonFormatter
from tests.api.conftest import PASSWORD, running_client, sign_up
from tests.api.test_flow import set_cookie_attributes

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def audit_lines():
    """Every record of the `sessionauth` loggers, formatted as the service writes it."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("sessionauth")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(previous)


async def test_every_security_event_is_one_json_line_with_context_and_no_secret(audit_lines):
    async with running_client(throttle_login_per_address=2, argon2_time_cost=2) as client:
        await sign_up(client)
        headers = {"user-agent": "audit-test/1.0"}
        await client.post("/login", auth=("alice", "wrong password"), headers=headers)
        login = await client.post("/login", auth=("alice", PASSWORD), headers=headers)
        token = set_cookie_attributes(login)["value"]
        device = set_cookie_attributes(login, name="session_id_device")["value"]
        changed = await client.post("/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=headers)
        new_token = set_cookie_attributes(changed)["value"]
        second = await client.post("/login", auth=("alice", NEW_PASSWORD), headers={**headers, "cookie": ""})
        client.cookies.clear()
        second_id = next(s["id"] for s in (await client.get("/sessions", headers={"cookie": f"session_id={set_cookie_attributes(second)['value']}"})).json() if s["current"])
        await client.delete(f"/sessions/{second_id}", headers={"cookie": f"session_id={new_token}"})
        await client.post("/logout", headers={"cookie": f"session_id={new_token}"})
        for _ in range(3):
            await client.post("/login", auth=("alice", "wrong again"), headers={"cookie": ""})

    events = [json.loads(line) for line in audit_lines if '"audit": true' in line]
    names = [e["event"] for e in events]
    for expected in ("signup", "login_failed", "login_succeeded", "password_changed", "session_revoked", "logout", "throttled"):
        assert expected in names, (expected, names)
    for event in events:
        assert event["time"].endswith("Z") and event["client_address"] == "192.0.2.10"
    login_event = next(e for e in events if e["event"] == "login_succeeded")
    assert login_event["user_id"] and login_event["session_id"] and login_event["user_agent"] == "audit-test/1.0"

    everything = "\n".join(audit_lines)
    for secret in (PASSWORD, NEW_PASSWORD, "wrong password", token, new_token, "$argon2"):
        assert secret not in everything
    assert device not in everything

