from datetime import datetime

from domain.client import Client
from domain.mail import NOTICE_KINDS, MailFacts, MailKind, MailMessage
from domain.ports import Clock, MailComposer, TokenGenerator, UserAgents
from domain.user import User


class Messages:
    """Mail as every use-case builds it: composed from the templates, addressed and stamped in
    one place, ready to hand to the repository method whose change it reports (the use-cases get
    None instead of this when mail is off).

    - A notice goes only to a verified address: `notice` gives None for an account without one;
      `notice_to` names the address (the old one, when the address itself changed).
    - A notice names the device (a browser and system name, never the raw header), the client
      address and the time.
    - Every message gets a fresh public id (also its Message-ID).
    """

    def __init__(
        self,
        *,
        composer: MailComposer,
        tokens: TokenGenerator,
        clock: Clock,
        user_agents: UserAgents,
    ) -> None:
        self._composer = composer
        self._tokens = tokens
        self._clock = clock
        self._user_agents = user_agents

    def notice(
        self, kind: MailKind, user: User, client: Client, *, factor: str | None = None
    ) -> MailMessage | None:
        """A notice of `kind` about what `client` just did to `user`'s account, to the account's
        verified address; None when there is none. `factor` names the factor a factor notice
        is about."""
        _check_notice(kind)
        to = user.verified_email
        return None if to is None else self.notice_to(kind, user, client, to=to, factor=factor)

    def notice_to(
        self,
        kind: MailKind,
        user: User,
        client: Client,
        *,
        to: str,
        new_email: str | None = None,
        factor: str | None = None,
    ) -> MailMessage:
        _check_notice(kind)
        facts = MailFacts(
            username=user.username.display,
            when=self._clock.now(),
            device=self._user_agents.describe(client.user_agent),
            ip=client.address,
            new_email=new_email,
            factor=factor,
        )
        return self._message(kind, user, to, facts)

    def link(
        self, kind: MailKind, user: User, *, to: str, token: str, expires_at: datetime
    ) -> MailMessage:
        """A message with a link carrying `token` (verification, reset) to `to`, which need not
        be verified yet (a verification link goes to the address it verifies)."""
        facts = MailFacts(username=user.username.display, token=token, expires_at=expires_at)
        return self._message(kind, user, to, facts)

    def _message(self, kind: MailKind, user: User, to: str, facts: MailFacts) -> MailMessage:
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


def _check_notice(kind: MailKind) -> None:
    if kind not in NOTICE_KINDS:
        raise ValueError(f"{kind} is not a notice")
