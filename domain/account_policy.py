"""The rules of the account lifecycle that settings tune: link lifetimes, the mail quota, the
new-device notice, the session limit and the second factors' pending login."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    email_verify_ttl: timedelta = timedelta(days=1)
    password_reset_ttl: timedelta = timedelta(minutes=15)
    # Messages of one kind per account per throttle window; 0 is no quota (MailQuota).
    mail_per_account: int = 3
    notify_new_device: bool = True
    # Most sessions one account holds at once; a login beyond it ends the least recently used
    # one. 0 is no limit.
    session_limit: int = 20
    # How long a pending login (a right password, a second step due) lives: MFA_PENDING_TTL.
    mfa_pending_ttl: timedelta = timedelta(minutes=5)
    # The issuer an authenticator app shows next to a TOTP account: PRODUCT_NAME.
    totp_issuer: str = "sessionauth"

    def __post_init__(self) -> None:
        if min(self.email_verify_ttl, self.password_reset_ttl, self.mfa_pending_ttl) <= timedelta(
            0
        ):
            raise ValueError("token lifetimes must be positive")
        if self.mail_per_account < 0 or self.session_limit < 0:
            raise ValueError("limits must be 0 (none) or positive")
