"""Login and sign-up throttling, and why it cannot be turned into a lockout."""

import pytest

from domain.client import Client
from domain.errors import InvalidCredentials, Throttled, UsernameTaken, WrongPassword
from domain.throttle import address_group
from tests.constants import HOME, PASSWORD

ATTACKER = Client(address="203.0.113.66", user_agent="bot")


@pytest.fixture
async def world(make_world):
    w = make_world(
        login_per_address=3, login_per_account=5, login_per_device=4, signup_per_address=2
    )
    await w.sign_up.execute(
        username="alice", password=PASSWORD, client=Client(address="198.51.100.1")
    )
    return w


async def fail(world, client, times, username="alice"):
    for _ in range(times):
        with pytest.raises(InvalidCredentials):
            await world.login.execute(username=username, password="wrong password", client=client)


async def test_per_address_limit_refuses_even_the_right_password_before_hashing(world):
    await fail(world, ATTACKER, 3)
    world.hasher.calls = 0
    with pytest.raises(Throttled) as error:
        await world.login.execute(username="alice", password=PASSWORD, client=ATTACKER)
    assert world.hasher.calls == 0
    assert 0 < error.value.retry_after <= 15 * 60


async def test_the_window_closes_and_counting_starts_again(world):
    await fail(world, ATTACKER, 3)
    world.clock.advance(minutes=15)
    assert (await world.login.execute(username="alice", password=PASSWORD, client=ATTACKER)).token


async def test_retry_after_counts_down_to_the_end_of_the_window(world):
    await fail(world, ATTACKER, 3)
    world.clock.advance(minutes=10)
    with pytest.raises(Throttled) as error:
        await world.login.execute(username="alice", password=PASSWORD, client=ATTACKER)
    assert error.value.retry_after == 5 * 60


async def test_a_throttled_attempt_is_not_counted_as_a_failure(world):
    await fail(world, ATTACKER, 3)
    for _ in range(10):
        with pytest.raises(Throttled):
            await world.login.execute(username="alice", password="wrong password", client=ATTACKER)
    # the account counter saw 3 failures, not 13: another address still has 2 tries before 5
    other = Client(address="203.0.113.67")
    await fail(world, other, 1)
    assert (await world.login.execute(username="alice", password=PASSWORD, client=other)).token


async def test_per_account_limit_across_many_addresses(world):
    for i in range(5):
        await fail(world, Client(address=f"203.0.113.{i}"), 1)
    with pytest.raises(Throttled):
        await world.login.execute(
            username="alice", password=PASSWORD, client=Client(address="203.0.113.99")
        )


async def test_the_owner_with_a_device_cookie_logs_in_while_the_account_is_held_down(world):
    owner = (
        await world.login.execute(username="alice", password=PASSWORD, client=HOME)
    ).device_cookie
    for i in range(4):  # an attacker on many addresses...
        await fail(world, Client(address=f"203.0.113.{i}"), 1)
    await fail(world, Client(address=HOME.address), 1)  # ...and one sharing the owner's address
    with pytest.raises(Throttled):
        await world.login.execute(username="alice", password=PASSWORD, client=HOME)
    with_device = Client(address=HOME.address, user_agent=HOME.user_agent, device_cookie=owner)
    assert (
        await world.login.execute(username="alice", password=PASSWORD, client=with_device)
    ).token


async def test_device_failures_are_limited_per_device(world):
    cookie = (
        await world.login.execute(username="alice", password=PASSWORD, client=HOME)
    ).device_cookie
    device = Client(address=HOME.address, device_cookie=cookie)
    await fail(world, device, 4)
    with pytest.raises(Throttled):
        await world.login.execute(username="alice", password=PASSWORD, client=device)
    # the device's failures did not count against the account for everyone else
    assert (
        await world.login.execute(
            username="alice", password=PASSWORD, client=Client(address="198.51.100.9")
        )
    ).token


def tampered(cookie: str) -> str:
    user_id, device_id, expires, mac = cookie.split(".")
    return ".".join([user_id, device_id, str(int(expires) + 10**6), mac])


@pytest.mark.parametrize("kind", ["tampered", "foreign", "garbage"])
async def test_a_tampered_foreign_or_garbage_device_cookie_counts_as_none(world, kind):
    own = (
        await world.login.execute(username="alice", password=PASSWORD, client=HOME)
    ).device_cookie
    await world.sign_up.execute(username="bob", password=PASSWORD)
    foreign = (await world.login.execute(username="bob", password=PASSWORD)).device_cookie
    cookie = {"tampered": tampered(own), "foreign": foreign, "garbage": "a.b.c.d"}[kind]
    attacker = Client(address="203.0.113.5", device_cookie=cookie)

    await fail(world, attacker, 3)
    with pytest.raises(Throttled):  # judged per (account, address), as a client without a device
        await world.login.execute(username="alice", password=PASSWORD, client=attacker)


async def test_an_expired_device_cookie_counts_as_none(world):
    cookie = (
        await world.login.execute(username="alice", password=PASSWORD, client=HOME)
    ).device_cookie
    world.clock.advance(days=31)
    assert (
        await world.devices.device_for(
            cookie, (await world.store.users.get_by_username("alice")).id, world.clock.now()
        )
        is None
    )


async def test_a_success_clears_the_counter_it_was_judged_by(world):
    await fail(world, ATTACKER, 2)
    await world.login.execute(username="alice", password=PASSWORD, client=ATTACKER)
    await fail(world, ATTACKER, 2)  # a fresh count: 2 more failures, not throttled yet
    assert (await world.login.execute(username="alice", password=PASSWORD, client=ATTACKER)).token


async def test_unknown_and_invalid_usernames_are_throttled_alike(world):
    await fail(world, ATTACKER, 3, username="nobody")
    await fail(world, ATTACKER, 3, username="no body")
    for name in ("nobody", "no body"):
        with pytest.raises(Throttled):
            await world.login.execute(username=name, password="wrong password", client=ATTACKER)


async def test_a_zero_limit_is_off(make_world):
    w = make_world(login_per_address=0, login_per_account=0)
    await w.sign_up.execute(username="alice", password=PASSWORD)
    await fail(w, ATTACKER, 50)
    assert (await w.login.execute(username="alice", password=PASSWORD, client=ATTACKER)).token


async def test_sign_ups_are_limited_per_address_taken_names_included(world):
    lab = Client(address="198.51.100.1")  # already signed up alice: one of two
    with pytest.raises(UsernameTaken):
        await world.sign_up.execute(username="ALICE", password=PASSWORD, client=lab)
    with pytest.raises(Throttled):
        await world.sign_up.execute(username="carol", password=PASSWORD, client=lab)
    assert await world.sign_up.execute(
        username="carol", password=PASSWORD, client=Client(address="198.51.100.2")
    )


async def test_purge_forgets_closed_windows_only(world):
    await fail(world, ATTACKER, 1)
    await world.purge.execute()
    assert await world.store.attempts.get(["login:account:alice"], world.clock.now())
    world.clock.advance(minutes=15)
    await world.purge.execute()
    assert world.store.attempts._windows == {}


@pytest.fixture
async def spray_world(make_world):
    w = make_world(failures_per_address=5, login_per_address=3, login_per_account=50)
    for name in ("alice", "mallory"):
        await w.sign_up.execute(
            username=name, password=PASSWORD, client=Client(address=f"198.51.100.{len(name)}")
        )
    return w


async def test_one_address_spraying_many_accounts_is_limited_across_accounts(spray_world):
    for i in range(5):
        await fail(spray_world, ATTACKER, 1, username=f"victim{i}")
    with pytest.raises(Throttled):  # a sixth account, and the right password, from that address
        await spray_world.login.execute(username="alice", password=PASSWORD, client=ATTACKER)
    assert (await spray_world.login.execute(username="alice", password=PASSWORD, client=HOME)).token


async def test_unusable_usernames_count_toward_the_failures_of_the_address(spray_world):
    for i in range(3):  # all share one counter of their own, which allows 3
        await fail(spray_world, ATTACKER, 1, username=f"no body {i}")
    await fail(spray_world, ATTACKER, 2, username="victim")
    with pytest.raises(Throttled):
        await spray_world.login.execute(username="alice", password=PASSWORD, client=ATTACKER)


async def test_a_success_does_not_clear_the_failures_of_the_address(spray_world):
    for i in range(4):
        await fail(spray_world, ATTACKER, 1, username=f"victim{i}")
    # the attacker's own account: logging in to it must not buy more guesses at others
    await spray_world.login.execute(username="mallory", password=PASSWORD, client=ATTACKER)
    await fail(spray_world, ATTACKER, 1, username="victim9")
    with pytest.raises(Throttled):
        await spray_world.login.execute(
            username="victim10", password="wrong password", client=ATTACKER
        )


async def test_the_failures_of_the_address_do_not_hold_the_owner_with_a_device_cookie(spray_world):
    cookie = (
        await spray_world.login.execute(username="alice", password=PASSWORD, client=HOME)
    ).device_cookie
    for i in range(5):  # someone at the owner's address sprays other accounts
        await fail(spray_world, HOME, 1, username=f"victim{i}")
    with pytest.raises(Throttled):
        await spray_world.login.execute(username="alice", password=PASSWORD, client=HOME)
    with_device = Client(address=HOME.address, device_cookie=cookie)
    assert (
        await spray_world.login.execute(username="alice", password=PASSWORD, client=with_device)
    ).token


async def test_a_wrong_current_password_counts_toward_the_failures_of_the_address(spray_world):
    token = (
        await spray_world.login.execute(username="alice", password=PASSWORD, client=ATTACKER)
    ).token
    current = await spray_world.resolve.execute(token=token)
    for i in range(4):
        await fail(spray_world, ATTACKER, 1, username=f"victim{i}")
    with pytest.raises(WrongPassword):
        await spray_world.change_password.execute(
            current=current,
            current_password="wrong password",
            new_password="a brand new passphrase",
            client=ATTACKER,
        )
    with pytest.raises(Throttled):
        await spray_world.login.execute(username="mallory", password=PASSWORD, client=ATTACKER)


async def test_an_ipv6_subscriber_cannot_escape_the_address_limits_by_rotating_addresses(
    make_world,
):
    w = make_world(failures_per_address=5, login_per_address=3, signup_per_address=2)
    await w.sign_up.execute(
        username="alice", password=PASSWORD, client=Client(address="2001:db8:1:2::1")
    )
    for i in range(5):  # five addresses of one /64, five accounts
        await fail(w, Client(address=f"2001:db8:1:2::{i + 10:x}"), 1, username=f"victim{i}")
    with pytest.raises(Throttled):
        await w.login.execute(
            username="alice", password=PASSWORD, client=Client(address="2001:db8:1:2:ffff::1")
        )
    with pytest.raises(Throttled):  # sign-ups too: its second of two came from the same /64
        await w.sign_up.execute(
            username="carol", password=PASSWORD, client=Client(address="2001:db8:1:2::99")
        )
        await w.sign_up.execute(
            username="dave", password=PASSWORD, client=Client(address="2001:db8:1:2::98")
        )
    other_subnet = Client(address="2001:db8:1:3::1")  # the next /64 is someone else
    assert (await w.login.execute(username="alice", password=PASSWORD, client=other_subnet)).token


@pytest.mark.parametrize(
    ("address", "group"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client, not the /64 of every one
        ("embedder-client-7", "embedder-client-7"),
        (None, None),
    ],
)
def test_the_address_limits_count_an_ipv6_64_and_an_ipv4_address(address, group):
    assert address_group(address) == group
