"""The contract of account tokens (links in mail) and the user operations they authorise, on the
in-memory and the Postgres store alike: single use, expiry at `expires_at`, all or nothing."""

import asyncio
import uuid
from datetime import timedelta

import pytest

from adapters.memory import InMemoryStore
from domain.account_token import AccountToken, TokenPurpose
from domain.errors import EmailTaken, UsernameTaken
from domain.mail import MailKind, MailMessage
from domain.session import hash_token
from tests.records import FAKE_HASH, T0, a_session, a_user

VERIFY, RESET = TokenPurpose.VERIFY_EMAIL, TokenPurpose.RESET_PASSWORD
HOUR = timedelta(hours=1)


@pytest.fixture(params=["memory", "postgres"])
def store(request):
    return InMemoryStore() if request.param == "memory" else request.getfixturevalue("pg_store")


def a_token(user, purpose=RESET, email=None, at=T0, ttl=HOUR) -> tuple[str, AccountToken]:
    secret = f"{uuid.uuid4().hex}{uuid.uuid4().hex[:11]}"
    return secret, AccountToken.issue(
        secret, purpose=purpose, user_id=user.id, now=at, ttl=ttl, email=email
    )


def a_message(user, kind=MailKind.VERIFY_EMAIL) -> MailMessage:
    return MailMessage(
        id=str(uuid.uuid4()),
        kind=kind,
        to="alice@example.com",
        subject="s",
        text="t",
        html="h",
        user_id=user.id,
        created_at=T0,
    )


async def queued_ids(store) -> set[str]:
    if isinstance(store, InMemoryStore):
        return set(store.outbox.pending)
    async with store.connection() as c:
        return {str(row["id"]) for row in await c.fetch("SELECT id FROM mail_outbox")}


async def a_user_with(store, name="alice", email=None, verified=False):
    user = a_user(name)
    user.email, user.email_verified = email, False
    await store.users.add(user)
    if verified:
        _, token = a_token(user, VERIFY, email)
        await store.tokens.add(token)
        user = await store.users.verify_email(token.token_hash, T0)
    return user


# storing and finding


async def test_a_token_is_found_by_its_hash_as_stored_and_only_its_hash_is_kept(store):
    user = await a_user_with(store)
    secret, token = a_token(user, VERIFY, "alice@example.com")
    message = a_message(user)
    await store.tokens.add(token, mail=[message])
    assert await store.tokens.find(hash_token(secret)) == token
    assert await store.tokens.find(hash_token("n" * 43)) is None
    assert secret not in repr(token) and token.token_hash not in repr(token).encode()
    assert await queued_ids(store) == {message.id}


async def test_a_user_is_added_with_its_first_token_and_mail_or_not_at_all(store):
    user = a_user("alice")
    user.email = "alice@example.com"
    _, token = a_token(user, VERIFY, user.email)
    message = a_message(user)
    await store.users.add(user, token=token, mail=[message])
    assert (await store.users.get(user.id)).email == "alice@example.com"
    assert await store.tokens.find(token.token_hash) == token
    twin = a_user("ALICE")
    _, twins = a_token(twin, VERIFY, "x@example.com")
    with pytest.raises(UsernameTaken):
        await store.users.add(twin, token=twins, mail=[a_message(twin)])
    assert await store.tokens.find(twins.token_hash) is None
    assert await queued_ids(store) == {message.id}


async def test_the_purge_deletes_tokens_expired_at_that_instant(store):
    user = await a_user_with(store)
    _, early = a_token(user, ttl=HOUR)
    _, late = a_token(user, ttl=2 * HOUR)
    for token in (early, late):
        await store.tokens.add(token)
    assert await store.tokens.purge_expired(T0 + HOUR) == 1
    assert await store.tokens.find(early.token_hash) is None
    assert await store.tokens.find(late.token_hash) == late


# addresses


async def test_a_user_is_found_by_verified_address_only_case_insensitively(store):
    alice = await a_user_with(store, "alice", "Alice@example.com", verified=True)
    await a_user_with(store, "bob", "bob@example.com")
    assert (await store.users.get_by_verified_email("ALICE@EXAMPLE.COM")).id == alice.id
    assert await store.users.get_by_verified_email("bob@example.com") is None
    assert await store.users.get_by_verified_email("nobody@example.com") is None


async def test_setting_an_address_unverifies_it_and_replaces_the_verification_tokens(store):
    user = await a_user_with(store, email="old@example.com", verified=True)
    _, stale = a_token(user, VERIFY, "old@example.com")
    _, reset = a_token(user, RESET)
    for token in (stale, reset):
        await store.tokens.add(token)
    _, fresh = a_token(user, VERIFY, "new@example.com")
    message = a_message(user)
    changed = await store.users.set_email(user.id, "new@example.com", token=fresh, mail=[message])
    assert (changed.email, changed.email_verified) == ("new@example.com", False)
    assert await store.users.get(user.id) == changed
    assert await store.tokens.find(stale.token_hash) is None
    assert await store.tokens.find(fresh.token_hash) == fresh
    assert await store.tokens.find(reset.token_hash) == reset  # a reset link is not about it
    assert message.id in await queued_ids(store)
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        assert await store.users.set_email(unknown, "x@example.com", token=fresh) is None


async def test_verifying_consumes_the_token_and_the_accounts_other_verification_tokens(store):
    user = await a_user_with(store, email="alice@example.com")
    _, first = a_token(user, VERIFY, "alice@example.com")
    _, second = a_token(user, VERIFY, "alice@example.com")
    for token in (first, second):
        await store.tokens.add(token)
    verified = await store.users.verify_email(first.token_hash, T0)
    assert (verified.id, verified.email_verified) == (user.id, True)
    assert (await store.users.get(user.id)).email_verified
    assert await store.tokens.find(first.token_hash) is None
    assert await store.tokens.find(second.token_hash) is None
    assert await store.users.verify_email(first.token_hash, T0) is None


async def test_a_verification_token_does_nothing_when_expired_misdirected_or_of_another_kind(
    store,
):
    user = await a_user_with(store, email="alice@example.com")
    _, expired = a_token(user, VERIFY, "alice@example.com")
    _, elsewhere = a_token(user, VERIFY, "other@example.com")  # not the address it names now
    _, reset = a_token(user, RESET)
    for token in (expired, elsewhere, reset):
        await store.tokens.add(token)
    assert await store.users.verify_email(expired.token_hash, T0 + HOUR) is None
    assert await store.users.verify_email(elsewhere.token_hash, T0) is None
    assert await store.users.verify_email(reset.token_hash, T0) is None
    for token in (expired, elsewhere, reset):
        assert await store.tokens.find(token.token_hash) == token  # none consumed
    assert not (await store.users.get(user.id)).email_verified


async def test_an_address_verified_by_another_account_is_email_taken_and_the_token_stays(store):
    await a_user_with(store, "alice", "shared@example.com", verified=True)
    bob = await a_user_with(store, "bob", "Shared@Example.com")
    _, token = a_token(bob, VERIFY, "Shared@example.com")
    await store.users.set_email(bob.id, "Shared@example.com", token=token)
    with pytest.raises(EmailTaken):
        await store.users.verify_email(token.token_hash, T0)
    assert await store.tokens.find(token.token_hash) == token
    assert not (await store.users.get(bob.id)).email_verified


# resetting


async def test_a_reset_consumes_its_token_replaces_the_hash_and_ends_every_session(store):
    alice = await a_user_with(store, "alice", "alice@example.com", verified=True)
    bob = await a_user_with(store, "bob")
    sessions = [a_session(alice), a_session(alice), a_session(bob)]
    for session in sessions:
        await store.sessions.add(session, password_hash=FAKE_HASH)
    _, used = a_token(alice)
    _, other = a_token(alice)
    _, verify = a_token(alice, VERIFY, "alice@example.com")
    _, bobs = a_token(bob)
    for token in (used, other, verify, bobs):
        await store.tokens.add(token)
    notice = a_message(alice, MailKind.PASSWORD_WAS_RESET)
    assert (
        await store.users.reset_password(used.token_hash, "$argon2id$new", T0, mail=[notice]) == 2
    )
    assert (await store.users.get(alice.id)).password_hash == "$argon2id$new"
    assert await store.sessions.list_for_user(alice.id) == []
    assert await store.sessions.get_with_user(sessions[0].token_hash) is None
    assert len(await store.sessions.list_for_user(bob.id)) == 1
    assert await store.tokens.find(used.token_hash) is None
    assert await store.tokens.find(other.token_hash) is None
    assert await store.tokens.find(verify.token_hash) == verify
    assert await store.tokens.find(bobs.token_hash) == bobs
    assert notice.id in await queued_ids(store)
    assert await store.users.reset_password(used.token_hash, "$argon2id$again", T0) is None


async def test_an_expired_or_verification_token_resets_nothing(store):
    user = await a_user_with(store, email="alice@example.com")
    session = a_session(user)
    await store.sessions.add(session, password_hash=FAKE_HASH)
    _, expired = a_token(user)
    _, verify = a_token(user, VERIFY, "alice@example.com")
    for token in (expired, verify):
        await store.tokens.add(token)
    message = a_message(user, MailKind.PASSWORD_WAS_RESET)
    assert (
        await store.users.reset_password(expired.token_hash, "$x$new", T0 + HOUR, mail=[message])
        is None
    )
    assert await store.users.reset_password(verify.token_hash, "$x$new", T0, mail=[message]) is None
    assert (await store.users.get(user.id)).password_hash == FAKE_HASH
    assert len(await store.sessions.list_for_user(user.id)) == 1
    assert message.id not in await queued_ids(store)


async def test_two_uses_of_one_reset_token_at_once_exactly_one_wins(store):
    user = await a_user_with(store)
    for round_ in range(10):
        _, token = a_token(user)
        await store.tokens.add(token)
        results = await asyncio.gather(
            *(store.users.reset_password(token.token_hash, f"$x${round_}{n}", T0) for n in range(4))
        )
        assert sum(r is not None for r in results) == 1


async def test_a_password_change_deletes_the_reset_tokens_only(store):
    user = await a_user_with(store, email="alice@example.com")
    session = a_session(user)
    await store.sessions.add(session, password_hash=FAKE_HASH)
    _, reset = a_token(user)
    _, verify = a_token(user, VERIFY, "alice@example.com")
    for token in (reset, verify):
        await store.tokens.add(token)
    await store.users.change_password(
        user.id, "$x$new", keep_session_id=session.id, new_token_hash=hash_token("n" * 43)
    )
    assert await store.tokens.find(reset.token_hash) is None
    assert await store.tokens.find(verify.token_hash) == verify
