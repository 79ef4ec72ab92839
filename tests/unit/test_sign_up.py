import pytest

from domain.errors import InvalidPassword, InvalidUsername, UsernameTaken
from tests.constants import PASSWORD


async def test_sign_up_stores_a_hash_never_the_password(world):
    user = await world.sign_up.execute(username="Alice", password=PASSWORD)

    stored = await world.store.users.get_by_username("alice")
    assert stored is not None and stored.id == user.id
    assert stored.password_hash != PASSWORD and PASSWORD not in stored.password_hash
    assert stored.username.display == "Alice"
    assert stored.created_at == world.clock.now()
    assert PASSWORD not in repr(stored) and stored.password_hash not in repr(stored)


@pytest.mark.parametrize("other", ["alice", "ALICE", "ａｌｉｃｅ", "Ａｌｉｃｅ"])
async def test_a_username_differing_only_by_case_or_width_is_taken(world, other):
    await world.sign_up.execute(username="Alice", password=PASSWORD)
    with pytest.raises(UsernameTaken):
        await world.sign_up.execute(username=other, password=PASSWORD)


async def test_a_taken_username_is_refused_before_any_hashing(world):
    await world.sign_up.execute(username="alice", password=PASSWORD)
    world.hasher.calls = 0
    with pytest.raises(UsernameTaken):
        await world.sign_up.execute(username="ALICE", password=PASSWORD)
    assert world.hasher.calls == 0


@pytest.mark.parametrize(
    "username", ["ab", "a" * 65, "with space", "tab\there", "a:b", "zero\u200bwidth", "аlice"]
)
async def test_invalid_usernames_are_refused(world, username):
    with pytest.raises(InvalidUsername):
        await world.sign_up.execute(username=username, password=PASSWORD)
    assert await world.store.users.get_by_username(username.casefold()) is None


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("short", "too_short"),
        ("x" * 1025, "too_long"),
        ("password1", "common_password"),
        ("PassWord123", "common_password"),
    ],
)
async def test_weak_passwords_are_refused_without_hashing(world, password, code):
    with pytest.raises(InvalidPassword) as error:
        await world.sign_up.execute(username="alice", password=password)
    assert error.value.code == code and error.value.field == "password"
    assert password not in str(error.value)
    assert world.hasher.calls == 0


async def test_the_password_is_hashed_in_its_nfkc_form(world):
    await world.sign_up.execute(username="alice", password="ｆｕｌｌｗｉｄｔｈ ｐａｓｓ")
    result = await world.login.execute(username="alice", password="fullwidth pass")
    assert result.user.username.canonical == "alice"
