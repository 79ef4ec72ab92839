"""Recovery on real Postgres with two instances on one database: of two uses of one reset link
exactly one wins, a reset ends the sessions that another instance's cache serves, and of two
accounts confirming one address at once exactly one holds it."""

import asyncio
import time
import uuid
from datetime import timedelta

import pytest

from adapters.postgres import PostgresStore
from domain.account_token import AccountToken, TokenPurpose
from domain.errors import EmailTaken, InvalidToken
from domain.mail import MailKind
from tests.mail_links import LINK
from tests.postgres_provider import truncate_all
from tests.records import a_session, a_user
from tests.recovery_world import RecoveryWorld

ROUNDS = 25
CACHE_DEADLINE = 5.0  # seconds: generous; the notification takes milliseconds


@pytest.fixture
async def instances(migrated_database_url):
    """Two stores on one database, as two `serve` instances hold them (with session caches)."""
    await truncate_all(migrated_database_url)
    stores = [
        PostgresStore(migrated_database_url, max_size=10, session_cache_for=timedelta(minutes=1))
        for _ in range(2)
    ]
    for store in stores:
        await store.open()
        await asyncio.wait_for(store._listener.connected.wait(), 10)
    yield stores
    for store in stores:
        await store.close()


def a_secret() -> str:
    return f"{uuid.uuid4().hex}{uuid.uuid4().hex[:11]}"


async def test_two_uses_of_one_reset_link_on_two_instances_exactly_one_wins(instances):
    worlds = [RecoveryWorld(store) for store in instances]
    user = await worlds[0].account("alice")
    for round_ in range(ROUNDS):
        secret = a_secret()
        await instances[0].tokens.add(
            AccountToken.issue(
                secret,
                purpose=TokenPurpose.RESET_PASSWORD,
                user_id=user.id,
                now=worlds[0].clock.now(),
                ttl=timedelta(minutes=15),
            )
        )
        results = await asyncio.gather(
            *(
                world.reset.execute(token=secret, new_password=f"new passphrase {round_} {n}")
                for n, world in enumerate(worlds)
            ),
            return_exceptions=True,
        )
        assert sorted(type(r).__name__ for r in results) == ["InvalidToken", "int"], results
        assert all(isinstance(r, int | InvalidToken) for r in results)


async def test_a_reset_on_one_instance_ends_the_sessions_the_other_serves_from_its_cache(
    instances,
):
    a, b = instances
    user = a_user()
    await a.users.add(user)
    session = a_session(user, at=b.sessions._clock.now())
    await b.sessions.add(session, password_hash=user.password_hash)
    assert await b.sessions.get_with_user(session.token_hash) is not None
    assert session.token_hash in b.sessions._entries  # b serves it from memory now
    now = a.sessions._clock.now()
    token = AccountToken.issue(
        a_secret(),
        purpose=TokenPurpose.RESET_PASSWORD,
        user_id=user.id,
        now=now,
        ttl=timedelta(minutes=15),
    )
    await a.tokens.add(token)
    assert await a.users.reset_password(token.token_hash, "$argon2id$new", now) == 1
    started = time.monotonic()
    while await b.sessions.get_with_user(session.token_hash) is not None:
        assert time.monotonic() - started < CACHE_DEADLINE, "b still serves the ended session"
        await asyncio.sleep(0.005)


async def test_two_accounts_confirming_one_address_at_once_one_holds_it(instances):
    worlds = [RecoveryWorld(store) for store in instances]
    for round_ in range(ROUNDS):
        address = f"shared{round_}@example.com"
        tokens = []
        for n, world in enumerate(worlds):
            user = await world.account(f"user{round_}x{n}", email=address)
            tokens.append(await _verification_link(world.store, user.id))
        results = await asyncio.gather(
            *(world.verify_email.execute(token=t) for world, t in zip(worlds, tokens, strict=True)),
            return_exceptions=True,
        )
        outcomes = sorted(type(r).__name__ for r in results)
        assert outcomes == ["EmailTaken", "User"], results
        assert all(not isinstance(r, BaseException) or isinstance(r, EmailTaken) for r in results)
        holder = await instances[0].users.get_by_verified_email(address)
        assert holder is not None


async def _verification_link(store, user_id: str) -> str:
    """The token of the verification link queued for that account, from the Postgres outbox."""
    async with store.connection() as c:
        text = await c.fetchval(
            "SELECT body_text FROM mail_outbox WHERE user_id = $1 AND kind = $2",
            uuid.UUID(user_id),
            str(MailKind.VERIFY_EMAIL),
        )
    return LINK.search(text).group(1)
