from application.factor_results import TotpSetup
from application.reauthenticate import Reauthenticate
from application.resolve_session import Authenticated
from domain.client import Client
from domain.errors import FactorAlreadyActive
from domain.factors import Reauth, TotpFactor
from domain.ports import Clock, FactorRepository, OneTimePasswords, SecretBox


class StartTotp:
    """Start (or restart) a TOTP set-up: a new secret, not yet active.

    - A re-auth body is required (Reauthenticate: the password, and a second factor when the
      account has one already).
    - An account with TOTP active gets FactorAlreadyActive (it removes it first).
    - The secret is 160 bits from a CSPRNG, sealed (AES-GCM) bound to the user id before it is
      stored; a set-up started before is replaced. The secret and its otpauth:// URI (issuer:
      the product's name, account: the username) are answered once, to be scanned or typed.
    """

    def __init__(
        self,
        *,
        factors: FactorRepository,
        reauthenticate: Reauthenticate,
        otp: OneTimePasswords,
        box: SecretBox,
        clock: Clock,
        issuer: str,
    ) -> None:
        self._factors = factors
        self._reauthenticate = reauthenticate
        self._otp = otp
        self._box = box
        self._clock = clock
        self._issuer = issuer

    async def execute(self, *, current: Authenticated, reauth: Reauth, client: Client) -> TotpSetup:
        user = current.user
        existing = await self._factors.totp(user.id)
        if existing is not None and existing.confirmed:
            raise FactorAlreadyActive()
        await self._reauthenticate.check(current, reauth, client, action="totp_setup")
        secret = self._otp.new_secret()
        sealed = await self._box.seal(secret.encode(), context=user.id.encode())
        factor = TotpFactor(user_id=user.id, sealed_secret=sealed, created_at=self._clock.now())
        if not await self._factors.start_totp(factor):
            raise FactorAlreadyActive()  # confirmed meanwhile by another request
        return TotpSetup(
            secret=secret,
            otpauth_uri=self._otp.provisioning_uri(
                secret, account=user.username.display, issuer=self._issuer
            ),
        )
