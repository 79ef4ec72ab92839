from dataclasses import dataclass, field

from application.mail_messages import Messages
from application.resolve_session import Authenticated
from domain.audit import AuditEvent
from domain.client import Client
from domain.factors import hash_recovery_code, new_recovery_codes
from domain.mail import MailKind, MailMessage
from domain.ports import AuditLog, TokenGenerator
from domain.session import AuthMethod, Rotation, hash_token

TOTP_NOTICE_NAME = "An authenticator app (TOTP)"


@dataclass(frozen=True, slots=True)
class PreparedChange:
    """What a factor change hands the repository with it: the caller's new token (as a
    Rotation), the notice to queue in the same transaction, and fresh recovery codes."""

    token: str = field(repr=False)
    rotation: Rotation
    mail: list[MailMessage]
    recovery_codes: list[str] = field(default_factory=list, repr=False)

    @property
    def recovery_code_hashes(self) -> list[bytes]:
        return [hash_recovery_code(code) for code in self.recovery_codes]


class FactorChange:
    """How every change of a user's factors ends (shared by the TOTP, recovery-code and
    WebAuthn use-cases, so that each does alike):

    - the account's other sessions end and the caller's goes on under a new token (the
      repository does both with the change, all or nothing);
    - a notice goes to the verified address when mail is on (ASVS 6.3.7), queued in that same
      transaction; never dropped by the mail quota (every change is re-authenticated already);
    - the change is audited with its factor and how many sessions ended.
    """

    def __init__(
        self, *, tokens: TokenGenerator, audit: AuditLog, messages: Messages | None
    ) -> None:
        self._tokens = tokens
        self._audit = audit
        self._messages = messages

    def prepare(
        self,
        current: Authenticated,
        client: Client,
        *,
        notice: MailKind,
        factor_name: str | None = None,
        methods: AuthMethod | None = None,
        with_codes: bool = False,
    ) -> PreparedChange:
        token = self._tokens.session_token()
        message = (
            self._messages.notice(notice, current.user, client, factor=factor_name)
            if self._messages is not None
            else None
        )
        return PreparedChange(
            token=token,
            rotation=Rotation(current.session.id, hash_token(token), methods=methods),
            mail=[message] if message is not None else [],
            recovery_codes=new_recovery_codes() if with_codes else [],
        )

    def record(
        self,
        event: AuditEvent,
        current: Authenticated,
        client: Client,
        prepared: PreparedChange,
        *,
        factor: str,
        revoked_sessions: int,
    ) -> None:
        user_id, session_id = current.user.id, current.session.id
        self._audit.record(
            event,
            user_id=user_id,
            session_id=session_id,
            client=client,
            factor=factor,
            revoked_sessions=revoked_sessions,
        )
        for message in prepared.mail:
            self._audit.record(
                AuditEvent.NOTICE_QUEUED,
                user_id=user_id,
                session_id=session_id,
                client=client,
                kind=message.kind,
            )
