"""Disable, enable and delete accounts, end every session, and the session limit, through the
use-cases on the in-memory store with a fake clock."""

import pytest

from adapters.memory import InMemoryStore
from domain.account_policy import AccountPolicy
from domain.client import Client
from domain.errors import (
    InvalidCredentials,
    NotAuthenticated,
    Throttled,
    UnknownUser,
    UsernameTaken,
    WrongPassword,
)
from domain.mail import MailKind, MailMessage
from domain.user import PASSWORD_MAX
from tests.constants import HOME, PASSWORD
from tests.wiring import Wired, throttle_limits


def events(world, *names) -> list[dict]:
    return [e for e in world.audit.events if e["event"] in names]


async def logged_in(world, username="alice", times=2):
    await world.sign_up.execute(username=username, password=PASSWORD)
    results = []
    for n in range(times):
        results.append(
            await world.login.execute(
                username=username, password=PASSWORD, client=Client(user_agent=f"browser {n}")
            )
        )
        world.clock.advance(seconds=1)
    return results


async def assert_ended(world, *results):
    for result in results:
        with pytest.raises(NotAuthenticated):
            await world.resolve.execute(token=result.token)


# disable and enable


async def test_disabling_ends_every_session_of_the_account_and_only_its(world):
    alices = await logged_in(world, "alice")
    [bob] = await logged_in(world, "bob", times=1)
    assert await world.use_cases.disable_user.execute(username="ALICE") == 2
    await assert_ended(world, *alices)
    assert await world.resolve.execute(token=bob.token)
    [event] = events(world, "account_disabled")
    assert event["user_id"] == alices[0].user.id and event["revoked_sessions"] == 2


async def test_a_disabled_account_logs_in_as_a_wrong_password_does_after_the_same_verify(world):
    await logged_in(world, times=0)
    await world.use_cases.disable_user.execute(username="alice")
    world.audit.events.clear()
    before = world.hasher.calls
    with pytest.raises(InvalidCredentials) as right:
        await world.login.execute(username="alice", password=PASSWORD, client=HOME)
    assert world.hasher.calls == before + 1  # the password was verified, as for any login
    with pytest.raises(InvalidCredentials) as wrong:
        await world.login.execute(username="alice", password="a wrong password", client=HOME)
    assert str(right.value) == str(wrong.value)
    assert world.audit.names() == ["login_disabled", "login_failed"]
    assert world.store.sessions._by_hash == {}


async def test_a_disabled_accounts_logins_count_against_the_throttle_like_failures(make_world):
    world = make_world(login_per_account=2)
    await logged_in(world, times=0)
    await world.use_cases.disable_user.execute(username="alice")
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            await world.login.execute(username="alice", password=PASSWORD, client=HOME)
    with pytest.raises(Throttled):
        await world.login.execute(username="alice", password=PASSWORD, client=HOME)


async def test_enabling_lets_the_account_log_in_again_without_its_old_sessions(world):
    [old] = await logged_in(world, times=1)
    await world.use_cases.disable_user.execute(username="alice")
    await world.use_cases.enable_user.execute(username="alice")
    await assert_ended(world, old)
    result = await world.login.execute(username="alice", password=PASSWORD)
    assert (await world.resolve.execute(token=result.token)).user.disabled is False
    assert [e["event"] for e in events(world, "account_disabled", "account_enabled")] == [
        "account_disabled",
        "account_enabled",
    ]


async def test_disabling_twice_is_no_error_and_ends_nothing_more(world):
    await logged_in(world, times=1)
    assert await world.use_cases.disable_user.execute(username="alice") == 1
    assert await world.use_cases.disable_user.execute(username="alice") == 0


@pytest.mark.parametrize("use_case", ["disable_user", "enable_user", "delete_user"])
@pytest.mark.parametrize("username", ["nobody", "no body", ""])
async def test_an_unknown_or_unusable_username_is_unknown_user(world, use_case, username):
    await logged_in(world, times=0)
    with pytest.raises(UnknownUser):
        await getattr(world.use_cases, use_case).execute(username=username)
    assert events(world, "account_disabled", "account_enabled", "account_deleted") == []


async def test_a_login_that_raced_a_disable_gets_no_session(world):
    """The disable lands between the login's verify and its session: the store refuses it."""
    await logged_in(world, times=0)
    real_add = world.store.sessions.add

    async def add_after_a_disable(session, **options):
        await world.use_cases.disable_user.execute(username="alice")
        return await real_add(session, **options)

    world.store.sessions.add = add_after_a_disable
    with pytest.raises(InvalidCredentials):
        await world.login.execute(username="alice", password=PASSWORD)
    assert world.store.sessions._by_hash == {}
    assert world.audit.names()[-1] == "login_disabled"


async def test_a_session_of_a_disabled_account_is_refused_should_one_remain(world):
    [result] = await logged_in(world, times=1)
    world.store.users._by_id[result.user.id].disabled = True  # flagged without ending sessions
    with pytest.raises(NotAuthenticated):
        await world.resolve.execute(token=result.token)


# delete


def queue_mail(world, user_id: str) -> None:
    world.store.outbox.queue(
        [
            MailMessage(
                id=world.tokens.public_id(),
                kind=MailKind.NEW_DEVICE,
                to="alice@example.com",
                subject="New login",
                text="text",
                html="<p>html</p>",
                user_id=user_id,
                created_at=world.clock.now(),
            )
        ]
    )


async def test_an_operator_deletes_an_account_with_its_sessions_and_mail(world):
    alices = await logged_in(world, "alice")
    [bob] = await logged_in(world, "bob", times=1)
    queue_mail(world, alices[0].user.id)
    queue_mail(world, bob.user.id)
    assert await world.use_cases.delete_user.execute(username="Alice") == 2
    await assert_ended(world, *alices)
    assert await world.store.users.get(alices[0].user.id) is None
    assert [m.user_id for m in world.store.outbox.pending.values()] == [bob.user.id]
    assert await world.resolve.execute(token=bob.token)
    with pytest.raises(InvalidCredentials):
        await world.login.execute(username="alice", password=PASSWORD)
    [event] = events(world, "account_deleted")
    assert event["by"] == "admin" and event["revoked_sessions"] == 2
    # the name is free again, for a new account with another id
    again = await world.sign_up.execute(username="alice", password=PASSWORD)
    assert again.id != alices[0].user.id


async def test_users_delete_their_own_account_with_the_current_password(world):
    laptop, phone = await logged_in(world)
    current = await world.resolve.execute(token=laptop.token)
    await world.use_cases.delete_account.execute(
        current=current, current_password=PASSWORD, client=HOME
    )
    await assert_ended(world, laptop, phone)
    assert await world.store.users.get_by_username("alice") is None
    [event] = events(world, "account_deleted")
    assert event["by"] == "self" and event["session_id"] == laptop.session.id
    assert event["revoked_sessions"] == 2


async def test_a_wrong_current_password_deletes_nothing_and_counts_as_a_failed_login(make_world):
    world = make_world(login_per_account=1)
    [laptop] = await logged_in(world, times=1)
    current = await world.resolve.execute(token=laptop.token)
    with pytest.raises(WrongPassword):
        await world.use_cases.delete_account.execute(
            current=current, current_password="a wrong password", client=HOME
        )
    assert await world.resolve.execute(token=laptop.token)
    with pytest.raises(Throttled):  # even the right password now: the account's limit is full
        await world.use_cases.delete_account.execute(
            current=current, current_password=PASSWORD, client=HOME
        )
    with pytest.raises(Throttled):  # one counter with logins
        await world.login.execute(username="alice", password=PASSWORD, client=HOME)
    assert await world.store.users.get_by_username("alice") is not None
    assert [(e["event"], e.get("action")) for e in events(world, "login_failed", "throttled")] == [
        ("login_failed", "account_delete"),
        ("throttled", "account_delete"),
        ("throttled", "login"),
    ]


async def test_an_over_long_current_password_is_wrong_without_hashing(world):
    [laptop] = await logged_in(world, times=1)
    current = await world.resolve.execute(token=laptop.token)
    before = world.hasher.calls
    with pytest.raises(WrongPassword):
        await world.use_cases.delete_account.execute(
            current=current, current_password="x" * (PASSWORD_MAX + 1)
        )
    assert world.hasher.calls == before


async def test_an_account_deleted_meanwhile_is_not_authenticated(world):
    [laptop] = await logged_in(world, times=1)
    current = await world.resolve.execute(token=laptop.token)
    await world.use_cases.delete_user.execute(username="alice")
    with pytest.raises(NotAuthenticated):
        await world.use_cases.delete_account.execute(current=current, current_password=PASSWORD)


async def test_a_deleted_username_cannot_be_taken_twice_at_once(world):
    """Deleting frees the name once: the first sign-up takes it, the next is refused."""
    await logged_in(world, times=0)
    await world.use_cases.delete_user.execute(username="alice")
    await world.sign_up.execute(username="alice", password=PASSWORD)
    with pytest.raises(UsernameTaken):
        await world.sign_up.execute(username="ALICE", password=PASSWORD)


# every session of every user


async def test_revoking_every_session_ends_those_of_every_user_who_can_log_in_again(world):
    alices = await logged_in(world, "alice")
    bobs = await logged_in(world, "bob")
    assert await world.use_cases.revoke_all_sessions.execute() == 4
    await assert_ended(world, *alices, *bobs)
    [event] = events(world, "session_revoked")
    assert event["scope"] == "everyone" and event["revoked_sessions"] == 4
    assert await world.login.execute(username="bob", password=PASSWORD)
    assert await world.use_cases.revoke_all_sessions.execute() == 1


# the session limit


def limited_world(limit: int) -> Wired:
    return Wired(
        InMemoryStore(),
        throttle_policy=throttle_limits(),
        account_policy=AccountPolicy(session_limit=limit),
    )


async def test_a_login_beyond_the_limit_ends_the_least_recently_used_session():
    wired = limited_world(3)
    use_cases, clock = wired.use_cases, wired.clock
    await use_cases.sign_up.execute(username="alice", password=PASSWORD)
    logins = []
    for _ in range(3):
        logins.append(await use_cases.login.execute(username="alice", password=PASSWORD))
        clock.advance(minutes=1)
    first, second, third = logins
    clock.advance(minutes=5)
    await use_cases.resolve_session.execute(token=first.token)  # used: the second is now the LRU
    wired.audit.events.clear()

    fourth = await use_cases.login.execute(username="alice", password=PASSWORD)

    with pytest.raises(NotAuthenticated):
        await use_cases.resolve_session.execute(token=second.token)
    for kept in (first, third, fourth):
        assert await use_cases.resolve_session.execute(token=kept.token)
    assert len(wired.store.sessions._by_hash) == 3
    assert [(e["event"], e.get("scope"), e["session_id"]) for e in wired.audit.events] == [
        ("session_revoked", "limit", second.session.id),
        ("login_succeeded", None, fourth.session.id),
    ]


async def test_a_limit_of_one_keeps_only_the_newest_session():
    wired = limited_world(1)
    await wired.use_cases.sign_up.execute(username="alice", password=PASSWORD)
    results = []
    for _ in range(3):
        results.append(await wired.use_cases.login.execute(username="alice", password=PASSWORD))
        wired.clock.advance(seconds=1)
    assert [s.id for s in wired.store.sessions._by_hash.values()] == [results[-1].session.id]


async def test_no_limit_keeps_every_session():
    wired = limited_world(0)
    await wired.use_cases.sign_up.execute(username="alice", password=PASSWORD)
    for _ in range(25):
        await wired.use_cases.login.execute(username="alice", password=PASSWORD)
    assert len(wired.store.sessions._by_hash) == 25


async def test_the_default_limit_is_twenty(world):
    await logged_in(world, times=21)
    assert len(world.store.sessions._by_hash) == 20
