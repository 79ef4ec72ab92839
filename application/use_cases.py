"""Every use-case, wired in one place from the ports and the policies.

The service's container, the tests and the examples all call `build_use_cases`, so a use-case
that needs another port is changed here and in its own module, not at each place that builds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.calibrate_dummy_verify import CalibrateDummyVerify
from application.change_password import ChangePassword
from application.delete_account import DeleteAccount
from application.delete_user import DeleteUser
from application.disable_user import DisableUser
from application.enable_user import EnableUser
from application.list_sessions import ListSessions
from application.login import Login
from application.logout import Logout
from application.mail_messages import Messages
from application.mail_quota import MailQuota
from application.purge_expired_sessions import PurgeExpiredSessions
from application.resolve_session import ResolveSession
from application.revoke_all_sessions import RevokeAllSessions
from application.revoke_other_sessions import RevokeOtherSessions
from application.revoke_session import RevokeSession
from application.revoke_user_sessions import RevokeUserSessions
from application.sign_up import SignUp
from application.throttle import Throttle
from domain.account_policy import AccountPolicy
from domain.device import DeviceCookies
from domain.ports import (
    AuditLog,
    Clock,
    EmailAddresses,
    MailComposer,
    PasswordHasher,
    Store,
    TokenGenerator,
    UserAgents,
)
from domain.session import SessionPolicy
from domain.throttle import ThrottlePolicy
from domain.user import PasswordPolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class UseCases:
    sign_up: SignUp
    login: Login
    resolve_session: ResolveSession
    logout: Logout
    list_sessions: ListSessions
    revoke_session: RevokeSession
    revoke_other_sessions: RevokeOtherSessions
    change_password: ChangePassword
    revoke_user_sessions: RevokeUserSessions
    calibrate_dummy_verify: CalibrateDummyVerify
    purge_expired_sessions: PurgeExpiredSessions
    throttle: Throttle  # shared by sign_up, login and change_password: one set of counters
    mail_quota: MailQuota  # shared by every use-case that mails an account
    disable_user: DisableUser
    enable_user: EnableUser
    delete_user: DeleteUser
    delete_account: DeleteAccount
    revoke_all_sessions: RevokeAllSessions
    messages: Messages  # how every use-case that mails builds its messages


def build_use_cases(
    *,
    store: Store,
    hasher: PasswordHasher,
    clock: Clock,
    tokens: TokenGenerator,
    audit: AuditLog,
    devices: DeviceCookies,
    session_policy: SessionPolicy,
    password_policy: PasswordPolicy,
    throttle_policy: ThrottlePolicy,
    email_addresses: EmailAddresses,
    user_agents: UserAgents,
    composer: MailComposer | None = None,
    account_policy: AccountPolicy = AccountPolicy(),
) -> UseCases:
    """The use-cases over `store`'s repositories (a port the store provides needs no new
    argument here) and the other ports given. `composer` None: mail is off."""
    users, sessions = store.users, store.sessions
    throttle = Throttle(counter=store.attempts, clock=clock, policy=throttle_policy)
    mail_quota = MailQuota(
        counter=store.attempts,
        clock=clock,
        per_account=account_policy.mail_per_account,
        window=throttle_policy.window,
    )
    messages = Messages(composer=composer, tokens=tokens, clock=clock, user_agents=user_agents)
    list_sessions = ListSessions(
        sessions=sessions, clock=clock, policy=session_policy, user_agents=user_agents
    )
    return UseCases(
        sign_up=SignUp(
            users=users,
            hasher=hasher,
            clock=clock,
            ids=tokens,
            policy=password_policy,
            throttle=throttle,
            audit=audit,
        ),
        login=Login(
            users=users,
            sessions=sessions,
            hasher=hasher,
            clock=clock,
            tokens=tokens,
            policy=session_policy,
            throttle=throttle,
            devices=devices,
            audit=audit,
            session_limit=account_policy.session_limit,
            messages=messages,
            mail_quota=mail_quota,
            notify_new_device=account_policy.notify_new_device,
        ),
        resolve_session=ResolveSession(sessions=sessions, clock=clock, policy=session_policy),
        logout=Logout(sessions=sessions, audit=audit),
        list_sessions=list_sessions,
        revoke_session=RevokeSession(sessions=sessions, listing=list_sessions, audit=audit),
        revoke_other_sessions=RevokeOtherSessions(
            sessions=sessions, listing=list_sessions, audit=audit
        ),
        change_password=ChangePassword(
            users=users,
            hasher=hasher,
            clock=clock,
            tokens=tokens,
            policy=password_policy,
            throttle=throttle,
            devices=devices,
            audit=audit,
            messages=messages,
        ),
        revoke_user_sessions=RevokeUserSessions(users=users, sessions=sessions, audit=audit),
        calibrate_dummy_verify=CalibrateDummyVerify(users=users, store=store, hasher=hasher),
        purge_expired_sessions=PurgeExpiredSessions(
            sessions=sessions, attempts=store.attempts, clock=clock, policy=session_policy
        ),
        throttle=throttle,
        mail_quota=mail_quota,
        disable_user=DisableUser(users=users, audit=audit),
        enable_user=EnableUser(users=users, audit=audit),
        delete_user=DeleteUser(users=users, audit=audit),
        delete_account=DeleteAccount(
            users=users,
            hasher=hasher,
            clock=clock,
            throttle=throttle,
            devices=devices,
            audit=audit,
        ),
        revoke_all_sessions=RevokeAllSessions(sessions=sessions, audit=audit),
        messages=messages,
    )
