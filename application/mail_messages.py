from datetime import datetime

from domain.client import Client
from domain.mail import NOTICE_KINDS, MailFacts, MailKind, MailMessage
from domain.ports import Clock, MailComposer, TokenGenerator, UserAgents
from domain.user import User


class Messages:
    """Mail as every use-case builds it: composed from the templates, addressed and stamped in
    one place, ready to hand to the repository method whose change it reports.

    - With mail off (no composer) there is no message: None.
    - A notice goes only to a verified address; an account without one gets none (None).
    - A notice names the device (a browser and system name, never the raw header), the client
      address and the time.
    """

    def __init__(
        self,
        *,
        composer: MailComposer | None,
        tokens: TokenGenerator,
        clock: Clock,
        user_agents: UserAgents,
    ) -> None:
        self._composer = composer
        self._tokens = tokens
        self._clock = clock
        self._user_agents = user_agents

    @property
    def on(self) -> bool:
        """Whether mail is on at all: a use-case can skip work (a quota check) when it is not."""
        return self._composer is not None

    def notice(
        self, kind: MailKind, user: User, client: Client, *, new_email: str | None = None
    ) -> MailMessage | None:
        """A notice of `kind` about what `client` just did to `user`'s account, to the account's
        verified address; None when mail is off or there is no verified address."""
        if kind not in NOTICE_KINDS:
            raise ValueError(f"{kind} is not a notice")
        to = user.verified_email
        if to is None:
            return None
        facts = MailFacts(
            username=user.username.display,
            when=self._clock.now(),
            device=self._user_agents.describe(client.user_agent),
            ip=client.address,
            new_email=new_email,
        )
        return self._message(kind, user, to, facts)

    def link(
        self, kind: MailKind, user: User, *, to: str, token: str, expires_at: datetime
    ) -> MailMessage | None:
        """A message with a link carrying `token` (verification, reset) to `to`, which need not
        be verified yet (a verification link goes to the address it verifies); None when mail
        is off."""
        facts = MailFacts(username=user.username.display, token=token, expires_at=expires_at)
        return self._message(kind, user, to, facts)

    def _message(self, kind: MailKind, user: User, to: str, facts: MailFacts) -> MailMessage | None:
        if self._composer is None:
            return None
        content = self._composer.compose(kind, facts)
        return MailMessage(
            id=self._tokens.public_id(),
            kind=kind,
            to=to,
            subject=content.subject,
            text=content.text,
            html=content.html,
            user_id=user.id,
            created_at=self._clock.now(),
        )
