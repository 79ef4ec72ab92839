"""Passkey logins on real Postgres from two service instances (two stores, two pools, one
database) at once: one assertion presented to both opens one session, and one signature counter
value presented twice (a cloned key racing its original) has one winner."""

import asyncio

import pytest

from adapters.postgres import PostgresStore
from adapters.webauthn_rp import PyWebAuthnRelyingParty
from domain.client import Client
from domain.errors import InvalidCredentials
from domain.factors import Reauth
from tests.constants import PASSWORD
from tests.fakes import FakeClock
from tests.postgres_provider import truncate_all
from tests.webauthn_authenticator import SoftwareAuthenticator, b64url_decode
from tests.wiring import Wired

RP_ID = "auth.example"
ORIGIN = "https://auth.example"
PHONE = Client(address="198.51.100.8", user_agent="phone")


@pytest.fixture
async def instances(migrated_database_url):
    await truncate_all(migrated_database_url)
    clock = FakeClock()
    stores = [PostgresStore(migrated_database_url, max_size=4) for _ in range(2)]
    for store in stores:
        await store.open()
    party = PyWebAuthnRelyingParty(rp_id=RP_ID, rp_name="sessionauth", origins=[ORIGIN])
    yield [Wired(store, clock=clock, relying_party=party) for store in stores]
    for store in stores:
        await store.close()


def challenge(options: dict) -> bytes:
    return b64url_decode(options["challenge"])


async def with_passkey(wired: Wired) -> SoftwareAuthenticator:
    uc = wired.use_cases
    await uc.sign_up.execute(username="alice", password=PASSWORD)
    login = await uc.login.execute(username="alice", password=PASSWORD, client=PHONE)
    current = await uc.resolve_session.execute(token=login.token)
    options = await uc.webauthn_registration_options.execute(
        current=current, reauth=Reauth(PASSWORD), client=PHONE
    )
    authenticator = SoftwareAuthenticator()
    credential = authenticator.register(
        challenge(options), rp_id=RP_ID, origin=ORIGIN, user_id=b64url_decode(options["user"]["id"])
    )
    await uc.register_credential.execute(
        current=current, credential=credential, name="Phone", client=PHONE
    )
    return authenticator


async def passkey_sessions(wired: Wired) -> int:
    user = await wired.store.users.get_by_username("alice")
    sessions = await wired.store.sessions.list_for_user(user.id)
    return sum(1 for s in sessions if s.aal == 2 and s.methods.names == ["passkey"])


async def attempt(wired: Wired, key: str, credential: dict) -> str:
    try:
        await wired.use_cases.passkey_login.execute(key=key, credential=credential, client=PHONE)
    except InvalidCredentials:
        return "refused"
    return "signed in"


async def test_one_assertion_at_both_instances_opens_one_session(instances):
    one, other = instances
    authenticator = await with_passkey(one)
    start = await one.use_cases.passkey_login_options.execute(client=PHONE)
    assertion = authenticator.assert_(challenge(start.options), rp_id=RP_ID, origin=ORIGIN)

    results = await asyncio.gather(
        attempt(one, start.key, assertion), attempt(other, start.key, assertion)
    )

    assert sorted(results) == ["refused", "signed in"]
    assert await passkey_sessions(one) == 1


async def test_one_counter_value_presented_twice_has_one_winner(instances):
    one, other = instances
    original = await with_passkey(one)
    clone = original.clone()
    starts = [await w.use_cases.passkey_login_options.execute(client=PHONE) for w in instances]
    # Both sign over their own challenge with the same next counter value.
    first = original.assert_(challenge(starts[0].options), rp_id=RP_ID, origin=ORIGIN)
    second = clone.assert_(challenge(starts[1].options), rp_id=RP_ID, origin=ORIGIN)

    results = await asyncio.gather(
        attempt(one, starts[0].key, first), attempt(other, starts[1].key, second)
    )

    assert sorted(results) == ["refused", "signed in"]
    assert await passkey_sessions(one) == 1
    regressions = [
        e for w in instances for e in w.audit.events if e["event"] == "counter_regression"
    ]
    assert len(regressions) == 1
