from datetime import datetime

from domain.client import Client
from domain.mail import MailFacts, MailKind, MailMessage
from domain.ports import Clock, MailComposer, TokenGenerator, UserAgents
from domain.user import User


class MailMessages:
    """Whole messages for one account, composed when the change they report is made (then
    queued in its transaction): a link carrying a token, or a notice of what happened.

    - A notice says when, on which device (its browser and system, never the raw User-Agent)
      and from which address.
    - Every message gets a fresh public id (also its Message-ID).
    """

    def __init__(
        self, *, composer: MailComposer, ids: TokenGenerator, clock: Clock, user_agents: UserAgents
    ) -> None:
        self._composer = composer
        self._ids = ids
        self._clock = clock
        self._user_agents = user_agents

    def link(
        self, kind: MailKind, *, to: str, user: User, token: str, expires_at: datetime
    ) -> MailMessage:
        facts = MailFacts(username=user.username.display, token=token, expires_at=expires_at)
        return self._message(kind, to, user, facts)

    def notice(
        self, kind: MailKind, *, to: str, user: User, client: Client, new_email: str | None = None
    ) -> MailMessage:
        facts = MailFacts(
            username=user.username.display,
            when=self._clock.now(),
            device=self._user_agents.describe(client.user_agent),
            ip=client.address,
            new_email=new_email,
        )
        return self._message(kind, to, user, facts)

    def _message(self, kind: MailKind, to: str, user: User, facts: MailFacts) -> MailMessage:
        content = self._composer.compose(kind, facts)
        return MailMessage(
            id=self._ids.public_id(),
            kind=kind,
            to=to,
            subject=content.subject,
            text=content.text,
            html=content.html,
            user_id=user.id,
            created_at=self._clock.now(),
        )
