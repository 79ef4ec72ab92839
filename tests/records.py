"""Users and sessions as the repositories store them, made at a fixed time."""

import uuid
from datetime import UTC, datetime, timedelta

from domain.session import Session, hash_token
from domain.user import User, Username

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


IDLE = timedelta(minutes=10)
FAKE_HASH = "$argon2id$fake"


def a_user(name: str = "Alice", at: datetime = T0) -> User:
    return User(
        id=str(uuid.uuid4()), username=Username.parse(name), password_hash=FAKE_HASH, created_at=at
    )


def a_session(user: User, at: datetime = T0, token: str | None = None, **fields) -> Session:
    token = token or uuid.uuid4().hex + "0123456789a"
    values = {
        "id": str(uuid.uuid4()),
        "user_id": user.id,
        "token_hash": hash_token(token),
        "created_at": at,
        "last_seen_at": at,
        "expires_at": at + timedelta(hours=8),
        "user_agent": "Mozilla/5.0 (X11) ünïcode",
        "ip": "2001:db8::1",
    }
    values.update(fields)
    return Session(**values)
