"""Second factors in the use-cases, on the in-memory store and a fake clock: TOTP time steps and
replay, recovery codes, the two-step login and its throttle, re-authentication, factor changes
and their notices, a reset that needs the factor."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest

from adapters.memory import InMemoryStore
from adapters.secret_box import AesGcmSecretBox
from application import Authenticated, LoginResult
from domain.client import Client
from domain.errors import (
    FactorAlreadyActive,
    FactorNotFound,
    InvalidCode,
    InvalidCredentials,
    MfaPending,
    NoFactorSetup,
    NoSecondFactor,
    NotAuthenticated,
    SecondFactorRequired,
    Throttled,
    UnknownUser,
    WrongPassword,
    WrongSecondFactor,
    WrongSetupCode,
)
from domain.factors import MAX_FACTOR_FAILURES, FactorProof, Reauth
from domain.mail import MailKind
from domain.session import AuthMethod
from tests.constants import PASSWORD
from tests.wiring import Wired, throttle_limits

LAPTOP = Client(address="198.51.100.7", user_agent="laptop")
PHONE = Client(address="198.51.100.8", user_agent="phone")
ADDRESS = "alice@example.com"
STEP = timedelta(seconds=30)


class Alice:
    """One account on a wired world, signed in, with helpers to enrol and prove factors."""

    def __init__(self, wired: Wired) -> None:
        self.wired = wired
        self.uc = wired.use_cases
        self.secret: str | None = None
        self.recovery_codes: list[str] = []

    async def sign_up(self) -> None:
        user = await self.uc.sign_up.execute(username="alice", password=PASSWORD)
        stored = self.wired.store.users._by_id[user.id]  # what verification leaves behind
        stored.email, stored.email_verified = ADDRESS, True
        self.user_id = user.id

    async def log_in(self, client: Client = LAPTOP) -> LoginResult:
        return await self.uc.login.execute(username="alice", password=PASSWORD, client=client)

    async def current(self, token: str) -> Authenticated:
        return await self.uc.resolve_session.execute(token=token)

    def code(self, offset_steps: int = 0) -> str:
        assert self.secret is not None
        return pyotp.TOTP(self.secret).at(self.wired.clock.now() + offset_steps * STEP)

    async def enrol_totp(self, token: str) -> str:
        """TOTP active; the session's new token."""
        current = await self.current(token)
        setup = await self.uc.start_totp.execute(
            current=current, reauth=Reauth(PASSWORD), client=LAPTOP
        )
        self.secret = setup.secret
        rotated = await self.uc.confirm_totp.execute(
            current=current, code=self.code(), client=LAPTOP
        )
        self.recovery_codes = rotated.recovery_codes
        self.wired.clock.advance(seconds=30)  # the next step: the enrolment's code is used
        return rotated.token

    async def pend(self, client: Client = LAPTOP) -> MfaPending:
        with pytest.raises(MfaPending) as pending:
            await self.log_in(client)
        return pending.value

    async def second_step(self, pending: MfaPending, client: Client = LAPTOP, **proof: str):
        return await self.uc.login_mfa.execute(
            pending_token=pending.token, proof=FactorProof(**proof), client=client
        )


def wired(**limits: int) -> Wired:
    return Wired(InMemoryStore(), throttle_policy=throttle_limits(**limits))


@pytest.fixture
async def alice() -> Alice:
    a = Alice(wired())
    await a.sign_up()
    return a


async def enrolled(a: Alice) -> str:
    return await a.enrol_totp((await a.log_in()).token)


def events(a: Alice, name: str) -> list[dict]:
    return [e for e in a.wired.audit.events if e["event"] == name]


# TOTP time steps and replay


async def test_a_code_of_the_current_step_finishes_the_login_at_aal_2(alice):
    await enrolled(alice)
    pending = await alice.pend()
    assert pending.methods == ["totp", "recovery_code"]

    result = await alice.second_step(pending, code=alice.code())

    assert result.session.methods == AuthMethod.PASSWORD | AuthMethod.TOTP
    assert result.session.aal == 2
    assert (await alice.current(result.token)).session.id == result.session.id


async def test_a_code_of_the_previous_step_is_accepted(alice):
    await enrolled(alice)
    alice.wired.clock.advance(seconds=30)  # the previous step is not the enrolment's
    pending = await alice.pend()
    assert (await alice.second_step(pending, code=alice.code(-1))).session.aal == 2


@pytest.mark.parametrize("offset", [-2, 1], ids=["two steps ago", "next step"])
async def test_a_code_of_another_step_is_refused(alice, offset):
    await enrolled(alice)
    pending = await alice.pend()
    with pytest.raises(InvalidCode):
        await alice.second_step(pending, code=alice.code(offset))


async def test_the_same_step_twice_is_a_replay(alice):
    await enrolled(alice)
    code = alice.code()
    await alice.second_step(await alice.pend(), code=code)

    pending = await alice.pend(PHONE)
    with pytest.raises(InvalidCode):
        await alice.second_step(pending, PHONE, code=code)
    assert events(alice, "factor_replayed")


async def test_after_a_later_step_an_earlier_still_valid_code_is_refused(alice):
    await enrolled(alice)
    earlier = alice.code(-1)  # still valid: the previous step
    await alice.second_step(await alice.pend(), code=alice.code())
    with pytest.raises(InvalidCode):
        await alice.second_step(await alice.pend(PHONE), PHONE, code=earlier)


async def test_the_enrolment_code_cannot_log_in(alice):
    token = (await alice.log_in()).token
    current = await alice.current(token)
    setup = await alice.uc.start_totp.execute(
        current=current, reauth=Reauth(PASSWORD), client=LAPTOP
    )
    alice.secret = setup.secret
    code = alice.code()
    await alice.uc.confirm_totp.execute(current=current, code=code, client=LAPTOP)
    with pytest.raises(InvalidCode):
        await alice.second_step(await alice.pend(), code=code)


# Recovery codes


async def test_a_recovery_code_logs_in_once(alice):
    await enrolled(alice)
    assert len(alice.recovery_codes) == 10
    code = alice.recovery_codes[0]

    result = await alice.second_step(await alice.pend(), recovery_code=code.upper())
    assert result.session.methods == AuthMethod.PASSWORD | AuthMethod.RECOVERY_CODE

    with pytest.raises(InvalidCode):
        await alice.second_step(await alice.pend(), recovery_code=code)
    overview = await alice.uc.show_factors.execute(user=result.user)
    assert overview.totp and overview.recovery_codes_left == 9


# The pending login


async def test_a_pending_login_ends_after_its_ttl(alice):
    await enrolled(alice)
    pending = await alice.pend()
    assert pending.max_age == 300
    alice.wired.clock.advance(seconds=300)
    with pytest.raises(NotAuthenticated):
        await alice.second_step(pending, code=alice.code())


async def test_a_pending_login_is_single_use(alice):
    await enrolled(alice)
    pending = await alice.pend()
    await alice.second_step(pending, recovery_code=alice.recovery_codes[0])
    with pytest.raises(NotAuthenticated):
        await alice.second_step(pending, recovery_code=alice.recovery_codes[1])


async def test_the_pending_login_ends_after_five_wrong_codes(alice):
    await enrolled(alice)
    pending = await alice.pend()
    for _ in range(MAX_FACTOR_FAILURES):
        with pytest.raises(InvalidCode):
            await alice.second_step(
                pending, code="000000" if alice.code() != "000000" else "111111"
            )
    with pytest.raises(NotAuthenticated):
        await alice.second_step(pending, code=alice.code())
    failed = [e for e in events(alice, "login_failed") if e.get("action") == "mfa"]
    assert len(failed) == MAX_FACTOR_FAILURES


async def test_a_malformed_pending_token_is_not_authenticated(alice):
    await enrolled(alice)
    for token in ("", "x" * 43, "garbage"):
        with pytest.raises(NotAuthenticated):
            await alice.uc.login_mfa.execute(
                pending_token=token, proof=FactorProof(code="123456"), client=LAPTOP
            )


async def test_the_right_password_starts_no_session_and_keeps_the_secret_out_of_the_audit(alice):
    await enrolled(alice)
    sessions_before = len(await alice.wired.store.sessions.list_for_user(alice.user_id))
    pending = await alice.pend()
    assert len(await alice.wired.store.sessions.list_for_user(alice.user_id)) == sessions_before
    [required] = events(alice, "mfa_required")
    assert required["factor"] == "any"
    assert pending.token not in repr(alice.wired.audit.events)
    assert pending.token not in repr(pending)


async def test_a_password_changed_during_the_pending_login_gives_no_session(alice):
    token = await enrolled(alice)
    pending = await alice.pend(PHONE)
    current = await alice.current(token)
    await alice.uc.change_password.execute(
        current=current,
        current_password=PASSWORD,
        new_password="a brand new passphrase",
        client=LAPTOP,
        proof=FactorProof(recovery_code=alice.recovery_codes[0]),
    )
    with pytest.raises(InvalidCredentials):
        await alice.second_step(pending, PHONE, code=alice.code())


# The throttle covers the second step


async def test_wrong_codes_count_on_the_login_throttle_and_a_right_password_does_not_reset_it():
    a = Alice(wired(login_per_account=3))
    await a.sign_up()
    await enrolled(a)  # the enrolment's login succeeded: the counter starts empty
    wrong = "000000" if a.code() != "000000" else "111111"
    pending = await a.pend()
    with pytest.raises(InvalidCode):
        await a.second_step(pending, code=wrong)
    with pytest.raises(InvalidCode):
        await a.second_step(pending, code=wrong)
    # The stolen password again: the count stays (2 failures + this attempt given back).
    pending = await a.pend(PHONE)
    with pytest.raises(InvalidCode):
        await a.second_step(pending, PHONE, code=wrong)
    # Three failures: the limit holds for the password and the second step alike.
    with pytest.raises(Throttled):
        await a.second_step(pending, PHONE, code=a.code())
    with pytest.raises(Throttled):
        await a.log_in()


# Re-authentication


async def test_reauth_without_a_factor_is_refused_and_not_counted():
    a = Alice(wired(login_per_account=2))
    await a.sign_up()
    token = await enrolled(a)
    current = await a.current(token)
    for _ in range(3):  # over the limit if these counted
        with pytest.raises(SecondFactorRequired):
            await a.uc.renew_recovery_codes.execute(
                current=current, reauth=Reauth(PASSWORD), client=LAPTOP
            )
    rotated = await a.uc.renew_recovery_codes.execute(
        current=current, reauth=Reauth(PASSWORD, FactorProof(code=a.code())), client=LAPTOP
    )
    assert len(rotated.recovery_codes) == 10


async def test_a_wrong_factor_in_a_reauth_is_refused_audited_and_counted():
    a = Alice(wired(login_per_account=2))
    await a.sign_up()
    token = await enrolled(a)
    current = await a.current(token)
    bad = Reauth(PASSWORD, FactorProof(recovery_code="aaaa-aaaa-aaaa-aaaa-aaaa-aaaa"))
    for _ in range(2):
        with pytest.raises(WrongSecondFactor):
            await a.uc.delete_account.execute(
                current=current, current_password=bad.current_password, proof=bad.proof
            )
    with pytest.raises(Throttled):
        await a.uc.delete_account.execute(
            current=current, current_password=PASSWORD, proof=FactorProof(code=a.code())
        )
    failed = [e for e in events(a, "login_failed") if e.get("action") == "account_delete"]
    assert len(failed) == 2


async def test_a_wrong_password_in_a_reauth_is_wrong_password_whatever_the_factor(alice):
    token = await enrolled(alice)
    with pytest.raises(WrongPassword):
        await alice.uc.remove_totp.execute(
            current=await alice.current(token),
            reauth=Reauth("not it", FactorProof(code=alice.code())),
            client=LAPTOP,
        )


async def test_an_account_without_a_factor_reauthenticates_with_the_password_alone(alice):
    token = (await alice.log_in()).token
    setup = await alice.uc.start_totp.execute(
        current=await alice.current(token), reauth=Reauth(PASSWORD), client=LAPTOP
    )
    assert setup.otpauth_uri.startswith("otpauth://totp/")
    assert "issuer=sessionauth" in setup.otpauth_uri and "alice" in setup.otpauth_uri


# TOTP set-up, removal, recovery codes: the changes and their notices


async def test_confirming_totp_rotates_the_token_ends_other_sessions_and_queues_a_notice(alice):
    laptop = await alice.log_in()
    phone = await alice.log_in(PHONE)
    alice.wired.store.outbox.pending.clear()

    new_token = await alice.enrol_totp(laptop.token)

    with pytest.raises(NotAuthenticated):
        await alice.current(laptop.token)
    with pytest.raises(NotAuthenticated):
        await alice.current(phone.token)
    current = await alice.current(new_token)
    assert current.session.id == laptop.session.id
    assert current.session.methods == AuthMethod.PASSWORD | AuthMethod.TOTP
    [notice] = alice.wired.store.outbox.pending.values()
    assert notice.kind == MailKind.FACTOR_ADDED and notice.to == ADDRESS
    assert alice.secret not in notice.text + notice.html
    [enrolled_event] = events(alice, "factor_enrolled")
    assert enrolled_event["factor"] == "totp" and enrolled_event["revoked_sessions"] == 1
    assert alice.secret not in repr(alice.wired.audit.events)


async def test_a_wrong_setup_code_keeps_the_setup_pending(alice):
    current = await alice.current((await alice.log_in()).token)
    setup = await alice.uc.start_totp.execute(
        current=current, reauth=Reauth(PASSWORD), client=LAPTOP
    )
    alice.secret = setup.secret
    with pytest.raises(WrongSetupCode):
        await alice.uc.confirm_totp.execute(current=current, code=alice.code(2), client=LAPTOP)
    rotated = await alice.uc.confirm_totp.execute(current=current, code=alice.code(), client=LAPTOP)
    assert rotated.token and len(rotated.recovery_codes) == 10


async def test_confirm_without_a_setup_and_start_with_totp_active_are_refused(alice):
    first = (await alice.log_in()).token
    with pytest.raises(NoFactorSetup):
        await alice.uc.confirm_totp.execute(
            current=await alice.current(first), code="123456", client=LAPTOP
        )
    token = await alice.enrol_totp(first)
    with pytest.raises(FactorAlreadyActive):
        await alice.uc.start_totp.execute(
            current=await alice.current(token),
            reauth=Reauth(PASSWORD, FactorProof(code=alice.code())),
            client=LAPTOP,
        )


async def test_removing_totp_ends_it_with_its_recovery_codes_and_mails_a_notice(alice):
    token = await enrolled(alice)
    alice.wired.store.outbox.pending.clear()
    current = await alice.current(token)
    rotated = await alice.uc.remove_totp.execute(
        current=current, reauth=Reauth(PASSWORD, FactorProof(code=alice.code())), client=LAPTOP
    )
    overview = await alice.uc.show_factors.execute(user=current.user)
    assert not overview.totp and overview.recovery_codes_left == 0
    [notice] = alice.wired.store.outbox.pending.values()
    assert notice.kind == MailKind.FACTOR_REMOVED
    # No factor left: a login is one step again; no TOTP to remove, no codes to renew.
    assert (await alice.log_in()).session.aal == 1
    current = await alice.current(rotated.token)
    with pytest.raises(FactorNotFound):
        await alice.uc.remove_totp.execute(current=current, reauth=Reauth(PASSWORD), client=LAPTOP)
    with pytest.raises(NoSecondFactor):
        await alice.uc.renew_recovery_codes.execute(
            current=current, reauth=Reauth(PASSWORD), client=LAPTOP
        )


async def test_renewed_recovery_codes_replace_the_old_set(alice):
    token = await enrolled(alice)
    old = alice.recovery_codes
    alice.wired.store.outbox.pending.clear()
    rotated = await alice.uc.renew_recovery_codes.execute(
        current=await alice.current(token),
        reauth=Reauth(PASSWORD, FactorProof(code=alice.code())),
        client=LAPTOP,
    )
    assert set(rotated.recovery_codes).isdisjoint(old)
    with pytest.raises(InvalidCode):
        await alice.second_step(await alice.pend(), recovery_code=old[1])
    result = await alice.second_step(await alice.pend(), recovery_code=rotated.recovery_codes[0])
    assert result.session.aal == 2
    kinds = [m.kind for m in alice.wired.store.outbox.pending.values()]
    assert MailKind.RECOVERY_CODES_RENEWED in kinds
    [renewed] = events(alice, "recovery_codes_renewed")
    assert renewed["factor"] == "recovery_code"


async def test_a_secret_sealed_under_another_key_is_refused_not_an_error(alice, caplog):
    await enrolled(alice)
    other = Wired(
        alice.wired.store,
        clock=alice.wired.clock,
        box=AesGcmSecretBox(bytes(range(1, 33))),  # SECRETS_KEY changed
    )
    with pytest.raises(MfaPending) as pending:
        await other.use_cases.login.execute(username="alice", password=PASSWORD, client=LAPTOP)
    with pytest.raises(InvalidCode):
        await other.use_cases.login_mfa.execute(
            pending_token=pending.value.token, proof=FactorProof(code=alice.code()), client=LAPTOP
        )
    assert "SECRETS_KEY" in caplog.text
    [refused] = [e for e in other.audit.events if e["event"] == "factor_refused"]
    assert refused["reason"] == "unsealable"


# A password reset for an account with a factor


async def reset_token(a: Alice) -> str:
    assert a.uc.forgot_password is not None
    await a.uc.forgot_password.execute(username="alice", client=LAPTOP)
    await a.uc.forgot_password.settle()  # it mails in the background
    [link] = [m for m in a.wired.store.outbox.pending.values() if m.kind == MailKind.PASSWORD_RESET]
    return link.text.split("token=")[1].split()[0]


async def test_a_reset_needs_the_factor_and_keeps_the_token_usable_until_given(alice):
    await enrolled(alice)
    token = await reset_token(alice)
    new = "a brand new passphrase"
    with pytest.raises(SecondFactorRequired):
        await alice.uc.reset_password.execute(token=token, new_password=new, client=LAPTOP)
    with pytest.raises(SecondFactorRequired):  # WebAuthn is not taken at a reset
        await alice.uc.reset_password.execute(
            token=token, new_password=new, client=LAPTOP, proof=FactorProof(webauthn={})
        )
    with pytest.raises(WrongSecondFactor):
        await alice.uc.reset_password.execute(
            token=token,
            new_password=new,
            client=LAPTOP,
            proof=FactorProof(recovery_code="aaaa-aaaa-aaaa-aaaa-aaaa-aaaa"),
        )
    assert (
        await alice.uc.reset_password.execute(
            token=token, new_password=new, client=LAPTOP, proof=FactorProof(code=alice.code())
        )
        >= 0
    )
    with pytest.raises(MfaPending):
        await alice.uc.login.execute(username="alice", password=new, client=LAPTOP)


async def test_an_operator_resets_the_factors_of_an_account_that_lost_them_all():
    wired = Wired(InMemoryStore())
    alice = Alice(wired)
    await alice.sign_up()
    token = await alice.enrol_totp((await alice.log_in()).token)
    with pytest.raises(MfaPending):
        await alice.log_in(PHONE)
    wired.store.outbox.pending.clear()

    revoked = await alice.uc.reset_factors.execute(username="ALICE")

    assert revoked == 1
    with pytest.raises(NotAuthenticated):
        await alice.current(token)
    summary = await wired.store.factors.summary(alice.user_id)
    assert not summary.any and summary.recovery_codes_left == 0
    plain = await alice.log_in(PHONE)  # the password alone signs in again
    assert plain.session.aal == 1
    [notice] = [m for m in wired.store.outbox.pending.values() if m.kind == MailKind.FACTOR_REMOVED]
    assert notice.to == ADDRESS
    [event] = [e for e in wired.audit.events if e["event"] == "factor_removed"]
    assert event["by"] == "admin" and event["revoked_sessions"] == 1
    with pytest.raises(UnknownUser):
        await alice.uc.reset_factors.execute(username="nobody")
