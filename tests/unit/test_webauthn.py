"""WebAuthn in the use-cases, on the in-memory store, a fake clock, the real relying party
(py_webauthn) and the tests' software authenticator: registration and its refusals, names,
removal, the passkey login and its refusals (user verification, replay, another browser's
challenge, the throttle, a cloned key), and WebAuthn as the second step of a password login."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from adapters.memory import InMemoryStore
from adapters.webauthn_rp import PyWebAuthnRelyingParty
from application import Authenticated, LoginResult
from domain.client import Client
from domain.errors import (
    CeremonyFailed,
    FactorNotFound,
    InvalidCode,
    InvalidCredentials,
    MfaPending,
    NotAuthenticated,
    PolicyViolation,
    SecondFactorRequired,
    Throttled,
    WrongSecondFactor,
)
from domain.factors import FactorProof, Reauth
from domain.mail import MailKind
from domain.session import AuthMethod
from tests import webauthn_authenticator
from tests.constants import PASSWORD
from tests.webauthn_authenticator import SoftwareAuthenticator, b64url_decode
from tests.wiring import Wired, throttle_limits

RP_ID = "auth.example"
ORIGIN = "https://auth.example"
LAPTOP = Client(address="198.51.100.7", user_agent="laptop")
PHONE = Client(address="198.51.100.8", user_agent="phone")
ADDRESS = "alice@example.com"
TTL = 300  # MFA_PENDING_TTL's default, AccountPolicy's


def relying_party() -> PyWebAuthnRelyingParty:
    return PyWebAuthnRelyingParty(rp_id=RP_ID, rp_name="sessionauth", origins=[ORIGIN])


def wired(**limits: int) -> Wired:
    return Wired(
        InMemoryStore(), throttle_policy=throttle_limits(**limits), relying_party=relying_party()
    )


def challenge_of(options: dict) -> bytes:
    return b64url_decode(options["challenge"])


class User:
    """One account on a wired world, with a software authenticator, and helpers to register
    its key and to sign in with it."""

    def __init__(self, wired: Wired, name: str = "alice") -> None:
        self.wired = wired
        self.uc = wired.use_cases
        self.name = name
        self.authenticator = SoftwareAuthenticator()
        self.recovery_codes: list[str] = []

    async def sign_up(self) -> User:
        user = await self.uc.sign_up.execute(username=self.name, password=PASSWORD)
        stored = self.wired.store.users._by_id[user.id]
        stored.email, stored.email_verified = f"{self.name}@example.com", True
        self.user_id = user.id
        return self

    async def log_in(self, client: Client = LAPTOP) -> LoginResult:
        return await self.uc.login.execute(username=self.name, password=PASSWORD, client=client)

    async def current(self, token: str) -> Authenticated:
        return await self.uc.resolve_session.execute(token=token)

    async def options(self, token: str, reauth: Reauth | None = None) -> dict:
        return await self.uc.webauthn_registration_options.execute(
            current=await self.current(token), reauth=reauth or Reauth(PASSWORD), client=LAPTOP
        )

    def create(self, options: dict, **overrides: str) -> dict:
        return self.authenticator.register(
            challenge_of(options),
            rp_id=overrides.get("rp_id", RP_ID),
            origin=overrides.get("origin", ORIGIN),
            user_id=b64url_decode(options["user"]["id"]),
        )

    async def register(self, token: str, credential: dict, name: str = "Laptop"):
        return await self.uc.register_credential.execute(
            current=await self.current(token), credential=credential, name=name, client=LAPTOP
        )

    async def enrol(self, token: str, name: str = "Laptop", reauth: Reauth | None = None):
        """A key registered; the result, whose token the session now goes on under."""
        done = await self.register(token, self.create(await self.options(token, reauth)), name)
        if done.recovery_codes:
            self.recovery_codes = done.recovery_codes
        return done

    async def passkey_login(
        self, authenticator: SoftwareAuthenticator | None = None, client: Client = PHONE
    ) -> LoginResult:
        start = await self.uc.passkey_login_options.execute(client=client)
        assertion = (authenticator or self.authenticator).assert_(
            challenge_of(start.options), rp_id=RP_ID, origin=ORIGIN
        )
        return await self.uc.passkey_login.execute(
            key=start.key, credential=assertion, client=client
        )


@pytest.fixture
async def alice() -> User:
    return await User(wired()).sign_up()


async def signed_in_with_key(a: User) -> str:
    """Alice with a key registered; the token of her session."""
    return (await a.enrol((await a.log_in()).token)).token


def events(a: User, name: str) -> list[dict]:
    return [e for e in a.wired.audit.events if e["event"] == name]


# Registration


async def test_registering_a_first_key_gives_codes_rotates_and_notifies(alice):
    other = await alice.log_in(PHONE)
    token = (await alice.log_in()).token
    alice.wired.store.outbox.pending.clear()
    options = await alice.options(token)
    assert options["rp"]["id"] == RP_ID
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert len(challenge_of(options)) >= 16

    done = await alice.register(token, alice.create(options), name="  Laptop  ")

    assert done.credential.name == "Laptop" and done.credential.user_id == alice.user_id
    assert done.credential.discoverable  # a synced passkey (multi-device)
    assert len(done.recovery_codes) == 10 and len(set(done.recovery_codes)) == 10
    assert done.token != token
    rotated = await alice.current(done.token)
    assert rotated.session.methods == AuthMethod.PASSWORD | AuthMethod.WEBAUTHN
    with pytest.raises(NotAuthenticated):  # the old token is dead
        await alice.current(token)
    with pytest.raises(NotAuthenticated):  # the other session ended
        await alice.current(other.token)
    [notice] = alice.wired.store.outbox.pending.values()
    assert notice.kind == MailKind.FACTOR_ADDED and notice.to == ADDRESS
    assert "Laptop" in notice.text
    [enrolled] = events(alice, "factor_enrolled")
    assert enrolled["factor"] == "webauthn" and enrolled["user_id"] == alice.user_id
    summary = await alice.wired.store.factors.summary(alice.user_id)
    assert summary.webauthn == 1 and summary.recovery_codes_left == 10


async def test_a_second_key_gives_no_codes_and_needs_a_factor_in_the_reauth(alice):
    token = await signed_in_with_key(alice)
    with pytest.raises(SecondFactorRequired):
        await alice.options(token)
    code = alice.recovery_codes[0]
    done = await alice.enrol(token, "Phone", Reauth(PASSWORD, FactorProof(recovery_code=code)))
    assert done.recovery_codes == []
    assert sorted(c.name for c in await alice.wired.store.factors.credentials(alice.user_id)) == [
        "Laptop",
        "Phone",
    ]


async def test_registering_without_options_is_a_failed_ceremony(alice):
    token = (await alice.log_in()).token
    stray = alice.authenticator.register(
        b"\x01" * 32, rp_id=RP_ID, origin=ORIGIN, user_id=alice.user_id.encode()
    )
    with pytest.raises(CeremonyFailed):
        await alice.register(token, stray)
    [refused] = events(alice, "factor_refused")
    assert refused["reason"] == "no_ceremony" and refused["factor"] == "webauthn"
    assert await alice.wired.store.factors.credentials(alice.user_id) == []


async def test_a_registration_challenge_expires_after_the_pending_ttl(alice):
    token = (await alice.log_in()).token
    options = await alice.options(token)
    alice.wired.clock.advance(seconds=TTL + 1)
    with pytest.raises(CeremonyFailed):
        await alice.register(token, alice.create(options))


async def test_the_same_registration_twice_is_refused(alice):
    token = (await alice.log_in()).token
    credential = alice.create(await alice.options(token))
    token = (await alice.register(token, credential)).token
    with pytest.raises(CeremonyFailed):  # its challenge is used up
        await alice.register(token, credential)
    assert len(await alice.wired.store.factors.credentials(alice.user_id)) == 1


async def test_the_same_authenticator_credential_cannot_be_registered_again(alice, monkeypatch):
    token = await signed_in_with_key(alice)
    [first] = alice.authenticator.credentials
    # The authenticator hands out the same credential id again (a new challenge, a valid
    # response): the store keeps one credential per id.
    monkeypatch.setattr(
        webauthn_authenticator, "secrets", SimpleNamespace(token_bytes=lambda n: first)
    )
    reauth = Reauth(PASSWORD, FactorProof(recovery_code=alice.recovery_codes[0]))
    options = await alice.options(token, reauth)
    assert [c["id"] for c in options["excludeCredentials"]] == [
        webauthn_authenticator.b64url(first)
    ]
    with pytest.raises(CeremonyFailed):
        await alice.register(token, alice.create(options))
    assert events(alice, "factor_refused")[-1]["reason"] == "registered_already"
    assert len(await alice.wired.store.factors.credentials(alice.user_id)) == 1


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"origin": "https://evil.example"}, "origin"),
        ({"rp_id": "evil.example"}, "rp_id"),
        ({"challenge": b"\x02" * 32}, "challenge"),
    ],
    ids=["another origin", "another rp id", "another challenge"],
)
async def test_a_response_for_another_ceremony_is_refused(alice, override, reason):
    token = (await alice.log_in()).token
    options = await alice.options(token)
    if "challenge" in override:
        credential = alice.authenticator.register(
            override["challenge"], rp_id=RP_ID, origin=ORIGIN, user_id=alice.user_id.encode()
        )
    else:
        credential = alice.create(options, **override)
    with pytest.raises(CeremonyFailed) as failed:
        await alice.register(token, credential)
    assert failed.value.reason == reason
    assert events(alice, "factor_refused")[-1]["reason"] == reason
    assert await alice.wired.store.factors.credentials(alice.user_id) == []
    # The refused response used the ceremony up: a good one needs new options.
    assert (await alice.enrol(token)).credential.name == "Laptop"


@pytest.mark.parametrize(
    "name",
    ["", "   ", "x" * 65, "Lap\ntop", "Lap\x00top", "Lap\u202etop", "Lap\u200btop"],
    ids=["empty", "blank", "65", "newline", "nul", "bidi override", "zero width"],
)
async def test_bad_names_are_policy_violations_on_name(alice, name):
    token = (await alice.log_in()).token
    credential = alice.create(await alice.options(token))
    with pytest.raises(PolicyViolation) as refused:
        await alice.register(token, credential, name=name)
    assert refused.value.field == "name"
    # Checked before the challenge is taken: the same response goes through with a good name.
    assert (await alice.register(token, credential, name="x" * 64)).credential.name == "x" * 64


async def test_names_are_trimmed_and_may_be_any_language(alice):
    token = (await alice.log_in()).token
    done = await alice.register(token, alice.create(await alice.options(token)), "\t Ключ 🔑 ")
    assert done.credential.name == "Ключ 🔑"


# Removal


async def reauth_with_key(a: User, token: str) -> Reauth:
    """A re-auth body whose proof is an assertion of Alice's key over the session's challenge."""
    options = await a.uc.reauth_webauthn_options.execute(current=await a.current(token))
    assert [c["id"] for c in options["allowCredentials"]] == [
        webauthn_authenticator.b64url(i) for i in a.authenticator.credentials
    ]
    assertion = a.authenticator.assert_(challenge_of(options), rp_id=RP_ID, origin=ORIGIN)
    return Reauth(PASSWORD, FactorProof(webauthn=assertion))


async def test_removing_the_last_key_with_itself_as_proof_takes_the_codes(alice):
    token = await signed_in_with_key(alice)
    [credential] = await alice.wired.store.factors.credentials(alice.user_id)
    alice.wired.store.outbox.pending.clear()

    rotated = await alice.uc.remove_credential.execute(
        current=await alice.current(token),
        credential_id=credential.id,
        reauth=await reauth_with_key(alice, token),
        client=LAPTOP,
    )

    assert await alice.wired.store.factors.credentials(alice.user_id) == []
    summary = await alice.wired.store.factors.summary(alice.user_id)
    assert not summary.any and summary.recovery_codes_left == 0
    assert (await alice.current(rotated.token)).user.id == alice.user_id
    [notice] = alice.wired.store.outbox.pending.values()
    assert notice.kind == MailKind.FACTOR_REMOVED and "Laptop" in notice.text
    [removed] = events(alice, "factor_removed")
    assert removed["factor"] == "webauthn"
    # One step again.
    assert (await alice.log_in()).session.aal == 1


async def test_a_reauth_assertion_is_single_use(alice):
    token = await signed_in_with_key(alice)
    [credential] = await alice.wired.store.factors.credentials(alice.user_id)
    reauth = await reauth_with_key(alice, token)
    with pytest.raises(FactorNotFound):  # the re-auth passed and took the challenge
        await alice.uc.remove_credential.execute(
            current=await alice.current(token), credential_id="nope", reauth=reauth, client=LAPTOP
        )
    with pytest.raises(WrongSecondFactor):
        await alice.uc.remove_credential.execute(
            current=await alice.current(token),
            credential_id=credential.id,
            reauth=reauth,
            client=LAPTOP,
        )
    assert events(alice, "factor_refused")[-1]["reason"] == "no_ceremony"
    assert len(await alice.wired.store.factors.credentials(alice.user_id)) == 1


@pytest.mark.parametrize("whose", ["unknown", "foreign"])
async def test_an_unknown_or_foreign_credential_is_not_found(alice, whose):
    token = await signed_in_with_key(alice)
    bob = await User(alice.wired, "bob").sign_up()
    await bob.enrol((await bob.log_in()).token)
    [bobs] = await alice.wired.store.factors.credentials(bob.user_id)
    target = bobs.id if whose == "foreign" else "no-such-credential"
    with pytest.raises(FactorNotFound):
        await alice.uc.remove_credential.execute(
            current=await alice.current(token),
            credential_id=target,
            reauth=await reauth_with_key(alice, token),
            client=LAPTOP,
        )
    assert len(await alice.wired.store.factors.credentials(bob.user_id)) == 1
    assert len(await alice.wired.store.factors.credentials(alice.user_id)) == 1


# The passkey login


async def test_a_passkey_signs_in_without_a_username_at_aal_2(alice):
    await signed_in_with_key(alice)
    start = await alice.uc.passkey_login_options.execute(client=PHONE)
    assert start.options.get("allowCredentials") in (None, [])
    assert start.options["userVerification"] == "required"
    assert start.max_age == TTL
    assertion = alice.authenticator.assert_(challenge_of(start.options), rp_id=RP_ID, origin=ORIGIN)

    result = await alice.uc.passkey_login.execute(key=start.key, credential=assertion, client=PHONE)

    assert result.session.user_id == alice.user_id
    assert result.session.methods == AuthMethod.PASSKEY and result.session.aal == 2
    [used] = [e for e in events(alice, "factor_used") if e.get("action") == "passkey_login"]
    assert used["factor"] == "passkey"
    for event in alice.wired.audit.events:
        assert start.key not in repr(event) and result.token not in repr(event)


async def test_a_passkey_without_user_verification_is_refused(alice):
    await signed_in_with_key(alice)
    alice.authenticator.verifies_user = False
    with pytest.raises(InvalidCredentials):
        await alice.passkey_login()
    assert events(alice, "factor_refused")[-1]["reason"] == "user_verification"
    assert events(alice, "login_failed")[-1]["factor"] == "passkey"


async def test_a_disabled_account_cannot_sign_in_with_a_passkey(alice):
    await signed_in_with_key(alice)
    alice.wired.store.users._by_id[alice.user_id].disabled = True
    with pytest.raises(InvalidCredentials):
        await alice.passkey_login()
    assert events(alice, "login_disabled")


async def test_a_replayed_assertion_is_refused(alice):
    await signed_in_with_key(alice)
    start = await alice.uc.passkey_login_options.execute(client=PHONE)
    assertion = alice.authenticator.assert_(challenge_of(start.options), rp_id=RP_ID, origin=ORIGIN)
    await alice.uc.passkey_login.execute(key=start.key, credential=assertion, client=PHONE)
    with pytest.raises(InvalidCredentials):
        await alice.uc.passkey_login.execute(key=start.key, credential=assertion, client=PHONE)
    assert events(alice, "login_failed")[-1]["reason"] == "no_ceremony"


async def test_an_assertion_over_another_browsers_challenge_is_refused(alice):
    await signed_in_with_key(alice)
    mine = await alice.uc.passkey_login_options.execute(client=PHONE)
    theirs = await alice.uc.passkey_login_options.execute(client=LAPTOP)
    assertion = alice.authenticator.assert_(
        challenge_of(theirs.options), rp_id=RP_ID, origin=ORIGIN
    )
    with pytest.raises(InvalidCredentials):
        await alice.uc.passkey_login.execute(key=mine.key, credential=assertion, client=PHONE)
    assert events(alice, "factor_refused")[-1]["reason"] == "challenge"
    # No cookie, or a malformed one, names no ceremony at all.
    for key in (None, "not a token", theirs.key[:-1]):
        with pytest.raises(InvalidCredentials):
            await alice.uc.passkey_login.execute(key=key, credential=assertion, client=PHONE)


async def test_a_credential_the_service_does_not_know_is_refused(alice):
    await signed_in_with_key(alice)
    stranger = SoftwareAuthenticator()
    stranger.register(b"\x03" * 32, rp_id=RP_ID, origin=ORIGIN, user_id=alice.user_id.encode())
    with pytest.raises(InvalidCredentials):
        await alice.passkey_login(stranger)
    assert events(alice, "factor_refused")[-1]["reason"] == "unknown_credential"


@pytest.mark.parametrize(
    "junk",
    [
        {},
        {"id": "x"},
        {"id": 1, "rawId": [], "response": "no", "type": None},
        {str(i): i for i in range(10000)},
    ],
    ids=["empty", "id only", "wrong types", "10000 keys"],
)
async def test_junk_assertions_are_invalid_credentials(alice, junk):
    await signed_in_with_key(alice)
    start = await alice.uc.passkey_login_options.execute(client=PHONE)
    with pytest.raises(InvalidCredentials):
        await alice.uc.passkey_login.execute(key=start.key, credential=junk, client=PHONE)


async def test_passkey_failures_are_counted_per_address():
    # Each ceremony started counts, and each failed login: 1 + 3 x 2 reach a limit of 7.
    alice = await User(wired(failures_per_address=7)).sign_up()
    await signed_in_with_key(alice)
    stranger = SoftwareAuthenticator()
    stranger.register(b"\x03" * 32, rp_id=RP_ID, origin=ORIGIN, user_id=b"nobody")
    early = await alice.uc.passkey_login_options.execute(client=PHONE)
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            await alice.passkey_login(stranger)
    with pytest.raises(Throttled):  # no new ceremony for the address
        await alice.uc.passkey_login_options.execute(client=PHONE)
    right = alice.authenticator.assert_(challenge_of(early.options), rp_id=RP_ID, origin=ORIGIN)
    with pytest.raises(Throttled):  # the right passkey over an earlier ceremony: too late
        await alice.uc.passkey_login.execute(key=early.key, credential=right, client=PHONE)
    assert events(alice, "throttled")[-1]["action"] == "passkey_login"
    # Another address is not held up.
    assert (await alice.passkey_login(client=Client(address="203.0.113.9"))).session.aal == 2


async def test_a_cloned_authenticator_is_refused_as_a_counter_regression(alice):
    await signed_in_with_key(alice)
    clone = alice.authenticator.clone()
    await alice.passkey_login()
    await alice.passkey_login()
    with pytest.raises(InvalidCredentials):
        await alice.passkey_login(clone)
    [regression] = events(alice, "counter_regression")
    assert regression["user_id"] == alice.user_id and regression["factor"] == "passkey"
    # The original goes on.
    assert (await alice.passkey_login()).session.aal == 2


# WebAuthn as the second step of a password login


async def pend(a: User, client: Client = LAPTOP) -> MfaPending:
    with pytest.raises(MfaPending) as pending:
        await a.log_in(client)
    return pending.value


async def test_a_key_finishes_a_password_login_at_aal_2(alice):
    await signed_in_with_key(alice)
    pending = await pend(alice)
    assert "webauthn" in pending.methods
    options = await alice.uc.mfa_webauthn_options.execute(pending_token=pending.token)
    assert [c["id"] for c in options["allowCredentials"]] == [
        webauthn_authenticator.b64url(i) for i in alice.authenticator.credentials
    ]
    assertion = alice.authenticator.assert_(challenge_of(options), rp_id=RP_ID, origin=ORIGIN)

    result = await alice.uc.login_mfa.execute(
        pending_token=pending.token, proof=FactorProof(webauthn=assertion), client=LAPTOP
    )

    assert result.session.methods == AuthMethod.PASSWORD | AuthMethod.WEBAUTHN
    assert result.session.aal == 2


async def test_the_second_step_refuses_another_users_key(alice):
    await signed_in_with_key(alice)
    bob = await User(alice.wired, "bob").sign_up()
    await bob.enrol((await bob.log_in()).token)
    pending = await pend(alice)
    options = await alice.uc.mfa_webauthn_options.execute(pending_token=pending.token)
    assertion = bob.authenticator.assert_(challenge_of(options), rp_id=RP_ID, origin=ORIGIN)
    with pytest.raises(InvalidCode):
        await alice.uc.login_mfa.execute(
            pending_token=pending.token, proof=FactorProof(webauthn=assertion), client=LAPTOP
        )
    assert events(alice, "factor_refused")[-1]["reason"] == "unknown_credential"


async def test_the_second_step_needs_its_own_options(alice):
    await signed_in_with_key(alice)
    pending = await pend(alice)
    first = await alice.uc.mfa_webauthn_options.execute(pending_token=pending.token)
    await alice.uc.mfa_webauthn_options.execute(pending_token=pending.token)  # replaces it
    stale = alice.authenticator.assert_(challenge_of(first), rp_id=RP_ID, origin=ORIGIN)
    with pytest.raises(InvalidCode):
        await alice.uc.login_mfa.execute(
            pending_token=pending.token, proof=FactorProof(webauthn=stale), client=LAPTOP
        )


async def test_second_step_options_need_a_live_pending_login(alice):
    await signed_in_with_key(alice)
    session_token = (await alice.passkey_login()).token  # well formed, but no pending login
    pending = await pend(alice)
    alice.wired.clock.advance(seconds=TTL + 1)
    for token in ("", "not a token", session_token, pending.token):
        with pytest.raises(NotAuthenticated):
            await alice.uc.mfa_webauthn_options.execute(pending_token=token)
