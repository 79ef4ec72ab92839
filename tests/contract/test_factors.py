"""The contract of second factors and ceremony challenges (domain.ports FactorRepository and
ChallengeRepository), on the in-memory and the Postgres store alike: what is stored, single use,
enrolments that end the other sessions and re-key the caller's, all or nothing."""

import secrets
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.memory import InMemoryStore
from domain.errors import NotAuthenticated
from domain.factors import (
    Challenge,
    ChallengePurpose,
    FactorSummary,
    TotpFactor,
    WebAuthnCredential,
    hash_recovery_code,
    new_recovery_codes,
)
from domain.mail import MailKind, MailMessage
from domain.session import AuthMethod, Rotation, hash_token
from tests.records import T0, a_session, a_user

MINUTE = timedelta(minutes=1)
TOTP = AuthMethod.PASSWORD | AuthMethod.TOTP


@pytest.fixture(params=["memory", "postgres"])
def store(request):
    return InMemoryStore() if request.param == "memory" else request.getfixturevalue("pg_store")


async def a_user_in(store, name="alice"):
    user = a_user(name)
    await store.users.add(user)
    return user


async def logged_in(store, user, **fields):
    token = secrets.token_urlsafe(32)
    session = a_session(user, token=token, **fields)
    assert await store.sessions.add(session, password_hash=user.password_hash)
    return session


def rotation_of(session, methods=None) -> tuple[bytes, Rotation]:
    new_hash = hash_token(secrets.token_urlsafe(32))
    return new_hash, Rotation(session.id, new_hash, methods)


def codes() -> list[bytes]:
    return [hash_recovery_code(code) for code in new_recovery_codes()]


def a_notice(user) -> MailMessage:
    return MailMessage(
        id=str(uuid.uuid4()),
        kind=MailKind.FACTOR_ADDED,
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


def a_totp(user, secret=b"sealed secret") -> TotpFactor:
    return TotpFactor(user_id=user.id, sealed_secret=secret, created_at=T0)


def a_credential(user, raw_id=None, sign_count=0, at=T0, name="Key") -> WebAuthnCredential:
    return WebAuthnCredential(
        id=str(uuid.uuid4()),
        user_id=user.id,
        credential_id=raw_id or secrets.token_bytes(32),
        public_key=b"\xa5cose key",
        sign_count=sign_count,
        name=name,
        created_at=at,
        transports=("usb", "nfc"),
        discoverable=True,
        backed_up=False,
    )


async def with_totp(store, user, session, step=100):
    await store.factors.start_totp(a_totp(user))
    _, rotation = rotation_of(session)
    hashes = codes()
    enrolled = await store.factors.confirm_totp(
        user.id, step, recovery_code_hashes=hashes, rotation=rotation
    )
    assert enrolled is not None
    return rotation.new_token_hash, hashes


async def session_by_hash(store, token_hash):
    found = await store.sessions.get_with_user(token_hash)
    return None if found is None else found[0]


# TOTP


async def test_a_pending_set_up_is_stored_replaced_and_never_replaces_a_confirmed_one(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    assert await store.factors.totp(user.id) is None
    assert await store.factors.start_totp(a_totp(user, b"first")) is True
    assert await store.factors.start_totp(a_totp(user, b"second")) is True
    pending = await store.factors.totp(user.id)
    assert pending == TotpFactor(user.id, b"second", T0, confirmed=False, last_step=None)
    assert await store.factors.summary(user.id) == FactorSummary()  # pending is no factor

    await store.factors.confirm_totp(
        user.id, 7, recovery_code_hashes=codes(), rotation=rotation_of(session)[1]
    )
    assert await store.factors.start_totp(a_totp(user, b"third")) is False
    assert await store.factors.totp(user.id) == TotpFactor(
        user.id, b"second", T0, confirmed=True, last_step=7
    )


async def test_confirming_gives_codes_only_to_the_first_factor(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    credential = a_credential(user)
    _, rotation = rotation_of(session)
    first = await store.factors.add_credential(
        credential, recovery_code_hashes=codes(), rotation=rotation
    )
    assert first is not None and first.recovery_codes_stored is True

    await store.factors.start_totp(a_totp(user))
    second = await store.factors.confirm_totp(
        user.id, 3, recovery_code_hashes=codes()[:4], rotation=rotation_of(session)[1]
    )
    assert second is not None and second.recovery_codes_stored is False
    assert await store.factors.summary(user.id) == FactorSummary(
        totp=True, webauthn=1, recovery_codes_left=10
    )


async def test_confirming_without_a_pending_set_up_changes_nothing(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    new_hash, rotation = rotation_of(session)
    assert (
        await store.factors.confirm_totp(
            user.id, 1, recovery_code_hashes=codes(), rotation=rotation
        )
        is None
    )
    assert await session_by_hash(store, session.token_hash) == session
    assert await session_by_hash(store, new_hash) is None
    assert await store.factors.summary(user.id) == FactorSummary()


async def test_an_enrolment_ends_other_sessions_and_re_keys_the_kept_one_with_its_methods(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    others = [await logged_in(store, user) for _ in range(2)]
    bystander = await logged_in(store, await a_user_in(store, "bob"))
    notice = a_notice(user)
    await store.factors.start_totp(a_totp(user))
    new_hash, rotation = rotation_of(session, TOTP)

    enrolled = await store.factors.confirm_totp(
        user.id, 5, recovery_code_hashes=codes(), rotation=rotation, mail=[notice]
    )

    assert enrolled is not None and enrolled.revoked_sessions == 2
    assert await session_by_hash(store, session.token_hash) is None
    for other in others:
        assert await session_by_hash(store, other.token_hash) is None
    rekeyed = await session_by_hash(store, new_hash)
    assert rekeyed == replace(session, token_hash=new_hash, methods=TOTP)
    assert rekeyed.aal == 2
    assert [s.id for s in await store.sessions.list_for_user(user.id)] == [session.id]
    assert (await store.sessions.list_for_user(user.id))[0].methods == TOTP
    assert await session_by_hash(store, bystander.token_hash) == bystander
    assert notice.id in await queued_ids(store)


async def test_a_rotation_without_methods_keeps_the_sessions_methods(store):
    user = await a_user_in(store)
    session = await logged_in(store, user, methods=TOTP)
    new_hash, _ = await with_totp(store, user, session)
    assert (await session_by_hash(store, new_hash)).methods == TOTP


async def test_an_enrolment_whose_session_ended_changes_nothing(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    other = await logged_in(store, user)
    await store.sessions.revoke(session.token_hash)
    await store.factors.start_totp(a_totp(user))
    notice = a_notice(user)
    with pytest.raises(NotAuthenticated):
        await store.factors.confirm_totp(
            user.id,
            5,
            recovery_code_hashes=codes(),
            rotation=rotation_of(session)[1],
            mail=[notice],
        )
    assert (await store.factors.totp(user.id)).confirmed is False
    assert await store.factors.summary(user.id) == FactorSummary()
    assert await session_by_hash(store, other.token_hash) == other
    assert notice.id not in await queued_ids(store)
    with pytest.raises(NotAuthenticated):
        await store.factors.add_credential(
            a_credential(user), recovery_code_hashes=codes(), rotation=rotation_of(session)[1]
        )
    assert await store.factors.credentials(user.id) == []


async def test_a_time_step_is_used_once_and_never_an_earlier_one(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    await store.factors.start_totp(a_totp(user))
    assert await store.factors.use_totp_step(user.id, 9) is False  # pending: no use
    await with_totp(store, user, session, step=10)
    assert await store.factors.use_totp_step(user.id, 10) is False  # confirmed with it
    assert await store.factors.use_totp_step(user.id, 11) is True
    assert await store.factors.use_totp_step(user.id, 11) is False
    assert await store.factors.use_totp_step(user.id, 9) is False
    assert await store.factors.use_totp_step(user.id, 13) is True
    assert (await store.factors.totp(user.id)).last_step == 13
    assert await store.factors.use_totp_step(str(uuid.uuid4()), 20) is False
    assert await store.factors.use_totp_step("not-a-uuid", 20) is False


async def test_removing_totp_ends_other_sessions_and_as_the_last_factor_drops_the_codes(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    kept_hash, _ = await with_totp(store, user, session)
    other = await logged_in(store, user)
    kept = await session_by_hash(store, kept_hash)
    new_hash, rotation = rotation_of(kept)
    notice = a_notice(user)

    assert await store.factors.remove_totp(user.id, rotation=rotation, mail=[notice]) == 1

    assert await store.factors.totp(user.id) is None
    assert await store.factors.summary(user.id) == FactorSummary()
    assert await session_by_hash(store, other.token_hash) is None
    assert await session_by_hash(store, new_hash) == replace(kept, token_hash=new_hash)
    assert notice.id in await queued_ids(store)
    assert await store.factors.remove_totp(user.id, rotation=rotation_of(kept)[1]) is None


async def test_removing_one_of_two_factors_keeps_the_codes(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    kept_hash, _ = await with_totp(store, user, session)
    kept = await session_by_hash(store, kept_hash)
    credential = a_credential(user)
    next_hash, rotation = rotation_of(kept)
    await store.factors.add_credential(credential, recovery_code_hashes=[], rotation=rotation)
    kept = await session_by_hash(store, next_hash)
    assert await store.factors.remove_totp(user.id, rotation=rotation_of(kept)[1]) == 0
    assert await store.factors.summary(user.id) == FactorSummary(webauthn=1, recovery_codes_left=10)


async def test_a_pending_set_up_is_not_removed(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    await store.factors.start_totp(a_totp(user))
    assert await store.factors.remove_totp(user.id, rotation=rotation_of(session)[1]) is None
    assert await session_by_hash(store, session.token_hash) == session


# recovery codes


async def test_a_recovery_code_is_used_once_and_only_by_its_user(store):
    user = await a_user_in(store)
    bob = await a_user_in(store, "bob")
    session = await logged_in(store, user)
    _, hashes = await with_totp(store, user, session)
    assert await store.factors.use_recovery_code(bob.id, hashes[0]) is False
    assert await store.factors.use_recovery_code(user.id, hashes[0]) is True
    assert await store.factors.use_recovery_code(user.id, hashes[0]) is False
    assert (await store.factors.summary(user.id)).recovery_codes_left == 9
    assert await store.factors.use_recovery_code("not-a-uuid", hashes[1]) is False


async def test_a_new_set_replaces_the_old_one_and_needs_a_factor(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    other = await logged_in(store, user)
    new_hash, rotation = rotation_of(session)
    assert await store.factors.replace_recovery_codes(user.id, codes(), rotation=rotation) is None
    assert await session_by_hash(store, other.token_hash) == other  # nothing changed

    kept_hash, old = await with_totp(store, user, session)
    kept = await session_by_hash(store, kept_hash)
    other = await logged_in(store, user)
    fresh = codes()[:3]
    new_hash, rotation = rotation_of(kept)
    notice = a_notice(user)
    assert (
        await store.factors.replace_recovery_codes(user.id, fresh, rotation=rotation, mail=[notice])
        == 1
    )
    assert await session_by_hash(store, other.token_hash) is None
    assert await session_by_hash(store, new_hash) is not None
    assert notice.id in await queued_ids(store)
    assert await store.factors.use_recovery_code(user.id, old[0]) is False
    assert await store.factors.use_recovery_code(user.id, fresh[0]) is True
    assert (await store.factors.summary(user.id)).recovery_codes_left == 2


# WebAuthn


async def test_a_credential_is_stored_listed_found_and_registered_once(store):
    user = await a_user_in(store)
    bob = await a_user_in(store, "bob")
    session = await logged_in(store, user)
    bobs = await logged_in(store, bob)
    older = a_credential(user, name="Older")
    newer = a_credential(user, at=T0 + MINUTE, name="Newer")
    hash_1, rotation = rotation_of(session)
    await store.factors.add_credential(newer, recovery_code_hashes=codes(), rotation=rotation)
    kept = await session_by_hash(store, hash_1)
    await store.factors.add_credential(
        older, recovery_code_hashes=codes(), rotation=rotation_of(kept)[1]
    )
    assert await store.factors.credentials(user.id) == [older, newer]
    assert await store.factors.credential(newer.credential_id) == newer
    assert await store.factors.credential(b"unknown") is None
    assert await store.factors.credentials(bob.id) == []
    assert await store.factors.credentials("not-a-uuid") == []

    twin = replace(a_credential(bob), credential_id=older.credential_id)
    assert (
        await store.factors.add_credential(
            twin, recovery_code_hashes=codes(), rotation=rotation_of(bobs)[1]
        )
        is None
    )
    assert await session_by_hash(store, bobs.token_hash) == bobs  # not rotated
    assert await store.factors.summary(bob.id) == FactorSummary()


async def test_the_counter_must_grow_unless_both_are_zero(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    counted = a_credential(user, sign_count=5)
    counterless = a_credential(user)
    hash_1, rotation = rotation_of(session)
    await store.factors.add_credential(counted, recovery_code_hashes=codes(), rotation=rotation)
    kept = await session_by_hash(store, hash_1)
    await store.factors.add_credential(
        counterless, recovery_code_hashes=[], rotation=rotation_of(kept)[1]
    )
    later = T0 + MINUTE
    assert await store.factors.use_credential(counted.id, 5, later) is False  # a clone
    assert await store.factors.use_credential(counted.id, 4, later) is False
    assert await store.factors.use_credential(counted.id, 0, later) is False
    assert (await store.factors.credential(counted.credential_id)).last_used_at is None
    assert await store.factors.use_credential(counted.id, 6, later) is True
    stored = await store.factors.credential(counted.credential_id)
    assert (stored.sign_count, stored.last_used_at) == (6, later)

    assert await store.factors.use_credential(counterless.id, 0, later) is True
    assert await store.factors.use_credential(counterless.id, 0, later) is True
    assert await store.factors.use_credential(counterless.id, 1, later) is True
    assert await store.factors.use_credential(counterless.id, 0, later) is False
    assert await store.factors.use_credential(str(uuid.uuid4()), 9, later) is False
    assert await store.factors.use_credential("not-a-uuid", 9, later) is False


async def test_removing_a_credential_is_for_its_owner_and_the_last_one_drops_the_codes(store):
    user = await a_user_in(store)
    bob = await a_user_in(store, "bob")
    session = await logged_in(store, user)
    bobs = await logged_in(store, bob)
    credential = a_credential(user)
    kept_hash, rotation = rotation_of(session)
    await store.factors.add_credential(credential, recovery_code_hashes=codes(), rotation=rotation)
    kept = await session_by_hash(store, kept_hash)
    other = await logged_in(store, user)

    assert (
        await store.factors.remove_credential(bob.id, credential.id, rotation=rotation_of(bobs)[1])
        is None
    )
    assert await session_by_hash(store, bobs.token_hash) == bobs
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        assert (
            await store.factors.remove_credential(user.id, unknown, rotation=rotation_of(kept)[1])
            is None
        )
    new_hash, rotation = rotation_of(kept)
    notice = a_notice(user)
    assert (
        await store.factors.remove_credential(
            user.id, credential.id, rotation=rotation, mail=[notice]
        )
        == 1
    )
    assert await store.factors.credentials(user.id) == []
    assert await store.factors.summary(user.id) == FactorSummary()
    assert await session_by_hash(store, other.token_hash) is None
    assert await session_by_hash(store, new_hash) == replace(kept, token_hash=new_hash)
    assert notice.id in await queued_ids(store)


async def test_deleting_a_user_removes_its_factors_and_challenges(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    kept_hash, hashes = await with_totp(store, user, session)
    credential = a_credential(user)
    await store.factors.add_credential(
        credential,
        recovery_code_hashes=[],
        rotation=rotation_of(await session_by_hash(store, kept_hash))[1],
    )
    challenge = a_challenge(user_id=user.id)
    await store.challenges.add(challenge)

    await store.users.delete(user.id)

    assert await store.factors.summary(user.id) == FactorSummary()
    assert await store.factors.totp(user.id) is None
    assert await store.factors.credential(credential.credential_id) is None
    assert await store.factors.use_recovery_code(user.id, hashes[0]) is False
    assert await store.challenges.get(challenge.key_hash, T0) is None


# challenges


def a_challenge(purpose=ChallengePurpose.LOGIN, user_id=None, ttl=5 * MINUTE, **fields):
    return Challenge(
        key_hash=hash_token(secrets.token_urlsafe(32)),
        purpose=purpose,
        created_at=T0,
        expires_at=T0 + ttl,
        user_id=user_id,
        **fields,
    )


async def test_a_challenge_is_found_until_it_expires_and_replaced_by_its_key(store):
    user = await a_user_in(store)
    challenge = a_challenge(
        user_id=user.id, webauthn_challenge=b"c" * 32, password_hash=user.password_hash
    )
    await store.challenges.add(challenge)
    assert await store.challenges.get(challenge.key_hash, T0) == challenge
    assert await store.challenges.get(challenge.key_hash, challenge.expires_at) is None
    assert await store.challenges.get(hash_token("x" * 43), T0) is None

    passkey = replace(challenge, purpose=ChallengePurpose.PASSKEY, user_id=None, password_hash=None)
    await store.challenges.add(passkey)
    assert await store.challenges.get(challenge.key_hash, T0) == passkey


async def test_a_live_challenge_takes_a_new_webauthn_challenge(store):
    challenge = a_challenge(ChallengePurpose.PASSKEY)
    await store.challenges.add(challenge)
    assert await store.challenges.set_webauthn_challenge(challenge.key_hash, b"n" * 32, T0)
    assert (await store.challenges.get(challenge.key_hash, T0)).webauthn_challenge == b"n" * 32
    late = challenge.expires_at
    assert not await store.challenges.set_webauthn_challenge(challenge.key_hash, b"m" * 32, late)
    assert not await store.challenges.set_webauthn_challenge(hash_token("y" * 43), b"m", T0)


async def test_failures_count_until_the_maximum_deletes_the_challenge(store):
    challenge = a_challenge()
    await store.challenges.add(challenge)
    for failures in range(1, 5):
        assert await store.challenges.fail(challenge.key_hash, 5) is True
        assert (await store.challenges.get(challenge.key_hash, T0)).failures == failures
    assert await store.challenges.fail(challenge.key_hash, 5) is False
    assert await store.challenges.get(challenge.key_hash, T0) is None
    assert await store.challenges.fail(challenge.key_hash, 5) is False


async def test_a_challenge_is_taken_once_and_an_expired_one_not_at_all(store):
    challenge = a_challenge()
    await store.challenges.add(challenge)
    assert await store.challenges.take(challenge.key_hash, T0) == challenge
    assert await store.challenges.take(challenge.key_hash, T0) is None
    assert await store.challenges.get(challenge.key_hash, T0) is None

    expired = a_challenge()
    await store.challenges.add(expired)
    assert await store.challenges.take(expired.key_hash, expired.expires_at) is None
    assert await store.challenges.get(expired.key_hash, T0) is None  # consumed all the same


async def test_the_purge_deletes_challenges_expired_at_that_instant(store):
    early, late = a_challenge(ttl=MINUTE), a_challenge(ttl=2 * MINUTE)
    for challenge in (early, late):
        await store.challenges.add(challenge)
    assert await store.challenges.purge_expired(T0 + MINUTE) == 1
    assert await store.challenges.get(early.key_hash, T0) is None
    assert await store.challenges.get(late.key_hash, T0) == late


# sessions.methods


@pytest.mark.parametrize("limit", [0, 3])
async def test_a_session_is_stored_and_listed_with_its_methods(store, limit):
    user = await a_user_in(store)
    token = secrets.token_urlsafe(32)
    session = a_session(user, token=token, methods=AuthMethod.PASSKEY)
    assert await store.sessions.add(session, password_hash=user.password_hash, limit=limit)
    assert (await session_by_hash(store, session.token_hash)).methods == AuthMethod.PASSKEY
    [listed] = await store.sessions.list_for_user(user.id)
    assert (listed.methods, listed.aal) == (AuthMethod.PASSKEY, 2)


async def test_removing_everything_ends_every_session_and_leaves_no_factor(store):
    user = await a_user_in(store)
    session = await logged_in(store, user)
    other = await logged_in(store, user)
    new_hash, _ = await with_totp(store, user, session)
    _, rotation = rotation_of(await session_by_hash(store, new_hash))
    added = await store.factors.add_credential(
        a_credential(user), recovery_code_hashes=codes(), rotation=rotation
    )
    assert added is not None
    bystander = await a_user_in(store, "bob")
    kept = await logged_in(store, bystander)
    notice = a_notice(user)

    assert await store.factors.remove_all(user.id, mail=[notice]) == 1

    summary = await store.factors.summary(user.id)
    assert summary == FactorSummary()
    assert await store.factors.totp(user.id) is None
    assert await store.factors.credentials(user.id) == []
    assert await store.sessions.list_for_user(user.id) == []
    assert await session_by_hash(store, other.token_hash) is None
    assert await session_by_hash(store, kept.token_hash) is not None
    assert notice.id in await queued_ids(store)
    assert await store.factors.remove_all(user.id) == 0  # nothing left: not an error
    assert await store.factors.remove_all(str(uuid.uuid4())) is None
