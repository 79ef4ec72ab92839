"""TOTP (RFC 6238) on pyotp: SHA-1, 6 digits, 30-second steps, what authenticator apps take."""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from datetime import datetime

import pyotp

from domain.factors import TOTP_DIGITS, TOTP_SECRET_BYTES, TOTP_STEP_SECONDS
from domain.ports import OneTimePasswords

_CODE = re.compile(r"\d{6}")


class PyotpOneTimePasswords(OneTimePasswords):
    def new_secret(self) -> str:
        return base64.b32encode(secrets.token_bytes(TOTP_SECRET_BYTES)).decode("ascii")

    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str:
        return self._totp(secret).provisioning_uri(name=account, issuer_name=issuer)

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        code = code.strip().replace(" ", "")
        if not _CODE.fullmatch(code):
            return None
        totp = self._totp(secret)
        step = totp.timecode(at)
        found = None
        # Both steps are always computed and compared, so the time does not tell which matched.
        for candidate in (step, step - 1):
            expected = totp.generate_otp(candidate)
            if hmac.compare_digest(expected.encode(), code.encode()) and found is None:
                found = candidate
        return found

    @staticmethod
    def _totp(secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)
