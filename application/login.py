from dataclasses import dataclass, field

from application.mail_messages import Messages
from application.mail_quota import MailQuota
from application.throttle import Throttle
from domain.audit import AuditEvent
from domain.client import Client
from domain.device import DeviceCookies
from domain.errors import HashingOverloaded, InvalidCredentials, PolicyViolation, Throttled
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
    Session,
    SessionPolicy,
    SessionStored,
    hash_token,
    is_well_formed_token,
)
from domain.throttle import address_group
from domain.user import PASSWORD_MAX, User, Username, normalize_password


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User
    session: Session
    token: str = field(repr=False)
    device_cookie: str = field(repr=False)


class Login:
    """Check credentials and open a new session.

    - Throttling reserves an attempt before any hashing: per address across accounts, per
      (account, address) and per account, or only per (account, device) for a client with a
      valid device cookie for the account. Over a limit is Throttled even with the right
      password. A failure keeps its reservation (it is counted); a success clears the counter
      it was judged by and gives back the others; an attempt that gets no verdict (a full
      hashing queue) gives back everything. So a limit holds however many attempts run at once.
    - Hashing is done on behalf of the client address, so that the hasher can keep one address
      from taking all of its capacity.
    - Unknown user, wrong password, a username that breaks the input rules and an over-long
      password all fail alike with InvalidCredentials; the last two without hashing.
    - An unknown user costs a dummy verify at the cost of stored hashes, the same for a name on
      every attempt, so timing does not reveal which usernames exist (CalibrateDummyVerify).
    - Every login issues a new token; a token the client presented is revoked, never reused
      (no session fixation). A device cookie is (re)issued for the account.
    - A hash made with other argon2 parameters than the current ones is replaced; other sessions
      stay (a rehash is not a password change).
    - No database work happens while hashing; a login that raced a password change and verified
      the old password gets no session.
    - A disabled account answers exactly as a wrong password does (after the same verify, with
      the same throttle count), recorded as its own event; a login racing a disable gets no
      session.
    - With a session limit, the account's least recently used sessions end as the new one is
      stored, in one atomic step: never more than the limit exist.
    - A login from a device with no valid device cookie for the account mails a notice to the
      account's verified address (ASVS 6.3.5), unless `notify_new_device` is off, mail is off or
      the account is over its mail quota for the kind (then it is dropped silently). The notice
      is stored with the session, in one transaction: no session, no notice. An account without
      a verified address costs no extra query.
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
        throttle: Throttle,
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
        self._throttle = throttle
        self._devices = devices
        self._audit = audit
        self._session_limit = session_limit
        self._messages = messages
        self._mail_quota = mail_quota
        self._notify_new_device = notify_new_device

    async def execute(
        self,
        *,
        username: str,
        password: str,
        presented_token: str | None = None,
        client: Client = Client(),
    ) -> LoginResult:
        password = normalize_password(password)
        name = _parse_or_none(username)
        canonical = name.canonical if name is not None and len(password) <= PASSWORD_MAX else None
        user = await self._users.get_by_username(canonical) if canonical is not None else None
        device_id = (
            await self._devices.device_for(client.device_cookie, user.id, self._clock.now())
            if user
            else None
        )
        # An attempt that can hash nothing (a broken username, an over-long password) is no guess
        # at any account: it is keyed as unusable, so that made-up names cannot mint counters.
        limits = self._throttle.policy.login_limits(canonical, client.address, device_id)
        try:
            reservation = await self._throttle.reserve(limits)
        except Throttled:
            self._audit.record(
                AuditEvent.THROTTLED,
                action="login",
                user_id=user.id if user else None,
                client=client,
            )
            raise

        owner = address_group(client.address)  # an IPv6 subscriber's /64 is one owner
        try:
            valid = False
            if user is not None:
                valid = await self._hasher.verify(user.password_hash, password, owner=owner)
            elif canonical is not None:
                await self._hasher.verify_dummy(password, username=canonical, owner=owner)
        except BaseException:
            await reservation.cancel()  # no verdict (a full hashing queue, say): not a failure
            raise
        if user is None or not valid:
            self._audit.record(
                AuditEvent.LOGIN_FAILED, user_id=user.id if user else None, client=client
            )
            raise InvalidCredentials()  # the reservation stays: it is this failure's count
        if user.disabled:
            self._audit.record(AuditEvent.LOGIN_DISABLED, user_id=user.id, client=client)
            raise InvalidCredentials()  # as a wrong password: the reservation stays
        await reservation.succeed()
        await self._rehash_if_needed(user, password, client)
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
        )
        stored = await self._store_session(session, user, password, owner, mail)
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

    async def _store_session(
        self,
        session: Session,
        user: User,
        password: str,
        owner: str | None,
        mail: list[MailMessage],
    ) -> SessionStored | None:
        """Store the session, with its mail, only while the verified hash is still the user's
        and the user is not disabled. If the hash moved meanwhile, it was a password change (the
        old password must not log in) or a concurrent login's rehash of the same password: one
        more verify against the stored hash tells."""
        limit = self._session_limit
        stored = await self._sessions.add(
            session, password_hash=user.password_hash, mail=mail, limit=limit
        )
        if stored is not None:
            return stored
        current = await self._users.get(user.id)
        if current is None or current.disabled or current.password_hash == user.password_hash:
            return None
        if not await self._hasher.verify(current.password_hash, password, owner=owner):
            return None
        return await self._sessions.add(
            session, password_hash=current.password_hash, mail=mail, limit=limit
        )

    async def _rehash_if_needed(self, user: User, password: str, client: Client) -> None:
        if not self._hasher.needs_rehash(user.password_hash):
            return
        try:
            new_hash = await self._hasher.hash(password, owner=address_group(client.address))
        except HashingOverloaded:
            return  # the login itself succeeded; the next one will rehash
        await self._users.update_password_hash(user.id, new_hash)
        user.password_hash = new_hash
        self._audit.record(AuditEvent.PASSWORD_REHASHED, user_id=user.id, client=client)


def _parse_or_none(username: str) -> Username | None:
    try:
        return Username.parse(username)
    except PolicyViolation:
        return None
