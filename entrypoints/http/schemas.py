"""Request and response bodies: the JSON shapes of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictStr
from pydantic_core import PydanticCustomError

from application import SessionSummary
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
    aal: int  # the session's assurance level: 1 a password alone, 2 with a second factor


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    current_password: Text
    new_password: Text


class EmailChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: Text
    current_password: Text


class TokenIn(BaseModel):
    """A token from a link in mail. Its shape is checked by the use-case, which answers any
    token it cannot use alike (400), never echoing it."""

    model_config = ConfigDict(extra="ignore")

    token: Text


class PasswordForgot(BaseModel):
    model_config = ConfigDict(extra="ignore")

    username: Text | None = None
    email: Text | None = None


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: Text
    new_password: Text


class AccountDeletion(BaseModel):
    model_config = ConfigDict(extra="ignore")

    current_password: Text


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
