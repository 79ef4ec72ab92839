"""Device cookies (OWASP): proof that this browser has logged in to this account before."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Protocol


class DeviceKeySource(Protocol):
    async def device_key(self) -> bytes:
        """The key that signs device cookies, the same for every instance (at least 32 bytes)."""


class DeviceCookies:
    """Issues and checks `user_id.device_id.expires.mac`, an HMAC-SHA256 under a key every
    instance shares. A tampered, expired or foreign cookie counts as none.

    The key is fetched on first use and kept, so a store that is down at start delays nothing.
    """

    def __init__(self, keys: DeviceKeySource, ttl: timedelta) -> None:
        self._keys = keys
        self._key: bytes | None = None
        self.ttl = ttl

    async def issue(self, user_id: str, device_id: str, now: datetime) -> str:
        expires = int((now + self.ttl).timestamp())
        payload = f"{user_id}.{device_id}.{expires}"
        return f"{payload}.{await self._mac(payload)}"

    async def device_for(self, cookie: str | None, user_id: str, now: datetime) -> str | None:
        """The device id the cookie names when it is valid for `user_id`, else None."""
        if not cookie or len(cookie) > 256:
            return None
        payload, _, mac = cookie.rpartition(".")
        parts = payload.split(".")
        if len(parts) != 3 or not hmac.compare_digest(mac.encode(), (await self._mac(payload)).encode()):
            return None
        cookie_user, device_id, expires = parts
        if cookie_user != user_id or not expires.isdigit() or int(expires) <= now.timestamp():
            return None
        return device_id

    async def _mac(self, payload: str) -> str:
        if self._key is None:
            key = await self._keys.device_key()
            if len(key) < 32:
                raise ValueError("the device cookie key needs at least 256 bits")
            self._key = key
        digest = hmac.new(self._key, payload.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
