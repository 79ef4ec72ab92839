from application.mail_messages import Messages
from application.reauthenticate import Reauthenticate
from application.resolve_session import Authenticated
from domain.audit import AuditEvent
from domain.client import Client
from domain.factors import FactorProof, Reauth
from domain.mail import MailKind
from domain.ports import AuditLog, PasswordHasher, TokenGenerator, UserRepository
from domain.session import hash_token
from domain.throttle import address_group
from domain.user import PasswordPolicy


class ChangePassword:
    """Change the caller's password.

    - The current password must be given (Reauthenticate: a wrong one is WrongPassword and
      counts as a failed login for the account, under the same throttle as Login), and a second
      factor when the account has one (`proof`).
    - The new password must satisfy the password policy; a refused one is no verdict on the
      current password.
    - The change, the end of every other session of the user and a new token for the current
      session happen together or not at all: ending sessions is tied to the change itself, never
      derived from the stored hash (a rehash logs nobody out).
    - A notice goes to the account's verified address (ASVS 6.3.7), queued in that same
      transaction. It is never dropped by the mail quota: the owner must learn of every change,
      and changes are already bounded by the login throttle and the current password.
    Returns the current session's new token.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        hasher: PasswordHasher,
        confirm: Reauthenticate,
        tokens: TokenGenerator,
        policy: PasswordPolicy,
        audit: AuditLog,
        messages: Messages | None,
    ) -> None:
        self._users = users
        self._hasher = hasher
        self._confirm = confirm
        self._tokens = tokens
        self._policy = policy
        self._audit = audit
        self._messages = messages

    async def execute(
        self,
        *,
        current: Authenticated,
        current_password: str,
        new_password: str,
        client: Client = Client(),
        proof: FactorProof = FactorProof(),
    ) -> str:
        user = current.user
        await self._confirm.check(
            current,
            Reauth(current_password, proof),
            client,
            action="password_change",
            validate=lambda: self._policy.check(new_password, field="new_password"),
        )
        new = self._policy.check(new_password, field="new_password")

        new_hash = await self._hasher.hash(new, owner=address_group(client.address))
        token = self._tokens.session_token()
        notice = (
            self._messages.notice(MailKind.PASSWORD_CHANGED, user, client)
            if self._messages is not None
            else None
        )
        revoked = await self._users.change_password(
            user.id,
            new_hash,
            keep_session_id=current.session.id,
            new_token_hash=hash_token(token),
            mail=[notice] if notice is not None else [],
        )
        self._audit.record(
            AuditEvent.PASSWORD_CHANGED,
            user_id=user.id,
            session_id=current.session.id,
            client=client,
            revoked_sessions=revoked,
        )
        if notice is not None:
            self._audit.record(
                AuditEvent.NOTICE_QUEUED,
                user_id=user.id,
                session_id=current.session.id,
                client=client,
                kind=notice.kind,
            )
        return token
