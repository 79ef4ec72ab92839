import pytest

from domain.errors import NotAuthenticated, SessionExpired
from domain.session import hash_token
from tests.constants import ABSOLUTE, IDLE, PASSWORD


@pytest.fixture
async def token(world):
    await world.sign_up.execute(username="alice", password=PASSWORD)
    return (await world.login.execute(username="alice", password=PASSWORD)).token


async def stored_last_seen(world, token):
    session, _ = await world.store.sessions.get_with_user(hash_token(token))
    return session.last_seen_at


async def test_a_valid_token_resolves_to_its_user(world, token):
    current = await world.resolve.execute(token=token)
    assert current.user.username.display == "alice"


@pytest.mark.parametrize("garbage", ["", "x", "a" * 42, "a" * 44, "é" * 43, "a b" * 20])
async def test_malformed_tokens_are_refused(world, garbage):
    with pytest.raises(NotAuthenticated):
        await world.resolve.execute(token=garbage)


async def test_an_unknown_well_formed_token_is_refused(world, token):
    with pytest.raises(NotAuthenticated):
        await world.resolve.execute(token=world.tokens.session_token())


async def test_idle_deadline_a_second_before_and_after(world, token):
    world.clock.advance(seconds=IDLE - 1)
    await world.resolve.execute(token=token)  # still valid; this use slides the idle deadline

    world.clock.advance(seconds=IDLE - 1)
    await world.resolve.execute(token=token)

    world.clock.advance(seconds=IDLE)
    with pytest.raises(SessionExpired):
        await world.resolve.execute(token=token)


async def test_idle_deadline_is_exact_without_use(world, token):
    world.clock.advance(seconds=IDLE - 1)
    # a second before: ask the policy, since a resolve would slide the deadline
    session, _ = await world.store.sessions.get_with_user(hash_token(token))
    assert not world.policy.is_expired(session, world.clock.now())
    world.clock.advance(seconds=1)
    with pytest.raises(SessionExpired):
        await world.resolve.execute(token=token)


async def test_absolute_deadline_a_second_before_and_after_despite_constant_use(world, token):
    step = IDLE // 2
    elapsed = 0
    while elapsed + step < ABSOLUTE - 1:
        world.clock.advance(seconds=step)
        elapsed += step
        await world.resolve.execute(token=token)
    world.clock.advance(seconds=ABSOLUTE - 1 - elapsed)
    await world.resolve.execute(token=token)  # a second before the absolute deadline

    world.clock.advance(seconds=2)  # a second after
    with pytest.raises(SessionExpired):
        await world.resolve.execute(token=token)


async def test_a_use_within_the_touch_interval_does_not_write(world, token):
    before = await stored_last_seen(world, token)
    world.clock.advance(seconds=world.policy.touch_interval.total_seconds() - 1)
    await world.resolve.execute(token=token)
    assert await stored_last_seen(world, token) == before


async def test_a_use_after_the_touch_interval_slides_the_idle_deadline(world, token):
    world.clock.advance(seconds=world.policy.touch_interval.total_seconds())
    current = await world.resolve.execute(token=token)
    assert await stored_last_seen(world, token) == world.clock.now()
    assert current.session.last_seen_at == world.clock.now()


async def test_a_revoked_session_is_refused(world, token):
    current = await world.resolve.execute(token=token)
    await world.logout.execute(current=current)
    with pytest.raises(NotAuthenticated):
        await world.resolve.execute(token=token)
