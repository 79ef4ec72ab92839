from datetime import datetime

from domain.account_token import AccountToken, TokenPurpose


def refusal_reason(token: AccountToken | None, purpose: TokenPurpose, now: datetime) -> str:
    """Why a well-formed token was refused, for the audit log only (the client is told
    InvalidToken whatever the reason), from what the store still holds under its hash. A used
    token is deleted, so it cannot be told from one that never existed; an expired one can,
    until the purge deletes it."""
    if token is None:
        return "unknown_or_used"
    if token.purpose != purpose:
        return "wrong_purpose"
    if token.is_expired(now):
        return "expired"
    # A verification link for an address the account no longer names, or a link that a
    # concurrent request used between the two looks.
    return "not_applicable"
