"""Password change, rehash on login, session listing and revocation, incident response."""

import pytest

from domain.client import Client
from domain.errors import (
    InvalidCredentials,
    InvalidPassword,
    NotAuthenticated,
    SessionNotFound,
    Throttled,
    UnknownUser,
    WrongPassword,
)
from tests.constants import HOME, IDLE, PASSWORD
from tests.fakes import FastPasswordHasher

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def alice(world):
    await world.sign_up.execute(username="alice", password=PASSWORD)
    laptop = await world.login.execute(username="alice", password=PASSWORD, client=HOME)
    world.clock.advance(seconds=1)
    phone = await world.login.execute(
        username="alice", password=PASSWORD, client=Client(user_agent="phone")
    )
    return laptop, phone


async def test_password_change_ends_other_sessions_and_rotates_the_current_token(world, alice):
    laptop, phone = alice
    current = await world.resolve.execute(token=laptop.token)

    new_token = await world.change_password.execute(
        current=current, current_password=PASSWORD, new_password=NEW_PASSWORD
    )

    assert new_token != laptop.token
    for old in (laptop.token, phone.token):
        with pytest.raises(NotAuthenticated):
            await world.resolve.execute(token=old)
    rotated = await world.resolve.execute(token=new_token)
    assert rotated.session.id == laptop.session.id  # same session, new token
    assert (await world.login.execute(username="alice", password=NEW_PASSWORD)).token
    with pytest.raises(InvalidCredentials):
        await world.login.execute(username="alice", password=PASSWORD)


async def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failed_login(
    make_world, alice
):
    w = make_world(login_per_address=2)
    await w.sign_up.execute(username="alice", password=PASSWORD)
    token = (await w.login.execute(username="alice", password=PASSWORD, client=HOME)).token
    current = await w.resolve.execute(token=token)
    for _ in range(2):
        with pytest.raises(WrongPassword):
            await w.change_password.execute(
                current=current,
                current_password="wrong password",
                new_password=NEW_PASSWORD,
                client=HOME,
            )
    with pytest.raises(Throttled):
        await w.change_password.execute(
            current=current, current_password=PASSWORD, new_password=NEW_PASSWORD, client=HOME
        )
    with pytest.raises(Throttled):  # the same counter judges logins from that address
        await w.login.execute(username="alice", password=PASSWORD, client=HOME)
    assert (await w.resolve.execute(token=token)).user.username.display == "alice"


async def test_the_new_password_must_satisfy_the_policy(world, alice):
    current = await world.resolve.execute(token=alice[0].token)
    with pytest.raises(InvalidPassword) as error:
        await world.change_password.execute(
            current=current, current_password=PASSWORD, new_password="password123"
        )
    assert error.value.field == "new_password"
    assert (await world.resolve.execute(token=alice[1].token)).session.id == alice[1].session.id


async def test_a_password_change_on_a_session_ended_meanwhile_changes_nothing(world, alice):
    current = await world.resolve.execute(token=alice[0].token)
    await world.logout.execute(current=current)
    with pytest.raises(NotAuthenticated):
        await world.change_password.execute(
            current=current, current_password=PASSWORD, new_password=NEW_PASSWORD
        )
    assert (await world.login.execute(username="alice", password=PASSWORD)).token
    assert (await world.resolve.execute(token=alice[1].token)).session


async def test_login_rehashes_an_outdated_hash_without_ending_sessions(world, alice):
    world.hasher.prefix = "new$"  # the configured parameters changed
    before = (await world.store.users.get_by_username("alice")).password_hash
    assert not before.startswith("new$")

    await world.login.execute(username="alice", password=PASSWORD)

    assert (await world.store.users.get_by_username("alice")).password_hash.startswith("new$")
    for result in alice:
        assert await world.resolve.execute(token=result.token)
    assert "password_rehashed" in world.audit.names()


async def test_an_up_to_date_hash_is_left_alone(world, alice):
    before = (await world.store.users.get_by_username("alice")).password_hash
    await world.login.execute(username="alice", password=PASSWORD)
    assert (await world.store.users.get_by_username("alice")).password_hash == before
    assert "password_rehashed" not in world.audit.names()


async def test_sessions_are_listed_newest_first_with_the_current_marked(world, alice):
    laptop, phone = alice
    listed = await world.list_sessions.execute(
        current=await world.resolve.execute(token=laptop.token)
    )
    assert [s.session.id for s in listed] == [phone.session.id, laptop.session.id]
    assert [s.current for s in listed] == [False, True]
    assert listed[1].session.user_agent == "home browser" and listed[1].session.ip == "192.0.2.1"


async def test_expired_sessions_are_not_listed(world, alice):
    laptop, _ = alice
    world.clock.advance(seconds=IDLE - 2)
    current = await world.resolve.execute(token=laptop.token)  # keeps the laptop alive
    world.clock.advance(seconds=2)
    listed = await world.list_sessions.execute(current=current)
    assert [s.session.id for s in listed] == [laptop.session.id]


async def test_revoking_one_session_by_its_public_id(world, alice):
    laptop, phone = alice
    current = await world.resolve.execute(token=laptop.token)
    assert await world.revoke_session.execute(current=current, session_id=phone.session.id) is False
    with pytest.raises(NotAuthenticated):
        await world.resolve.execute(token=phone.token)
    assert await world.resolve.execute(token=laptop.token)


async def test_revoking_the_current_session_says_so(world, alice):
    current = await world.resolve.execute(token=alice[0].token)
    assert (
        await world.revoke_session.execute(current=current, session_id=alice[0].session.id) is True
    )


async def test_unknown_foreign_and_revoked_ids_look_alike(world, alice):
    laptop, phone = alice
    await world.sign_up.execute(username="bob", password=PASSWORD)
    bob = await world.login.execute(username="bob", password=PASSWORD)
    current = await world.resolve.execute(token=laptop.token)
    await world.revoke_session.execute(current=current, session_id=phone.session.id)
    for session_id in (
        phone.session.id,
        bob.session.id,
        "00000000-0000-0000-0000-000000000000",
        "not-a-uuid",
    ):
        with pytest.raises(SessionNotFound):
            await world.revoke_session.execute(current=current, session_id=session_id)
    assert await world.resolve.execute(token=bob.token)


async def test_revoking_all_other_sessions(world, alice):
    laptop, phone = alice
    await world.sign_up.execute(username="bob", password=PASSWORD)
    bob = await world.login.execute(username="bob", password=PASSWORD)
    current = await world.resolve.execute(token=laptop.token)
    assert await world.revoke_others.execute(current=current) == 1
    with pytest.raises(NotAuthenticated):
        await world.resolve.execute(token=phone.token)
    assert await world.resolve.execute(token=laptop.token)
    assert await world.resolve.execute(token=bob.token)


async def test_incident_response_revokes_every_session_of_a_user(world, alice):
    assert await world.revoke_user_sessions.execute(username="ALICE") == 2
    for result in alice:
        with pytest.raises(NotAuthenticated):
            await world.resolve.execute(token=result.token)
    with pytest.raises(UnknownUser):
        await world.revoke_user_sessions.execute(username="nobody")
    with pytest.raises(UnknownUser):
        await world.revoke_user_sessions.execute(username="no body")


async def test_purge_deletes_only_expired_sessions(world, alice):
    world.clock.advance(seconds=IDLE - 2)  # the laptop logged in a second before the phone
    assert await world.purge.execute() == 0
    world.clock.advance(seconds=1)
    assert await world.purge.execute() == 1  # the laptop
    assert await world.purge.execute() == 0
    world.clock.advance(seconds=1)
    assert await world.purge.execute() == 1


def test_the_fake_hasher_stands_for_parameters():
    assert FastPasswordHasher("a$").needs_rehash("b$x")
