"""The audit events each use-case records: their names and qualifiers are what the metrics count
(adapters/prometheus_metrics.py), so every outcome must be told apart by them."""

import pytest

from domain.client import Client
from domain.errors import InvalidCredentials, Throttled, WrongPassword
from tests.constants import HOME, PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def kinds(world) -> list[tuple]:
    return [
        (e["event"], e.get("action"), e.get("scope"), e.get("revoked_sessions"))
        for e in world.audit.events
    ]


async def three_sessions(world):
    await world.sign_up.execute(username="alice", password=PASSWORD)
    logins = [
        await world.login.execute(
            username="alice", password=PASSWORD, client=Client(user_agent=f"browser {n}")
        )
        for n in range(3)
    ]
    world.audit.events.clear()
    return logins, await world.resolve.execute(token=logins[0].token)


async def test_ending_one_session_by_id_is_one_event_with_scope_single(world):
    (_, phone, _), current = await three_sessions(world)
    await world.revoke_session.execute(current=current, session_id=phone.session.id)
    assert kinds(world) == [("session_revoked", None, "single", None)]
    assert world.audit.events[0]["session_id"] == phone.session.id


async def test_ending_the_other_sessions_is_one_event_per_session_with_scope_others(world):
    (_, phone, tablet), current = await three_sessions(world)
    assert await world.revoke_others.execute(current=current) == 2
    assert kinds(world) == [("session_revoked", None, "others", None)] * 2
    assert {e["session_id"] for e in world.audit.events} == {phone.session.id, tablet.session.id}


async def test_incident_response_is_one_event_with_scope_all_and_the_count(world):
    await three_sessions(world)
    assert await world.revoke_user_sessions.execute(username="alice") == 3
    assert kinds(world) == [("session_revoked", None, "all", 3)]


async def test_a_password_change_records_how_many_other_sessions_it_ended(world):
    _, current = await three_sessions(world)
    await world.change_password.execute(
        current=current, current_password=PASSWORD, new_password=NEW_PASSWORD
    )
    assert kinds(world) == [("password_changed", None, None, 2)]


async def test_logins_record_success_failure_and_throttling_apart(make_world):
    world = make_world(login_per_address=1)
    await world.sign_up.execute(username="alice", password=PASSWORD)
    await world.login.execute(username="alice", password=PASSWORD, client=HOME)
    with pytest.raises(InvalidCredentials):
        await world.login.execute(username="alice", password="wrong password", client=HOME)
    with pytest.raises(Throttled):
        await world.login.execute(username="alice", password=PASSWORD, client=HOME)
    assert kinds(world) == [
        ("signup", None, None, None),
        ("login_succeeded", None, None, None),
        ("login_failed", None, None, None),
        ("throttled", "login", None, None),
    ]


async def test_password_change_failures_are_told_from_login_failures(make_world):
    world = make_world(login_per_address=1)
    await world.sign_up.execute(username="alice", password=PASSWORD)
    current = await world.resolve.execute(
        token=(await world.login.execute(username="alice", password=PASSWORD, client=HOME)).token
    )
    world.audit.events.clear()
    with pytest.raises(WrongPassword):
        await world.change_password.execute(
            current=current,
            current_password="wrong password",
            new_password=NEW_PASSWORD,
            client=HOME,
        )
    with pytest.raises(Throttled):
        await world.change_password.execute(
            current=current, current_password=PASSWORD, new_password=NEW_PASSWORD, client=HOME
        )
    assert kinds(world) == [
        ("login_failed", "password_change", None, None),
        ("throttled", "password_change", None, None),
    ]


async def test_a_throttled_sign_up_says_so(make_world):
    world = make_world(signup_per_address=1)
    await world.sign_up.execute(username="alice", password=PASSWORD, client=HOME)
    with pytest.raises(Throttled):
        await world.sign_up.execute(username="bob", password=PASSWORD, client=HOME)
    assert kinds(world) == [("signup", None, None, None), ("throttled", "signup", None, None)]
