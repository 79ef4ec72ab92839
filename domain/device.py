"""Device cookies (OWASP): proof that this browser has logged in to this account before."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol


class DeviceKeySource(Protocol):
    async def device_keys(self) -> Sequence[bytes]:
        """The keys for device cookies, the same for every instance (each at least 32 bytes):
        the first signs, every one is accepted (a rotation lists the new key first)."""


class DeviceCookies:
    """Issues and checks `user_id.device_id.expires.mac`, an HMAC-SHA256 under keys every
    instance shares.

    - A tampered, expired or foreign cookie counts as none.
    - New cookies are signed with the first key; a cookie signed with any listed key is accepted,
      so a key can be rotated without turning every owner's browser into a stranger. A cookie
      signed with a key taken off the list counts as none.
    - The keys are fetched on first use and kept, so a store that is down at start delays nothing.
    """

    def __init__(self, keys: DeviceKeySource, ttl: timedelta) -> None:
        self._source = keys
        self._keys: tuple[bytes, ...] = ()
        self.ttl = ttl

    async def issue(self, user_id: str, device_id: str, now: datetime) -> str:
        expires = int((now + self.ttl).timestamp())
        payload = f"{user_id}.{device_id}.{expires}"
        signing = (await self._current_keys())[0]
        return f"{payload}.{_mac(signing, payload)}"

    async def device_for(self, cookie: str | None, user_id: str, now: datetime) -> str | None:
        """The device id the cookie names when it is valid for `user_id`, else None."""
        if not cookie or len(cookie) > 256:
            return None
        payload, _, mac = cookie.rpartition(".")
        parts = payload.split(".")
        if len(parts) != 3 or not any(
            # Every key is tried, a match or not: the time does not tell which key signed (a
            # generator would let any() stop at the first match).
            [  # noqa: C419
                hmac.compare_digest(mac.encode(), _mac(key, payload).encode())
                for key in await self._current_keys()
            ]
        ):
            return None
        cookie_user, device_id, expires = parts
        if cookie_user != user_id or not expires.isdigit() or int(expires) <= now.timestamp():
            return None
        return device_id

    async def _current_keys(self) -> tuple[bytes, ...]:
        if not self._keys:
            keys = tuple(await self._source.device_keys())
            if not keys or any(len(key) < 32 for key in keys):
                raise ValueError("every device cookie key needs at least 256 bits")
            self._keys = keys
        return self._keys


def _mac(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
