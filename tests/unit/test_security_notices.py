"""Security notices: a login from a new device and a password change mail the verified address,
in the transaction of the change, within the account's mail quota."""

from __future__ import annotations

import pytest

from adapters.memory import InMemoryStore
from application.mail_messages import Messages
from domain.account_policy import AccountPolicy
from domain.client import Client
from domain.errors import InvalidCredentials
from domain.mail import MailKind
from tests.constants import PASSWORD
from tests.wiring import Wired

NEW_PASSWORD = "a brand new passphrase"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
LAPTOP = Client(address="198.51.100.7", user_agent=FIREFOX)
ADDRESS = "alice@example.com"


def wire(**options) -> Wired:
    return Wired(InMemoryStore(), **options)


async def alice(wired: Wired, *, verified: bool = True) -> str:
    user = await wired.use_cases.sign_up.execute(username="Alice", password=PASSWORD)
    set_address(wired, user.id, verified=verified)
    return user.id


def set_address(wired: Wired, user_id: str, *, verified: bool) -> None:
    """What email verification leaves behind (built elsewhere): the address on the user row."""
    stored = wired.store.users._by_id[user_id]
    stored.email, stored.email_verified = ADDRESS, verified


def pending(wired: Wired) -> list:
    return list(wired.store.outbox.pending.values())


async def log_in(wired: Wired, client: Client = LAPTOP, password: str = PASSWORD):
    return await wired.use_cases.login.execute(username="alice", password=password, client=client)


def events(wired: Wired, name: str) -> list[dict]:
    return [e for e in wired.audit.events if e["event"] == name]


async def test_a_login_from_a_new_device_mails_the_verified_address_with_the_session():
    wired = wire()
    user_id = await alice(wired)

    result = await log_in(wired)

    [message] = pending(wired)
    assert message.kind == MailKind.NEW_DEVICE and message.to == ADDRESS
    assert (
        message.user_id == user_id and message.subject == "New sign-in to your sessionauth account"
    )
    for body in (message.text, message.html):
        assert "Firefox 128 on Windows" in body
        assert "198.51.100.7" in body
        assert "2026-01-01 00:00 UTC" in body  # the FakeClock's time
        assert "https://auth.example/ui/" in body  # where to end sessions
    assert FIREFOX not in message.text  # the device is named, not the raw header
    assert result.token not in message.text + message.html
    [login] = events(wired, "login_succeeded")
    assert login["new_device"] is True
    [queued] = events(wired, "notice_queued")
    assert queued["kind"] == MailKind.NEW_DEVICE and queued["session_id"] == result.session.id


async def test_a_login_with_a_valid_device_cookie_mails_nothing():
    wired = wire()
    await alice(wired)
    first = await log_in(wired)
    wired.store.outbox.pending.clear()

    await log_in(wired, Client(address="203.0.113.9", device_cookie=first.device_cookie))

    assert pending(wired) == []
    assert [e["new_device"] for e in events(wired, "login_succeeded")] == [True, False]
    assert len(events(wired, "notice_queued")) == 1


async def test_an_unverified_address_gets_no_notice_and_costs_no_quota():
    wired = wire(account_policy=AccountPolicy(mail_per_account=1))
    user_id = await alice(wired, verified=False)
    for _ in range(3):
        await log_in(wired)
    assert pending(wired) == []

    set_address(wired, user_id, verified=True)
    await log_in(wired)  # the quota of one is still whole: the logins above took none of it
    assert [m.kind for m in pending(wired)] == [MailKind.NEW_DEVICE]


async def test_no_notice_when_the_setting_is_off():
    wired = wire(account_policy=AccountPolicy(notify_new_device=False))
    await alice(wired)
    await log_in(wired)
    assert pending(wired) == [] and events(wired, "notice_queued") == []


async def test_no_notice_when_mail_is_off():
    wired = wire(composer=None)
    await alice(wired)
    await log_in(wired)
    assert pending(wired) == [] and events(wired, "notice_queued") == []


async def test_over_the_quota_the_notice_is_dropped_and_the_login_still_succeeds():
    wired = wire(account_policy=AccountPolicy(mail_per_account=2))
    await alice(wired)
    results = [await log_in(wired) for _ in range(3)]

    assert len(pending(wired)) == 2
    assert await wired.use_cases.resolve_session.execute(token=results[2].token)
    [dropped] = events(wired, "notice_dropped")
    assert dropped["kind"] == MailKind.NEW_DEVICE


async def test_a_failed_login_mails_nothing():
    wired = wire()
    await alice(wired)
    with pytest.raises(InvalidCredentials):
        await log_in(wired, password="not the password")
    assert pending(wired) == []


async def test_a_login_that_loses_the_race_with_a_password_change_queues_nothing():
    wired = wire()
    user_id = await alice(wired)
    real_add = wired.store.sessions.add

    async def add_after_a_change(session, *, password_hash, mail=(), **options):
        assert mail  # the notice was built and travels with the session
        wired.store.users._by_id[user_id].password_hash = await wired.hasher.hash(NEW_PASSWORD)
        return await real_add(session, password_hash=password_hash, mail=mail, **options)

    wired.store.sessions.add = add_after_a_change
    with pytest.raises(InvalidCredentials):
        await log_in(wired)
    assert pending(wired) == [] and events(wired, "notice_queued") == []


async def test_a_password_change_mails_the_verified_address():
    wired = wire()
    user_id = await alice(wired)
    current = await wired.use_cases.resolve_session.execute(
        token=(await log_in(wired, Client(address="203.0.113.9"))).token
    )
    wired.store.outbox.pending.clear()

    await wired.use_cases.change_password.execute(
        current=current, current_password=PASSWORD, new_password=NEW_PASSWORD, client=LAPTOP
    )

    [message] = pending(wired)
    assert message.kind == MailKind.PASSWORD_CHANGED and message.to == ADDRESS
    assert message.user_id == user_id
    assert "Firefox 128 on Windows" in message.text and "198.51.100.7" in message.text
    assert NEW_PASSWORD not in message.text + message.html
    assert [e["kind"] for e in events(wired, "notice_queued")] == [
        MailKind.NEW_DEVICE,
        MailKind.PASSWORD_CHANGED,
    ]


async def test_a_password_change_is_notified_beyond_the_quota():
    wired = wire(account_policy=AccountPolicy(mail_per_account=1))
    await alice(wired)
    token = (await log_in(wired)).token
    password = PASSWORD
    for n in range(3):
        current = await wired.use_cases.resolve_session.execute(token=token)
        new = f"{NEW_PASSWORD} {n}"
        token = await wired.use_cases.change_password.execute(
            current=current, current_password=password, new_password=new
        )
        password = new
    kinds = [m.kind for m in pending(wired)]
    assert kinds.count(MailKind.PASSWORD_CHANGED) == 3


async def test_a_password_change_without_a_verified_address_mails_nothing():
    wired = wire()
    await alice(wired, verified=False)
    current = await wired.use_cases.resolve_session.execute(token=(await log_in(wired)).token)
    await wired.use_cases.change_password.execute(
        current=current, current_password=PASSWORD, new_password=NEW_PASSWORD
    )
    assert pending(wired) == []


async def test_messages_build_links_and_refuse_a_link_kind_as_a_notice():
    wired = wire()
    user_id = await alice(wired, verified=False)
    user = await wired.store.users.get(user_id)
    messages: Messages = wired.use_cases.messages
    expires = wired.clock.now()

    link = messages.link(
        MailKind.VERIFY_EMAIL, user, to="new@example.com", token="t0k3n", expires_at=expires
    )
    assert link is not None and link.to == "new@example.com" and "token=t0k3n" in link.text
    assert "t0k3n" not in repr(link)
    assert messages.notice(MailKind.PASSWORD_CHANGED, user, LAPTOP) is None  # unverified
    with pytest.raises(ValueError, match="not a notice"):
        messages.notice(MailKind.PASSWORD_RESET, user, LAPTOP)
    assert wire(composer=None).use_cases.messages is None  # mail off: no messages at all


async def test_the_sessions_list_names_each_device():
    wired = wire()
    await alice(wired)
    laptop = await log_in(wired)
    wired.clock.advance(seconds=1)
    await log_in(wired, Client(user_agent=None))
    current = await wired.use_cases.resolve_session.execute(token=laptop.token)

    listed = await wired.use_cases.list_sessions.execute(current=current)

    assert [(s.device, s.session.user_agent) for s in listed] == [
        ("Unknown browser", None),
        ("Firefox 128 on Windows", FIREFOX),
    ]
