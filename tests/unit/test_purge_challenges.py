"""The periodic purge also forgets second-factor ceremonies that have expired (pending logins,
passkey logins, registrations, re-auths), and only those."""

import secrets
from datetime import timedelta

from domain.factors import Challenge, ChallengePurpose
from domain.session import hash_token


def a_challenge(world, purpose: ChallengePurpose, ttl: timedelta) -> Challenge:
    now = world.clock.now()
    return Challenge(
        key_hash=hash_token(secrets.token_urlsafe(32)),
        purpose=purpose,
        created_at=now,
        expires_at=now + ttl,
    )


async def test_the_purge_deletes_expired_challenges_only(world):
    early = a_challenge(world, ChallengePurpose.LOGIN, timedelta(minutes=5))
    late = a_challenge(world, ChallengePurpose.PASSKEY, timedelta(minutes=6))
    for challenge in (early, late):
        await world.store.challenges.add(challenge)
    start = world.clock.now()
    world.clock.advance(minutes=5)
    await world.purge.execute()
    # Asked as of the start, when both were live: only the one gone from the store is missing.
    assert await world.store.challenges.get(early.key_hash, start) is None
    assert await world.store.challenges.get(late.key_hash, start) == late
