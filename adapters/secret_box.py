"""AES-256-GCM for secrets at rest (TOTP secrets), on `cryptography`. A sealed value is a version
byte, a 96-bit random nonce and the ciphertext with its tag; the context (the user id) is the
associated data, so a sealed secret copied to another user's row does not open."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.ports import SecretBox

_VERSION = b"\x01"
_NONCE_BYTES = 12


class AesGcmSecretBox(SecretBox):
    """`key` is SECRETS_KEY's 32 bytes, or a coroutine function that fetches the key the store
    keeps (read once, on first use)."""

    def __init__(self, key: bytes | Callable[[], Awaitable[bytes]]) -> None:
        self._source = key
        self._aead: AESGCM | None = AESGCM(key) if isinstance(key, bytes) else None

    async def seal(self, plaintext: bytes, *, context: bytes) -> bytes:
        aead = await self._cipher()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _VERSION + nonce + aead.encrypt(nonce, plaintext, _VERSION + context)

    async def open(self, sealed: bytes, *, context: bytes) -> bytes:
        aead = await self._cipher()
        if len(sealed) < 1 + _NONCE_BYTES + 16 or sealed[:1] != _VERSION:
            raise ValueError("not a sealed secret")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return aead.decrypt(nonce, body, _VERSION + context)
        except InvalidTag:
            raise ValueError("sealed under another key or context") from None

    async def _cipher(self) -> AESGCM:
        if self._aead is None:
            source = self._source
            assert callable(source)  # noqa: S101 (set in __init__: bytes or a key source)
            self._aead = AESGCM(await source())
        return self._aead
