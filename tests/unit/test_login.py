from datetime import timedelta

import pytest

from domain.errors import InvalidCredentials
from domain.session import hash_token
from tests.constants import ABSOLUTE, HOME, PASSWORD


@pytest.fixture
async def alice(world):
    return await world.sign_up.execute(username="Alice", password=PASSWORD)


async def test_login_opens_a_session_stored_only_by_its_token_hash(world, alice):
    result = await world.login.execute(username="alice", password=PASSWORD, client=HOME)

    assert len(result.token) >= 43  # 256 bits, URL-safe base64
    found = await world.store.sessions.get_with_user(hash_token(result.token))
    assert found is not None
    session, user = found
    assert user.id == alice.id and session.id == result.session.id
    assert (
        session.token_hash == hash_token(result.token)
        and result.token.encode() not in session.token_hash
    )
    assert (session.user_agent, session.ip) == ("home browser", "192.0.2.1")
    assert session.expires_at == world.clock.now() + timedelta(seconds=ABSOLUTE)
    assert result.token not in repr(result) and result.token not in repr(session)


async def test_every_login_issues_a_new_token_and_session_id(world, alice):
    first = await world.login.execute(username="alice", password=PASSWORD)
    second = await world.login.execute(username="alice", password=PASSWORD)
    assert first.token != second.token and first.session.id != second.session.id
    assert await world.store.sessions.get_with_user(hash_token(first.token)) is not None


async def test_login_revokes_the_session_the_client_presented(world, alice):
    old = await world.login.execute(username="alice", password=PASSWORD)
    new = await world.login.execute(username="alice", password=PASSWORD, presented_token=old.token)

    assert await world.store.sessions.get_with_user(hash_token(old.token)) is None
    assert await world.store.sessions.get_with_user(hash_token(new.token)) is not None


async def test_a_failed_login_keeps_the_presented_session(world, alice):
    old = await world.login.execute(username="alice", password=PASSWORD)
    with pytest.raises(InvalidCredentials):
        await world.login.execute(
            username="alice", password="wrong password!", presented_token=old.token
        )
    assert await world.store.sessions.get_with_user(hash_token(old.token)) is not None


async def test_a_garbage_presented_token_is_ignored(world, alice):
    result = await world.login.execute(
        username="alice", password=PASSWORD, presented_token="not a token"
    )
    assert result.token


@pytest.mark.parametrize("username", ["ALICE", "ａｌｉｃｅ", "Alice"])
async def test_login_compares_the_canonical_username(world, alice, username):
    result = await world.login.execute(username=username, password=PASSWORD)
    assert result.user.id == alice.id


async def test_wrong_password_and_unknown_user_fail_alike_and_both_hash(world, alice):
    world.hasher.calls = 0
    with pytest.raises(InvalidCredentials) as wrong:
        await world.login.execute(username="alice", password="not the password")
    with pytest.raises(InvalidCredentials) as unknown:
        await world.login.execute(username="bob", password="not the password")
    assert str(wrong.value) == str(unknown.value) == "Invalid credentials"
    assert world.hasher.calls == 2  # the unknown user cost a dummy verify


@pytest.mark.parametrize(
    ("username", "password"), [("a b", PASSWORD), ("alice", "x" * 1025), ("аlice", PASSWORD)]
)
async def test_unusable_input_fails_as_invalid_credentials_without_hashing(
    world, alice, username, password
):
    world.hasher.calls = 0
    with pytest.raises(InvalidCredentials):
        await world.login.execute(username=username, password=password)
    assert world.hasher.calls == 0


async def test_login_accepts_the_nfkc_form_of_the_password(world):
    await world.sign_up.execute(username="bob", password="ﬁne password")  # U+FB01 ligature
    result = await world.login.execute(username="bob", password="fine password")
    assert result.user.username.display == "bob"


async def test_a_concurrent_rehash_does_not_fail_a_login_with_the_right_password(world, alice):
    """Another login re-hashed the same password between this login's verify and its session:
    the login still succeeds (only a password change may refuse it)."""
    real_add = world.store.sessions.add

    async def add_after_a_rehash(session, *, password_hash, **options):
        stored = world.store.users._by_id[alice.id]
        if (
            stored.password_hash == password_hash
        ):  # the first try: another login rehashes just before
            stored.password_hash = (
                "rehashed$" + stored.password_hash.partition("$")[2]
            )  # same password
        return await real_add(session, password_hash=password_hash, **options)

    world.store.sessions.add = add_after_a_rehash
    result = await world.login.execute(username="alice", password=PASSWORD)
    assert await world.resolve.execute(token=result.token)


async def test_a_login_that_raced_a_password_change_keeps_the_presented_session(world, alice):
    old = await world.login.execute(username="alice", password=PASSWORD)
    real_add = world.store.sessions.add

    async def add_after_a_change(session, *, password_hash, **options):
        world.store.users._by_id[alice.id].password_hash = await world.hasher.hash(
            "a brand new passphrase"
        )
        return await real_add(session, password_hash=password_hash, **options)

    world.store.sessions.add = add_after_a_change
    with pytest.raises(InvalidCredentials):
        await world.login.execute(username="alice", password=PASSWORD, presented_token=old.token)
    assert await world.store.sessions.get_with_user(hash_token(old.token)) is not None
