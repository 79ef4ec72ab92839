"""Login and sign-up throttling: which counters judge a request, and their limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class Limit:
    """A counter and the failures (or sign-ups) it allows in a window; `allowed` 0 is no limit."""

    key: str
    allowed: int


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """OWASP's device-cookie scheme, so that throttling cannot be turned into a lockout.

    - A client without a valid device cookie for the account is limited per (account, address)
      and, across all such clients, per account.
    - A client with one is limited per (account, device) only: an attacker spread over many
      addresses, or sharing the owner's address, cannot lock the owner out.
    - Sign-ups are limited per address. Every counter uses the same fixed window.
    """

    window: timedelta
    login_per_address: int
    login_per_account: int
    login_per_device: int
    signup_per_address: int

    def login_limits(self, account: str, address: str | None, device_id: str | None) -> list[Limit]:
        if device_id is not None:
            return [Limit(f"login:device:{account}:{device_id}", self.login_per_device)]
        return [
            Limit(f"login:address:{account}:{address or '-'}", self.login_per_address),
            Limit(f"login:account:{account}", self.login_per_account),
        ]

    def signup_limits(self, address: str | None) -> list[Limit]:
        return [Limit(f"signup:address:{address or '-'}", self.signup_per_address)]
