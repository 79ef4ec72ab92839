"""What the second-factor use-cases answer."""

from dataclasses import dataclass, field

from domain.factors import WebAuthnCredential


@dataclass(frozen=True, slots=True)
class Rotated:
    """A factor change that ended the account's other sessions: the caller's session goes on
    under `token` (the old one is dead). `recovery_codes` is a fresh set when the change made
    one (shown once, never stored in the clear), else empty."""

    token: str = field(repr=False)
    recovery_codes: list[str] = field(default_factory=list, repr=False)


@dataclass(frozen=True, slots=True)
class TotpSetup:
    """A TOTP set-up started, not yet active: the secret (to type in) and the otpauth:// URI (to
    scan), shown to the user once."""

    secret: str = field(repr=False)
    otpauth_uri: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class FactorOverview:
    """A user's second factors, as GET /mfa shows them (no secret in it)."""

    totp: bool
    webauthn: list[WebAuthnCredential]
    recovery_codes_left: int
