"""The clock and the random sources of a real process."""

import secrets
import uuid
from datetime import UTC, datetime

from domain.ports import Clock, TokenGenerator


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


class StaticDeviceKeys:
    """Device-cookie keys given by configuration (DEVICE_COOKIE_KEY) instead of the store: the
    first signs, every one is accepted."""

    def __init__(self, keys: tuple[bytes, ...]) -> None:
        self._keys = keys

    async def device_keys(self) -> tuple[bytes, ...]:
        return self._keys


class SecretsTokenGenerator(TokenGenerator):
    def session_token(self) -> str:
        return secrets.token_urlsafe(32)  # 256 bits from the OS CSPRNG, 43 URL-safe characters

    def public_id(self) -> str:
        return str(uuid.uuid4())  # 122 random bits from os.urandom; shown to clients, not a secret
