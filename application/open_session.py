from dataclasses import dataclass, field

from application.mail_messages import Messages
from application.mail_quota import MailQuota
from domain.audit import AuditEvent
from domain.client import Client
from domain.device import DeviceCookies
from domain.errors import InvalidCredentials
from domain.mail import MailKind, MailMessage
from domain.ports import (
    AuditLog,
    Clock,
    PasswordHasher,
    SessionRepository,
    TokenGenerator,
    UserRepository,
)
from domain.session import (
    AuthMethod,
    Session,
    SessionPolicy,
    SessionStored,
    hash_token,
    is_well_formed_token,
)
from domain.throttle import address_group
from domain.user import User


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User
    session: Session
    token: str = field(repr=False)
    device_cookie: str = field(repr=False)


class OpenSession:
    """The end of every successful login (a password, a password and a second factor, a
    passkey): store a new session reached by `methods`, and what goes with it.

    - A new token every time; a token the client presented is revoked, never reused (no session
      fixation). A device cookie is (re)issued for the account.
    - The session is stored only while the user's password hash is still `password_hash` (the
      one the login verified) and the user is not disabled: a login that raced a password change
      or a disable gets no session (InvalidCredentials, audited). When the hash moved and the
      password is known, one more verify tells a password change from a concurrent rehash.
    - With a session limit, the least recently used sessions end as the new one is stored, in
      one atomic step, each audited.
    - A login from a device with no valid device cookie for the account mails a notice to the
      verified address (ASVS 6.3.5), unless `notify_new_device` is off, mail is off or the
      account is over its mail quota for the kind (dropped silently), stored with the session in
      one transaction: no session, no notice.
    """

    def __init__(
        self,
        *,
        users: UserRepository,
        sessions: SessionRepository,
        hasher: PasswordHasher,
        clock: Clock,
        tokens: TokenGenerator,
        policy: SessionPolicy,
        devices: DeviceCookies,
        audit: AuditLog,
        messages: Messages | None,
        mail_quota: MailQuota,
        notify_new_device: bool,
        session_limit: int = 0,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._hasher = hasher
        self._clock = clock
        self._tokens = tokens
        self._policy = policy
        self._devices = devices
        self._audit = audit
        self._messages = messages
        self._mail_quota = mail_quota
        self._notify_new_device = notify_new_device
        self._session_limit = session_limit

    async def execute(
        self,
        user: User,
        *,
        methods: AuthMethod,
        password_hash: str,
        device_id: str | None,
        client: Client,
        presented_token: str | None = None,
        password: str | None = None,
    ) -> LoginResult:
        mail = await self._new_device_notice(user, device_id, client)
        token = self._tokens.session_token()
        now = self._clock.now()
        session = Session(
            id=self._tokens.public_id(),
            user_id=user.id,
            token_hash=hash_token(token),
            created_at=now,
            last_seen_at=now,
            expires_at=self._policy.absolute_deadline(now),
            user_agent=client.user_agent,
            ip=client.address,
            methods=methods,
        )
        stored = await self._store(session, password_hash, password, client, mail)
        if stored is None:
            current = await self._users.get(user.id)
            refused = (
                AuditEvent.LOGIN_DISABLED
                if current is not None and current.disabled
                else AuditEvent.LOGIN_FAILED
            )
            self._audit.record(refused, user_id=user.id, client=client)
            raise InvalidCredentials()
        for evicted in stored.evicted:
            self._audit.record(
                AuditEvent.SESSION_REVOKED,
                user_id=user.id,
                session_id=evicted,
                client=client,
                scope="limit",
            )
        if presented_token is not None and is_well_formed_token(presented_token):
            await self._sessions.revoke(hash_token(presented_token))
        device_cookie = await self._devices.issue(
            user.id, device_id or self._tokens.public_id(), now
        )
        self._audit.record(
            AuditEvent.LOGIN_SUCCEEDED,
            user_id=user.id,
            session_id=session.id,
            client=client,
            new_device=device_id is None,
            aal=session.aal,
            methods=methods.names,
        )
        for message in mail:
            self._audit.record(
                AuditEvent.NOTICE_QUEUED,
                user_id=user.id,
                session_id=session.id,
                client=client,
                kind=message.kind,
            )
        return LoginResult(user=user, session=session, token=token, device_cookie=device_cookie)

    async def _new_device_notice(
        self, user: User, device_id: str | None, client: Client
    ) -> list[MailMessage]:
        """The new-device notice to queue with the session, if one is due. The cheap checks come
        first, so that only a login that will mail pays for the quota's query."""
        if (
            device_id is not None
            or not self._notify_new_device
            or self._messages is None
            or user.verified_email is None
        ):
            return []
        if not await self._mail_quota.take(MailKind.NEW_DEVICE, user.id):
            self._audit.record(
                AuditEvent.NOTICE_DROPPED, user_id=user.id, client=client, kind=MailKind.NEW_DEVICE
            )
            return []
        message = self._messages.notice(MailKind.NEW_DEVICE, user, client)
        return [message] if message is not None else []

    async def _store(
        self,
        session: Session,
        password_hash: str,
        password: str | None,
        client: Client,
        mail: list[MailMessage],
    ) -> SessionStored | None:
        """Store the session, with its mail, only while the verified hash is still the user's
        and the user is not disabled. If the hash moved meanwhile, it was a password change (the
        old password must not log in) or a concurrent login's rehash of the same password: one
        more verify against the stored hash tells, when the password is at hand."""
        limit = self._session_limit
        stored = await self._sessions.add(
            session, password_hash=password_hash, mail=mail, limit=limit
        )
        if stored is not None or password is None:
            return stored
        current = await self._users.get(session.user_id)
        if current is None or current.disabled or current.password_hash == password_hash:
            return None
        owner = address_group(client.address)
        if not await self._hasher.verify(current.password_hash, password, owner=owner):
            return None
        return await self._sessions.add(
            session, password_hash=current.password_hash, mail=mail, limit=limit
        )
