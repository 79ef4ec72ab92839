"""Single use of second factors on real Postgres, from two service instances (two stores, two
pools, one database) at once: a TOTP step, a recovery code, a signature counter and a ceremony
challenge each have exactly one winner, and two first enrolments store one set of codes."""

import asyncio
import secrets
import uuid
from datetime import timedelta

import pytest

from adapters.postgres import PostgresStore
from domain.factors import (
    Challenge,
    ChallengePurpose,
    TotpFactor,
    WebAuthnCredential,
    hash_recovery_code,
    new_recovery_codes,
)
from domain.session import Rotation, hash_token
from tests.postgres_provider import truncate_all
from tests.records import T0, a_session, a_user

ATTEMPTS = 20


@pytest.fixture
async def instances(migrated_database_url):
    await truncate_all(migrated_database_url)
    stores = [PostgresStore(migrated_database_url, max_size=ATTEMPTS) for _ in range(2)]
    for store in stores:
        await store.open()
    yield stores
    for store in stores:
        await store.close()


async def enrolled_user(store):
    user = a_user()
    await store.users.add(user)
    session = a_session(user, token=secrets.token_urlsafe(32))
    await store.sessions.add(session, password_hash=user.password_hash)
    await store.factors.start_totp(TotpFactor(user.id, b"sealed", T0))
    codes = [hash_recovery_code(code) for code in new_recovery_codes()]
    rotation = Rotation(session.id, hash_token(secrets.token_urlsafe(32)))
    assert await store.factors.confirm_totp(
        user.id, 100, recovery_code_hashes=codes, rotation=rotation
    )
    return user, rotation, codes


def spread(stores, call):
    """ATTEMPTS calls at once, alternating between the instances."""
    return asyncio.gather(*(call(stores[i % len(stores)]) for i in range(ATTEMPTS)))


async def test_one_time_step_used_from_both_instances_is_accepted_once(instances):
    user, _, _ = await enrolled_user(instances[0])
    for step in (101, 102, 103):
        results = await spread(
            instances, lambda s, step=step: s.factors.use_totp_step(user.id, step)
        )
        assert results.count(True) == 1


async def test_one_recovery_code_used_twenty_times_at_once_is_accepted_once(instances):
    user, _, codes = await enrolled_user(instances[0])
    results = await spread(instances, lambda s: s.factors.use_recovery_code(user.id, codes[0]))
    assert results.count(True) == 1
    assert (await instances[1].factors.summary(user.id)).recovery_codes_left == 9


async def test_the_same_counter_value_from_both_instances_is_accepted_once(instances):
    user, rotation, _ = await enrolled_user(instances[0])
    credential = WebAuthnCredential(
        id=str(uuid.uuid4()),
        user_id=user.id,
        credential_id=secrets.token_bytes(32),
        public_key=b"cose",
        sign_count=3,
        name="Key",
        created_at=T0,
    )
    again = Rotation(rotation.keep_session_id, hash_token(secrets.token_urlsafe(32)))
    await instances[0].factors.add_credential(credential, recovery_code_hashes=[], rotation=again)
    later = T0 + timedelta(seconds=1)
    results = await spread(instances, lambda s: s.factors.use_credential(credential.id, 4, later))
    assert results.count(True) == 1


async def test_one_challenge_taken_from_both_instances_has_one_winner(instances):
    for _ in range(3):
        challenge = Challenge(
            key_hash=hash_token(secrets.token_urlsafe(32)),
            purpose=ChallengePurpose.PASSKEY,
            created_at=T0,
            expires_at=T0 + timedelta(minutes=5),
            webauthn_challenge=secrets.token_bytes(32),
        )
        await instances[0].challenges.add(challenge)
        results = await spread(instances, lambda s, c=challenge: s.challenges.take(c.key_hash, T0))
        assert [r for r in results if r is not None] == [challenge]


async def test_failures_from_both_instances_all_count_up_to_the_maximum(instances):
    challenge = Challenge(
        key_hash=hash_token(secrets.token_urlsafe(32)),
        purpose=ChallengePurpose.LOGIN,
        created_at=T0,
        expires_at=T0 + timedelta(minutes=5),
    )
    await instances[0].challenges.add(challenge)
    # Five failures at once end it, however they interleave: none is lost to another.
    results = await asyncio.gather(
        *(instances[i % 2].challenges.fail(challenge.key_hash, 5) for i in range(5))
    )
    assert results.count(True) == 4
    assert await instances[1].challenges.get(challenge.key_hash, T0) is None


async def test_two_first_enrolments_at_once_store_one_set_of_recovery_codes(instances):
    a, b = instances
    for round in range(5):
        user = a_user(f"user{round}")
        await a.users.add(user)
        session = a_session(user, token=secrets.token_urlsafe(32))
        await a.sessions.add(session, password_hash=user.password_hash)
        await a.factors.start_totp(TotpFactor(user.id, b"sealed", T0))
        credential = WebAuthnCredential(
            id=str(uuid.uuid4()),
            user_id=user.id,
            credential_id=secrets.token_bytes(32),
            public_key=b"cose",
            sign_count=0,
            name="Key",
            created_at=T0,
        )
        sets = [[hash_recovery_code(c) for c in new_recovery_codes()] for _ in range(2)]
        # Both from one session (a rotation keeps its id), so both succeed, in some order.
        outcomes = await asyncio.gather(
            a.factors.confirm_totp(
                user.id,
                1,
                recovery_code_hashes=sets[0],
                rotation=Rotation(session.id, hash_token(secrets.token_urlsafe(32))),
            ),
            b.factors.add_credential(
                credential,
                recovery_code_hashes=sets[1],
                rotation=Rotation(session.id, hash_token(secrets.token_urlsafe(32))),
            ),
        )
        assert sorted(o.recovery_codes_stored for o in outcomes if o is not None) == [False, True]
        async with a.connection() as c:
            kept = {
                bytes(row["code_hash"])
                for row in await c.fetch(
                    "SELECT code_hash FROM recovery_codes WHERE user_id = $1", uuid.UUID(user.id)
                )
            }
        assert kept in ({*sets[0]}, {*sets[1]})
