from datetime import datetime

from domain.account_token import AccountToken, TokenPurpose
from domain.ports import AccountTokenRepository
from domain.session import hash_token, is_well_formed_token


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


async def link_usable(
    tokens: AccountTokenRepository, token: str, purpose: TokenPurpose, now: datetime
) -> bool:
    """Whether a link's token would be taken now (well-formed, stored for `purpose`, not expired),
    without using it: a page shows its form only for a link that can still work. Nothing is
    audited; the use itself is."""
    if not is_well_formed_token(token):
        return False
    held = await tokens.find(hash_token(token))
    return held is not None and held.purpose == purpose and not held.is_expired(now)
