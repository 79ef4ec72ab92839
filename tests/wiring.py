"""The use-cases on test doubles: the one place tests build them, through `build_use_cases`.

A port that the store does not provide gets its fake here once, as a default; every test that
builds use-cases (the unit `World`, the Postgres race and throttle tests) then has it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from adapters.email_addresses import EmailValidatorAddresses
from adapters.mail_composer import TemplateMailComposer
from adapters.secret_box import AesGcmSecretBox
from adapters.system import SecretsTokenGenerator
from adapters.totp import PyotpOneTimePasswords
from adapters.user_agents import UaParserUserAgents
from application import UseCases, build_use_cases
from domain.account_policy import AccountPolicy
from domain.device import DeviceCookies
from domain.ports import (
    AuditLog,
    Clock,
    MailComposer,
    OneTimePasswords,
    PasswordHasher,
    SecretBox,
    Store,
    TokenGenerator,
    WebAuthnRelyingParty,
)
from domain.session import SessionPolicy
from domain.throttle import ThrottlePolicy
from domain.user import PasswordPolicy
from tests.constants import ABSOLUTE, IDLE
from tests.fakes import FakeClock, FastPasswordHasher, RecordingAuditLog

# Throttling off unless a test sets a limit (0 means no limit).
NO_LIMITS = {
    "login_per_address": 0,
    "login_per_account": 0,
    "login_per_device": 0,
    "signup_per_address": 0,
}


@dataclass
class Wired:
    """The use-cases and the doubles they run on, which tests inspect and drive."""

    store: Store
    clock: Clock = field(default_factory=FakeClock)
    hasher: PasswordHasher = field(default_factory=FastPasswordHasher)
    tokens: TokenGenerator = field(default_factory=SecretsTokenGenerator)
    audit: AuditLog = field(default_factory=RecordingAuditLog)
    session_policy: SessionPolicy = field(
        default_factory=lambda: SessionPolicy.from_seconds(IDLE, ABSOLUTE)
    )
    password_policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    throttle_policy: ThrottlePolicy = field(
        default_factory=lambda: ThrottlePolicy(window=timedelta(minutes=15), **NO_LIMITS)
    )
    # Mail is on, with links under this URL; None turns it off.
    composer: MailComposer | None = field(
        default_factory=lambda: TemplateMailComposer(
            product_name="sessionauth", public_url="https://auth.example"
        )
    )
    account_policy: AccountPolicy = field(default_factory=AccountPolicy)
    otp: OneTimePasswords = field(default_factory=PyotpOneTimePasswords)
    box: SecretBox = field(default_factory=lambda: AesGcmSecretBox(bytes(range(32))))
    relying_party: WebAuthnRelyingParty | None = None
    devices: DeviceCookies = field(init=False)
    use_cases: UseCases = field(init=False)

    def __post_init__(self) -> None:
        self.devices = DeviceCookies(self.store, timedelta(days=30))
        self.use_cases = build_use_cases(
            store=self.store,
            hasher=self.hasher,
            clock=self.clock,
            tokens=self.tokens,
            audit=self.audit,
            devices=self.devices,
            session_policy=self.session_policy,
            password_policy=self.password_policy,
            throttle_policy=self.throttle_policy,
            email_addresses=EmailValidatorAddresses(),
            user_agents=UaParserUserAgents(),
            composer=self.composer,
            account_policy=self.account_policy,
            otp=self.otp,
            box=self.box,
            relying_party=self.relying_party,
        )


def throttle_limits(**limits: int) -> ThrottlePolicy:
    """The tests' throttle policy with the given limits set and the others off."""
    return ThrottlePolicy(window=timedelta(minutes=15), **{**NO_LIMITS, **limits})
