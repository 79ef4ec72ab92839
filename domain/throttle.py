"""Login and sign-up throttling: which counters judge a request, and their limits."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta


def address_group(address: str | None) -> str | None:
    """The unit that the address-wide limits count: an IPv4 address itself, an IPv6 address's
    /64 (one subscriber usually holds a whole /64, and would otherwise have 2**64 addresses to
    rotate through). Anything that is not an IP address (an embedding application's own
    notion of a client) is kept as it is."""
    if address is None:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        # ::ffff:a.b.c.d is an IPv4 client; its /64 (::/64) would hold every IPv4 client at once
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address


@dataclass(frozen=True, slots=True)
class Limit:
    """A counter and the attempts it allows in a window; `allowed` 0 is no limit. A success
    clears the counter when `cleared_by_success` (the one the attempt was judged by), and only
    gives back its own attempt otherwise."""

    key: str
    allowed: int
    cleared_by_success: bool = False


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """OWASP's device-cookie scheme, so that throttling cannot be turned into a lockout.

    - A client without a valid device cookie for the account is limited per (account, address)
      and, across all such clients, per account; and per address across all accounts, so that
      one address cannot spray guesses over many accounts.
    - A client with one is limited per (account, device) only: an attacker spread over many
      addresses, or sharing the owner's address, cannot lock the owner out.
    - An attempt that names no usable account (a username that breaks the input rules, an
      over-long password: nothing is hashed) shares one counter with every such attempt from its
      address, and has no per-account one, so that made-up names cannot mint counters.
    - A client without an address (an embedding application that gives none) is not limited
      across accounts: it would be one counter for every such client, a lockout.
    - Sign-ups are limited per address, and so are password reset requests (each request
      counts, whatever account it names). Every counter uses the same fixed window.
    - The limits that count an address across accounts (failures, unusable names, sign-ups,
      reset requests) count an IPv6 address's /64 (address_group): one subscriber cannot
      escape them, nor mint counters, by rotating through its own addresses. The
      per-(account, address) limit, which a success clears, keeps the address itself.
    - Limits come in the order they are taken: the per-address ones first, so that an address
      that is over its limit is refused having touched one counter, not the account's.
    """

    window: timedelta
    login_per_address: int
    login_per_account: int
    login_per_device: int
    signup_per_address: int
    failures_per_address: int = 0
    reset_per_address: int = 0  # password reset requests (POST /password/forgot)

    def login_limits(
        self, account: str | None, address: str | None, device_id: str | None
    ) -> list[Limit]:
        """`account` is the canonical username, or None for an attempt that names no usable one."""
        if device_id is not None and account is not None:
            return [
                Limit(
                    f"login:device:{account}:{device_id}",
                    self.login_per_device,
                    cleared_by_success=True,
                )
            ]
        group = address_group(address)
        spraying = [Limit(f"failures:address:{group}", self.failures_per_address)] if group else []
        if account is None:
            return [*spraying, Limit(f"login:unusable:{group or '-'}", self.login_per_address)]
        return [
            *spraying,
            Limit(
                f"login:address:{account}:{address or '-'}",
                self.login_per_address,
                cleared_by_success=True,
            ),
            Limit(f"login:account:{account}", self.login_per_account),
        ]

    def passkey_limits(self, address: str | None) -> list[Limit]:
        """A passkey login names no account until its assertion is checked: counted per address
        (its /64) across accounts, at the limit of failures across accounts (an office behind
        one address signs in many people). Each ceremony started counts (it stores a
        challenge), and a passkey login that succeeds clears the count."""
        group = address_group(address)
        return [
            Limit(
                f"passkey:address:{group or '-'}",
                self.failures_per_address,
                cleared_by_success=True,
            )
        ]

    def signup_limits(self, address: str | None) -> list[Limit]:
        return [Limit(f"signup:address:{address_group(address) or '-'}", self.signup_per_address)]

    def reset_limits(self, address: str | None) -> list[Limit]:
        return [Limit(f"reset:address:{address_group(address) or '-'}", self.reset_per_address)]
