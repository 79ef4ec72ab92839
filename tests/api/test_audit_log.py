"""Audit events: one JSON line per security event, with its context, and never a secret."""

import json
import logging
import logging.config
import re

import pytest

from adapters.audit_log import LoggingAuditLog
from domain.client import Client
from entrypoints.logging_setup import JsonFormatter, logging_config
from tests.api.client import running_client, sign_up
from tests.api.responses import set_cookie_attributes
from tests.constants import PASSWORD

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
        changed = await client.post(
            "/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=headers,
        )
        new_token = set_cookie_attributes(changed)["value"]
        second = await client.post(
            "/login", auth=("alice", NEW_PASSWORD), headers={**headers, "cookie": ""}
        )
        client.cookies.clear()
        second_id = next(
            s["id"]
            for s in (
                await client.get(
                    "/sessions",
                    headers={"cookie": f"session_id={set_cookie_attributes(second)['value']}"},
                )
            ).json()
            if s["current"]
        )
        await client.delete(f"/sessions/{second_id}", headers={"cookie": f"session_id={new_token}"})
        await client.post("/logout", headers={"cookie": f"session_id={new_token}"})
        for _ in range(3):
            await client.post("/login", auth=("alice", "wrong again"), headers={"cookie": ""})

    events = [json.loads(line) for line in audit_lines if '"audit": true' in line]
    names = [e["event"] for e in events]
    for expected in (
        "signup",
        "login_failed",
        "login_succeeded",
        "password_changed",
        "session_revoked",
        "logout",
        "throttled",
    ):
        assert expected in names, (expected, names)
    for event in events:
        assert event["time"].endswith("Z") and event["client_address"] == "192.0.2.10"
    login_event = next(e for e in events if e["event"] == "login_succeeded")
    assert (
        login_event["user_id"]
        and login_event["session_id"]
        and login_event["user_agent"] == "audit-test/1.0"
    )

    everything = "\n".join(audit_lines)
    for secret in (PASSWORD, NEW_PASSWORD, "wrong password", token, new_token, "$argon2"):
        assert secret not in everything
    assert device not in everything


def service_formatter(fmt: str) -> logging.Formatter:
    """The formatter `sessionauth serve` installs for LOG_FORMAT=fmt."""
    config = logging_config("info", fmt)["formatters"]["default"]
    return logging.config.DictConfigurator({}).configure_formatter(dict(config))


def one_audit_line(fmt: str) -> str:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(service_formatter(fmt))
    logger = logging.getLogger("sessionauth.audit")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        LoggingAuditLog().record(
            "session_revoked",
            user_id="5f0c6d3e-1111-4c4c-8888-123456789abc",
            session_id="0a1b2c3d-2222-4d4d-9999-abcdef012345",
            client=Client(
                address="203.0.113.7", user_agent='Mozilla/5.0 (X11) "quoted"\nforged=line'
            ),
            scope="others",
            revoked=2,
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    assert len(lines) == 1
    return lines[0]


AUDIT_FIELDS = {
    "event": "session_revoked",
    "audit": True,
    "user_id": "5f0c6d3e-1111-4c4c-8888-123456789abc",
    "session_id": "0a1b2c3d-2222-4d4d-9999-abcdef012345",
    "client_address": "203.0.113.7",
    "user_agent": 'Mozilla/5.0 (X11) "quoted"\nforged=line',
    "scope": "others",
    "revoked": 2,
}


def test_log_format_json_keeps_every_audit_field():
    line = json.loads(one_audit_line("json"))
    assert {k: line.get(k) for k in AUDIT_FIELDS} == AUDIT_FIELDS


def test_log_format_text_keeps_every_audit_field_as_key_value_on_one_line():
    line = one_audit_line("text")
    assert "\n" not in line  # a user agent cannot forge a second log line
    pairs = dict(re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line.partition(": ")[2]))
    fields = {k: json.loads(v) if v.startswith('"') else v for k, v in pairs.items()}
    assert fields == {
        k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in AUDIT_FIELDS.items()
    }
