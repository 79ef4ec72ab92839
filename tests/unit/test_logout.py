import pytest

from domain.errors import NotAuthenticated
from tests.constants import PASSWORD


async def test_logout_ends_only_the_presented_session(world):
    await world.sign_up.execute(username="alice", password=PASSWORD)
    laptop = await world.login.execute(username="alice", password=PASSWORD)
    phone = await world.login.execute(username="alice", password=PASSWORD)

    current = await world.resolve.execute(token=laptop.token)
    await world.logout.execute(current=current)

    with pytest.raises(NotAuthenticated):
        await world.resolve.execute(token=laptop.token)
    assert (await world.resolve.execute(token=phone.token)).user.username.display == "alice"


async def test_logging_out_twice_is_not_an_error(world):
    await world.sign_up.execute(username="alice", password=PASSWORD)
    result = await world.login.execute(username="alice", password=PASSWORD)
    current = await world.resolve.execute(token=result.token)
    await world.logout.execute(current=current)
    await world.logout.execute(current=current)
