"""Request and response bodies: the JSON shapes of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, model_validator
from pydantic_core import PydanticCustomError

from application import FactorOverview, SessionSummary
from domain.factors import FactorProof, Reauth, WebAuthnCredential
from domain.user import User
from entrypoints.http.request_text import UNSTORABLE_TEXT, is_storable


def _storable(value: str) -> str:
    if not is_storable(value):
        # pydantic's own name for text that is not valid Unicode; the message holds no input.
        raise PydanticCustomError("string_unicode", UNSTORABLE_TEXT)
    return value


# Every string a client sends in a body: U+0000 and lone surrogates cannot be stored or hashed,
# so they are refused with a 422 naming the field before any use-case sees them.
Text = Annotated[StrictStr, AfterValidator(_storable)]


# A TOTP or recovery code: short, or refused before any use-case sees it. Within this bound a
# malformed one is a wrong one (the use-case counts it), so guessing learns nothing from a 422.
Code = Annotated[Text, Field(max_length=64)]
PROOF_FIELDS = ("code", "recovery_code", "webauthn")


class ProofIn(BaseModel):
    """A second factor in a body: at most one of a TOTP code, a recovery code or a WebAuthn
    assertion (the browser's PublicKeyCredential as JSON)."""

    model_config = ConfigDict(extra="ignore")

    code: Code | None = None
    recovery_code: Code | None = None
    webauthn: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _at_most_one(self) -> ProofIn:
        if sum(getattr(self, name) is not None for name in PROOF_FIELDS) > 1:
            raise PydanticCustomError(
                "one_factor", "Give at most one of code, recovery_code and webauthn"
            )
        return self

    def proof(self) -> FactorProof:
        return FactorProof(code=self.code, recovery_code=self.recovery_code, webauthn=self.webauthn)


class MfaIn(ProofIn):
    """The second login step: exactly one factor."""

    @model_validator(mode="after")
    def _exactly_one(self) -> MfaIn:
        if all(getattr(self, name) is None for name in PROOF_FIELDS):
            raise PydanticCustomError("one_factor", "Give one of code, recovery_code and webauthn")
        return self


class ReauthIn(ProofIn):
    """A re-auth body: the current password and, when the account has one, a second factor."""

    current_password: Text

    def reauth(self) -> Reauth:
        return Reauth(current_password=self.current_password, proof=self.proof())


class TotpCodeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: Code


class Credentials(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: Text
    password: Text


class SignUpIn(Credentials):
    email: Text | None = None  # optional; stored unverified


class UserOut(BaseModel):
    user_id: str
    username: str
    created_at: datetime
    email: str | None
    email_verified: bool

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            user_id=user.id,
            username=user.username.display,
            created_at=user.created_at,
            email=user.email,
            email_verified=user.email_verified,
        )


class SignUpOut(BaseModel):
    message: str
    user: UserOut


class AccountOut(BaseModel):
    """What a change to the account answers: what happened, and the user as it is now."""

    message: str
    user: UserOut


class LoginOut(BaseModel):
    message: str
    user: UserOut
    expires_at: datetime
    idle_expires_at: datetime
    aal: int  # 1: a password alone; 2: a password and a second factor, or a passkey


class MfaPendingOut(BaseModel):
    message: str
    methods: list[str]


class PasswordChange(ReauthIn):
    new_password: Text


class EmailChange(ReauthIn):
    email: Text


class TokenIn(BaseModel):
    """A token from a link in mail. Its shape is checked by the use-case, which answers any
    token it cannot use alike (400), never echoing it."""

    model_config = ConfigDict(extra="ignore")

    token: Text


class PasswordForgot(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: Text | None = None
    email: Text | None = None


class PasswordReset(ProofIn):
    token: Text
    new_password: Text


class AccountDeletion(ReauthIn):
    pass


class CredentialOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    passkey: bool = False  # discoverable: signs in without a username

    @classmethod
    def of(cls, credential: WebAuthnCredential) -> CredentialOut:
        return cls(
            id=credential.id,
            name=credential.name,
            created_at=credential.created_at,
            last_used_at=credential.last_used_at,
            passkey=credential.discoverable,
        )


class FactorsOut(BaseModel):
    totp: bool
    webauthn: list[CredentialOut]
    recovery_codes_left: int

    @classmethod
    def of(cls, overview: FactorOverview) -> FactorsOut:
        return cls(
            totp=overview.totp,
            webauthn=[CredentialOut.of(c) for c in overview.webauthn],
            recovery_codes_left=overview.recovery_codes_left,
        )


class TotpSetupOut(BaseModel):
    secret: str
    otpauth_uri: str


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    idle_expires_at: datetime
    user_agent: str | None
    device: str  # the browser and system named from user_agent: "Chrome 156 on Linux"
    ip: str | None
    current: bool
    aal: int  # 1 or 2: how the session was reached (AuthMethod.aal)
    methods: list[str]  # "password", "totp", "recovery_code", "webauthn", "passkey"

    @classmethod
    def of(cls, summary: SessionSummary) -> SessionOut:
        s = summary.session
        return cls(
            id=s.id,
            created_at=s.created_at,
            last_seen_at=s.last_seen_at,
            expires_at=s.expires_at,
            idle_expires_at=summary.idle_expires_at,
            user_agent=s.user_agent,
            device=summary.device,
            ip=s.ip,
            current=summary.current,
            aal=s.aal,
            methods=s.methods.names,
        )


class RevokedOut(BaseModel):
    revoked: int


class MessageOut(BaseModel):
    message: str


class ProtectedOut(BaseModel):
    message: str
    user: UserOut


class StatusOut(BaseModel):
    status: str


class ErrorOut(BaseModel):
    detail: str


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    detail: list[ValidationIssue]


# A browser's PublicKeyCredential as JSON: bounded, so that junk is refused before any parsing.
WebAuthnJson = Annotated[dict[str, Any], Field(max_length=16)]


class CredentialRegistrationIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    credential: WebAuthnJson
    name: Annotated[Text, Field(max_length=256)]


class RegisteredCredentialOut(CredentialOut):
    recovery_codes: list[str] | None = None  # only with the account's first factor


class PasskeyLoginIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    credential: WebAuthnJson
