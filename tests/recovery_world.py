"""The use-cases of email addresses and password recovery on the in-memory store (or a store
given), with a fake clock, a recording audit log and mail on: for the unit and race tests."""

from __future__ import annotations

from application import Authenticated
from domain.account_policy import AccountPolicy
from domain.client import Client
from domain.mail import MailKind
from domain.ports import Store
from domain.user import User
from tests.constants import PASSWORD
from tests.mail_links import last_token
from tests.wiring import Wired, throttle_limits

PHONE = Client(address="198.51.100.7", user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")


class RecoveryWorld:
    def __init__(
        self,
        store: Store,
        *,
        account_policy: AccountPolicy | None = None,
        mail: bool = True,
        **limits: int,
    ) -> None:
        extra = {} if mail else {"composer": None}
        wired = Wired(
            store,
            throttle_policy=throttle_limits(**limits),
            account_policy=account_policy or AccountPolicy(),
            **extra,
        )
        self.wired = wired
        self.store, self.clock, self.audit, self.hasher = (
            wired.store,
            wired.clock,
            wired.audit,
            wired.hasher,
        )
        u = wired.use_cases
        self.use_cases = u
        self.sign_up, self.login, self.resolve = u.sign_up, u.login, u.resolve_session
        self.change_password, self.purge = u.change_password, u.purge_expired_sessions
        self.set_email, self.verify_email = u.set_email, u.verify_email
        self.resend, self.forgot, self.reset = (
            u.resend_verification,
            u.forgot_password,
            u.reset_password,
        )

    async def account(
        self, name: str = "alice", email: str | None = None, verified: bool = False
    ) -> User:
        user = await self.sign_up.execute(username=name, password=PASSWORD, email=email)
        if verified:
            assert email is not None and self.verify_email is not None
            token = last_token(self.store, MailKind.VERIFY_EMAIL, to=user.email)
            user = await self.verify_email.execute(token=token)
        return user

    async def session(self, name: str = "alice", client: Client = PHONE) -> Authenticated:
        result = await self.login.execute(username=name, password=PASSWORD, client=client)
        return await self.resolve.execute(token=result.token)

    def events(self, *names: str) -> list[dict]:
        return [e for e in self.audit.events if not names or e["event"] in names]  # type: ignore[attr-defined]
