"""Password recovery: a reset link to the verified address, asked for with the same answer for
every account or none, single-use, short-lived, and a reset that ends every session."""

import asyncio
import logging

import pytest

from adapters.memory import InMemoryStore
from domain.account_policy import AccountPolicy
from domain.errors import (
    InvalidCredentials,
    InvalidEmail,
    InvalidPassword,
    InvalidToken,
    NotAuthenticated,
    PolicyViolation,
    StoreUnavailable,
    Throttled,
)
from domain.mail import MailKind
from tests.constants import PASSWORD
from tests.mail_links import last_token, queued
from tests.recovery_world import PHONE, RecoveryWorld

NEW = "a brand new passphrase"


@pytest.fixture
def world() -> RecoveryWorld:
    return RecoveryWorld(InMemoryStore())


async def ask(world: RecoveryWorld, **named: str) -> None:
    await world.forgot.execute(client=PHONE, **named)
    await world.forgot.settle()


async def reset_link(world: RecoveryWorld, name: str = "alice") -> str:
    await ask(world, username=name)
    return last_token(world.store, MailKind.PASSWORD_RESET)


# asking for a link


async def test_only_an_account_with_a_verified_address_gets_a_link_and_the_answer_is_the_same(
    world,
):
    await world.account("alice", email="alice@example.com", verified=True)
    await world.account("bob", email="bob@example.com")  # never verified
    await world.account("carol")  # no address
    world.store.outbox.pending.clear()
    answers = [
        await world.forgot.execute(username=name, client=PHONE)
        for name in ("alice", "bob", "carol", "nobody", "bad name with spaces")
    ]
    assert answers == [None] * 5
    await world.forgot.settle()
    [message] = queued(world.store)
    assert (message.kind, message.to) == (MailKind.PASSWORD_RESET, "alice@example.com")
    outcomes = [
        (e["user_id"] is not None, e["outcome"]) for e in world.events("password_reset_requested")
    ]
    assert outcomes == [
        (True, "mailed"),
        (True, "no_verified_address"),
        (True, "no_verified_address"),
        (False, "no_account"),
        (False, "no_account"),
    ]


async def test_a_link_can_be_asked_for_by_verified_address_compared_case_insensitively(world):
    await world.account("alice", email="Alice@example.com", verified=True)
    await world.account("bob", email="bob@example.com")
    world.store.outbox.pending.clear()
    await ask(world, email="ALICE@example.com")
    await ask(world, email="bob@example.com")
    assert [m.to for m in queued(world.store)] == ["Alice@example.com"]


async def test_a_request_names_exactly_one_of_username_and_address(world):
    for named in ({}, {"username": "alice", "email": "a@example.com"}, {"username": ""}):
        with pytest.raises(PolicyViolation) as refused:
            await world.forgot.execute(**named)
        assert refused.value.field == "username"
    with pytest.raises(InvalidEmail):
        await world.forgot.execute(email="not an address")


async def test_requests_are_limited_per_client_address_whatever_they_name():
    world = RecoveryWorld(InMemoryStore(), reset_per_address=2)
    await world.forgot.execute(username="nobody", client=PHONE)
    await world.forgot.execute(email="x@example.com", client=PHONE)
    with pytest.raises(Throttled):
        await world.forgot.execute(username="alice", client=PHONE)
    await world.forgot.settle()
    assert world.events("throttled")[-1]["action"] == "password_forgot"


async def test_links_beyond_the_account_quota_are_dropped_silently():
    world = RecoveryWorld(InMemoryStore(), account_policy=AccountPolicy(mail_per_account=2))
    await world.account(email="alice@example.com", verified=True)
    for _ in range(4):
        await world.forgot.execute(username="alice")
    await world.forgot.settle()
    assert len(queued(world.store, MailKind.PASSWORD_RESET)) == 2
    assert [e["outcome"] for e in world.events("password_reset_requested")] == [
        "mailed",
        "mailed",
        "mail_quota",
        "mail_quota",
    ]


async def test_a_disabled_account_gets_no_link(world):
    user = await world.account(email="alice@example.com", verified=True)
    world.store.users._by_id[user.id].disabled = True
    await ask(world, username="alice")
    assert queued(world.store, MailKind.PASSWORD_RESET) == []


async def test_a_failure_after_the_answer_is_logged_without_the_request_failing(world, caplog):
    async def down(canonical):
        raise StoreUnavailable()

    world.store.users.get_by_username = down
    with caplog.at_level(logging.WARNING, logger="sessionauth.recovery"):
        await world.forgot.execute(username="alice")  # answered as any other
        await world.forgot.settle()
    [record] = caplog.records
    assert record.getMessage() == "a password reset request was not completed"
    assert (record.error, record.cause) == ("StoreUnavailable", "unreachable")


async def test_the_answer_does_not_wait_for_the_account_look_up(world):
    await world.account(email="alice@example.com", verified=True)
    looked_up = asyncio.Event()
    release = asyncio.Event()
    real = world.store.users.get_by_username

    async def slow(canonical):
        looked_up.set()
        await release.wait()
        return await real(canonical)

    world.store.users.get_by_username = slow
    await world.forgot.execute(username="alice")  # returns while the look-up is held
    assert queued(world.store, MailKind.PASSWORD_RESET) == []
    release.set()
    await world.forgot.settle()
    assert looked_up.is_set() and len(queued(world.store, MailKind.PASSWORD_RESET)) == 1


# using a link


async def test_a_reset_replaces_the_password_ends_every_session_and_mails_a_notice(world):
    user = await world.account(email="alice@example.com", verified=True)
    logins = [await world.login.execute(username="alice", password=PASSWORD) for _ in range(2)]
    token = await reset_link(world)
    world.store.outbox.pending.clear()
    assert await world.reset.execute(token=token, new_password=NEW, client=PHONE) == 2
    for login in logins:
        with pytest.raises(NotAuthenticated):
            await world.resolve.execute(token=login.token)
    assert await world.store.sessions.list_for_user(user.id) == []
    with pytest.raises(InvalidCredentials):
        await world.login.execute(username="alice", password=PASSWORD)
    await world.login.execute(username="alice", password=NEW)  # mails a new-device notice too
    [notice] = [m for m in queued(world.store) if m.kind != MailKind.NEW_DEVICE]
    assert (notice.kind, notice.to, notice.user_id) == (
        MailKind.PASSWORD_WAS_RESET,
        "alice@example.com",
        user.id,
    )
    assert "Firefox 128 on Linux" in notice.text and PHONE.address in notice.text
    [event] = world.events("password_reset")
    assert (event["user_id"], event["revoked_sessions"]) == (user.id, 2)


async def test_a_link_works_once_and_kills_the_other_links_of_the_account(world):
    await world.account(email="alice@example.com", verified=True)
    first = await reset_link(world)
    second = await reset_link(world)
    await world.reset.execute(token=second, new_password=NEW)
    for used_or_killed in (second, first):
        with pytest.raises(InvalidToken):
            await world.reset.execute(token=used_or_killed, new_password="another passphrase")
    assert [e["reason"] for e in world.events("token_refused")] == ["unknown_or_used"] * 2


async def test_a_link_is_dead_at_its_expiry_instant_and_costs_no_hashing(world):
    await world.account(email="alice@example.com", verified=True)
    token = await reset_link(world)
    world.clock.advance(seconds=AccountPolicy().password_reset_ttl.total_seconds())
    world.hasher.calls = 0
    with pytest.raises(InvalidToken):
        await world.reset.execute(token=token, new_password=NEW)
    assert world.hasher.calls == 0
    assert world.events("token_refused")[-1]["reason"] == "expired"


async def test_a_link_still_works_a_microsecond_before_its_expiry(world):
    await world.account(email="alice@example.com", verified=True)
    token = await reset_link(world)
    world.clock.advance(seconds=AccountPolicy().password_reset_ttl.total_seconds() - 0.000001)
    assert await world.reset.execute(token=token, new_password=NEW) == 0


async def test_a_refused_new_password_leaves_the_link_usable(world):
    await world.account(email="alice@example.com", verified=True)
    token = await reset_link(world)
    for weak in ("short", "password123"):
        with pytest.raises(InvalidPassword) as refused:
            await world.reset.execute(token=token, new_password=weak)
        assert refused.value.field == "new_password"
    assert await world.reset.execute(token=token, new_password=NEW) == 0


async def test_malformed_and_verification_tokens_do_not_reset(world):
    await world.account(email="alice@example.com")
    verify = last_token(world.store, MailKind.VERIFY_EMAIL)
    for bad in ("", "short", "ü" * 43, verify):
        with pytest.raises(InvalidToken):
            await world.reset.execute(token=bad, new_password=NEW)
    assert [e["reason"] for e in world.events("token_refused")] == ["malformed"] * 3 + [
        "wrong_purpose"
    ]
    assert (await world.verify_email.execute(token=verify)).email_verified


async def test_two_uses_of_one_link_at_once_exactly_one_wins(world):
    await world.account(email="alice@example.com", verified=True)
    token = await reset_link(world)
    results = await asyncio.gather(
        world.reset.execute(token=token, new_password=NEW),
        world.reset.execute(token=token, new_password="the other passphrase"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["InvalidToken", "int"]


async def test_a_password_change_kills_outstanding_reset_links(world):
    await world.account(email="alice@example.com", verified=True)
    token = await reset_link(world)
    await world.change_password.execute(
        current=await world.session(), current_password=PASSWORD, new_password=NEW
    )
    with pytest.raises(InvalidToken):
        await world.reset.execute(token=token, new_password="an attacker's passphrase")


async def test_a_reset_keeps_the_device_cookie_standing(world):
    await world.account(email="alice@example.com", verified=True)
    login = await world.login.execute(username="alice", password=PASSWORD)
    await world.reset.execute(token=await reset_link(world), new_password=NEW)
    device = await world.wired.devices.device_for(
        login.device_cookie, login.user.id, world.clock.now()
    )
    assert device is not None


async def test_the_purge_deletes_expired_reset_links(world):
    await world.account(email="alice@example.com", verified=True)
    await reset_link(world)
    assert len(world.store.tokens.by_hash) == 1
    world.clock.advance(minutes=15)
    await world.purge.execute()
    assert world.store.tokens.by_hash == {}
