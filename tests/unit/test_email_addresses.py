"""Email addresses: given at sign-up or changed with the current password, unverified until the
link mailed to them is followed, held verified by one account at a time."""

import pytest

from adapters.memory import InMemoryStore
from domain.account_policy import AccountPolicy
from domain.errors import (
    EmailAlreadyVerified,
    EmailTaken,
    InvalidEmail,
    InvalidToken,
    NoEmailAddress,
    Throttled,
    WrongPassword,
)
from domain.mail import MailKind
from tests.constants import PASSWORD
from tests.mail_links import last_token, link_token, queued
from tests.recovery_world import PHONE, RecoveryWorld


@pytest.fixture
def world() -> RecoveryWorld:
    return RecoveryWorld(InMemoryStore())


# sign-up


async def test_sign_up_with_an_address_stores_it_unverified_and_mails_a_link_that_verifies_it(
    world,
):
    user = await world.account(email="Alice@Example.COM")
    assert (user.email, user.email_verified) == ("Alice@example.com", False)  # domain lower-cased
    [message] = queued(world.store)
    assert (message.kind, message.to, message.user_id) == (
        MailKind.VERIFY_EMAIL,
        "Alice@example.com",
        user.id,
    )
    verified = await world.verify_email.execute(token=link_token(message))
    assert (verified.id, verified.email_verified) == (user.id, True)
    assert (await world.store.users.get(user.id)).verified_email == "Alice@example.com"
    assert [e["event"] for e in world.events()] == [
        "signup",
        "email_verification_requested",
        "email_verified",
    ]


async def test_a_malformed_address_refuses_the_sign_up_before_any_work(world):
    for bad in ("not an address", "a@b", "alice@example.com\r\nBcc: x@example.com", "@x.org"):
        with pytest.raises(InvalidEmail) as refused:
            await world.sign_up.execute(username="alice", password=PASSWORD, email=bad)
        assert refused.value.field == "email"
    assert world.hasher.calls == 0
    assert await world.store.users.get_by_username("alice") is None


async def test_with_mail_off_the_address_is_stored_unverified_and_nothing_is_mailed():
    world = RecoveryWorld(InMemoryStore(), mail=False)
    user = await world.account(email="alice@example.com")
    assert (user.email, user.email_verified) == ("alice@example.com", False)
    assert queued(world.store) == [] and world.store.tokens.by_hash == {}
    assert world.set_email is None and world.forgot is None  # no such use-cases, no routes


async def test_sign_up_without_an_address_mails_nothing(world):
    user = await world.account()
    assert (user.email, user.email_verified) == (None, False)
    assert queued(world.store) == []


# verification


async def test_a_link_works_until_just_before_its_expiry_and_not_at_it(world):
    await world.account("alice", email="alice@example.com")
    await world.account("bob", email="bob@example.com")
    ttl = AccountPolicy().email_verify_ttl
    world.clock.advance(seconds=ttl.total_seconds() - 0.000001)
    assert (
        await world.verify_email.execute(
            token=last_token(world.store, MailKind.VERIFY_EMAIL, "alice@example.com")
        )
    ).email_verified
    world.clock.advance(microseconds=1)  # now exactly at expires_at
    with pytest.raises(InvalidToken):
        await world.verify_email.execute(
            token=last_token(world.store, MailKind.VERIFY_EMAIL, "bob@example.com")
        )
    assert world.events("token_refused")[-1]["reason"] == "expired"


async def test_a_link_works_once_and_every_bad_token_gets_the_same_answer(world):
    await world.account(email="alice@example.com")
    token = last_token(world.store, MailKind.VERIFY_EMAIL)
    await world.verify_email.execute(token=token)
    for bad in (token, "x" * 43, "short", "", "é" * 43, token + "A"):
        with pytest.raises(InvalidToken) as refused:
            await world.verify_email.execute(token=bad)
        assert str(refused.value) == "Invalid or expired token"
    reasons = [e["reason"] for e in world.events("token_refused")]
    assert reasons == [
        "unknown_or_used",
        "unknown_or_used",
        "malformed",
        "malformed",
        "malformed",
        "malformed",
    ]
    assert all(e["purpose"] == "verify_email" for e in world.events("token_refused"))


async def test_a_reset_link_does_not_verify_an_address_and_stays_usable(world):
    await world.account(email="alice@example.com", verified=True)
    await world.forgot.execute(username="alice")
    await world.forgot.settle()
    reset = last_token(world.store, MailKind.PASSWORD_RESET)
    with pytest.raises(InvalidToken):
        await world.verify_email.execute(token=reset)
    assert world.events("token_refused")[-1]["reason"] == "wrong_purpose"
    assert await world.reset.execute(token=reset, new_password="a new long passphrase") == 0


async def test_one_account_at_a_time_holds_an_address_verified(world):
    await world.account("alice", email="shared@example.com")
    alices = last_token(world.store, MailKind.VERIFY_EMAIL)
    await world.account("bob", email="SHARED@example.com")  # compared case-insensitively
    bobs = last_token(world.store, MailKind.VERIFY_EMAIL)
    await world.verify_email.execute(token=alices)
    with pytest.raises(EmailTaken):
        await world.verify_email.execute(token=bobs)
    assert world.events("token_refused")[-1]["reason"] == "address_taken"
    # Bob's link was not used up: it works once Alice lets the address go.
    alice = await world.session("alice")
    await world.set_email.execute(
        current=alice, email="alice@example.org", current_password=PASSWORD
    )
    bob = await world.verify_email.execute(token=bobs)
    assert bob.verified_email == "SHARED@example.com"


# changing the address


async def test_changing_the_address_mails_a_link_to_the_new_one_and_a_notice_to_the_old(world):
    user = await world.account(email="old@example.com", verified=True)
    first_link = last_token(world.store, MailKind.VERIFY_EMAIL)
    current = await world.session()
    world.store.outbox.pending.clear()
    changed = await world.set_email.execute(
        current=current, email="new@example.com", current_password=PASSWORD, client=PHONE
    )
    assert (changed.email, changed.email_verified) == ("new@example.com", False)
    link, notice = queued(world.store)
    assert (link.kind, link.to) == (MailKind.VERIFY_EMAIL, "new@example.com")
    assert (notice.kind, notice.to, notice.user_id) == (
        MailKind.EMAIL_CHANGED,
        "old@example.com",
        user.id,
    )
    assert "new@example.com" in notice.text and "Firefox 128 on Linux" in notice.text
    assert PHONE.address in notice.text and "Mozilla/5.0" not in notice.text
    with pytest.raises(InvalidToken):  # used already, and dead with the old address anyway
        await world.verify_email.execute(token=first_link)
    assert (await world.verify_email.execute(token=link_token(link))).email_verified
    assert [e["event"] for e in world.events("email_changed", "email_verification_requested")][
        -2:
    ] == ["email_changed", "email_verification_requested"]


async def test_a_new_address_kills_the_links_mailed_for_the_old_unverified_one(world):
    await world.account(email="typo@exmaple.com")
    stale = last_token(world.store, MailKind.VERIFY_EMAIL)
    await world.set_email.execute(
        current=await world.session(), email="alice@example.com", current_password=PASSWORD
    )
    with pytest.raises(InvalidToken):
        await world.verify_email.execute(token=stale)
    assert queued(world.store, MailKind.EMAIL_CHANGED) == []  # the old one was never verified


async def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failed_login():
    world = RecoveryWorld(InMemoryStore(), login_per_address=2)
    await world.account(email="alice@example.com", verified=True)
    current = await world.session()
    before = len(queued(world.store))
    for _ in range(2):
        with pytest.raises(WrongPassword):
            await world.set_email.execute(
                current=current, email="evil@example.com", current_password="not my password"
            )
    with pytest.raises(Throttled):  # even with the right password now
        await world.set_email.execute(
            current=current, email="evil@example.com", current_password=PASSWORD
        )
    assert (await world.store.users.get(current.user.id)).verified_email == "alice@example.com"
    assert len(queued(world.store)) == before
    assert [(e["event"], e.get("action")) for e in world.events("login_failed", "throttled")] == [
        ("login_failed", "email_change"),
        ("login_failed", "email_change"),
        ("throttled", "email_change"),
    ]


async def test_a_malformed_new_address_is_refused_before_the_password_is_checked(world):
    await world.account()
    current = await world.session()
    world.hasher.calls = 0
    with pytest.raises(InvalidEmail):
        await world.set_email.execute(
            current=current, email="alice@", current_password="wrong password"
        )
    assert world.hasher.calls == 0


async def test_giving_the_verified_address_again_changes_and_mails_nothing(world):
    await world.account(email="alice@example.com", verified=True)
    current = await world.session()  # its login mails a new-device notice: counted before
    before = len(queued(world.store))
    user = await world.set_email.execute(
        current=current, email="alice@EXAMPLE.com", current_password=PASSWORD
    )
    assert user.verified_email == "alice@example.com"
    assert len(queued(world.store)) == before


async def test_new_addresses_beyond_the_mail_quota_are_refused_and_change_nothing():
    world = RecoveryWorld(InMemoryStore(), account_policy=AccountPolicy(mail_per_account=2))
    await world.account(email="a0@example.com")  # the sign-up's link is the first of two
    current = await world.session()
    await world.set_email.execute(
        current=current, email="a1@example.com", current_password=PASSWORD
    )
    with pytest.raises(Throttled) as refused:
        await world.set_email.execute(
            current=current, email="a2@example.com", current_password=PASSWORD
        )
    assert 0 < refused.value.retry_after <= 900
    assert (await world.store.users.get(current.user.id)).email == "a1@example.com"
    assert [m.to for m in queued(world.store)] == ["a0@example.com", "a1@example.com"]
    assert world.events("throttled")[-1]["reason"] == "mail_quota"


# resending the link


async def test_a_new_link_is_mailed_and_the_earlier_one_still_works(world):
    await world.account(email="alice@example.com")
    first = last_token(world.store, MailKind.VERIFY_EMAIL)
    await world.resend.execute(current=await world.session())
    second = last_token(world.store, MailKind.VERIFY_EMAIL)
    assert first != second
    assert (await world.verify_email.execute(token=first)).email_verified
    with pytest.raises(InvalidToken):  # verifying ends the account's other links
        await world.verify_email.execute(token=second)


async def test_resending_needs_an_unverified_address(world):
    await world.account("alice")
    with pytest.raises(NoEmailAddress):
        await world.resend.execute(current=await world.session("alice"))
    await world.account("bob", email="bob@example.com", verified=True)
    with pytest.raises(EmailAlreadyVerified):
        await world.resend.execute(current=await world.session("bob"))


async def test_resending_beyond_the_mail_quota_is_throttled_until_the_window_ends():
    world = RecoveryWorld(InMemoryStore(), account_policy=AccountPolicy(mail_per_account=2))
    await world.account(email="alice@example.com")
    current = await world.session()
    await world.resend.execute(current=current)
    with pytest.raises(Throttled):
        await world.resend.execute(current=current)
    assert len(queued(world.store, MailKind.VERIFY_EMAIL)) == 2
    world.clock.advance(minutes=15)
    current = await world.session()
    await world.resend.execute(current=current)
    assert len(queued(world.store, MailKind.VERIFY_EMAIL)) == 3


# purge


async def test_the_purge_deletes_expired_links_only(world):
    await world.account("alice", email="alice@example.com")
    world.clock.advance(hours=23)
    await world.account("bob", email="bob@example.com")
    world.clock.advance(hours=1)  # Alice's link expires now, Bob's in 23 hours
    await world.purge.execute()
    assert [t.email for t in world.store.tokens.by_hash.values()] == ["bob@example.com"]
