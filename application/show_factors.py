from application.factor_results import FactorOverview
from domain.ports import FactorRepository
from domain.user import User


class ShowFactors:
    """The caller's second factors: whether TOTP is active (a pending set-up is not), the
    WebAuthn credentials (oldest first) and how many recovery codes are left. No secret."""

    def __init__(self, *, factors: FactorRepository) -> None:
        self._factors = factors

    async def execute(self, *, user: User) -> FactorOverview:
        summary = await self._factors.summary(user.id)
        credentials = await self._factors.credentials(user.id) if summary.webauthn else []
        return FactorOverview(
            totp=summary.totp,
            webauthn=credentials,
            recovery_codes_left=summary.recovery_codes_left,
        )
