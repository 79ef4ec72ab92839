"""Every use-case, wired in one place from the ports and the policies.

The service's container, the tests and the examples all call `build_use_cases`, so a use-case
that needs another port is changed here and in its own module, not at each place that builds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from application.calibrate_dummy_verify import CalibrateDummyVerify
from application.change_password import ChangePassword
from application.confirm_totp import ConfirmTotp
from application.delete_account import DeleteAccount
from application.delete_user import DeleteUser
from application.disable_user import DisableUser
from application.enable_user import EnableUser
from application.factor_change import FactorChange
from application.forgot_password import ForgotPassword
from application.list_sessions import ListSessions
from application.login import Login
from application.login_mfa import LoginMfa
from application.logout import Logout
from application.mail_messages import Messages
from application.mail_quota import MailQuota
from application.open_session import OpenSession
from application.purge_expired_sessions import PurgeExpiredSessions
from application.reauthenticate import Reauthenticate
from application.remove_totp import RemoveTotp
from application.renew_recovery_codes import RenewRecoveryCodes
from application.resend_verification import ResendVerification
from application.reset_factors import ResetFactors
from application.reset_password import ResetPassword
from application.resolve_session import ResolveSession
from application.revoke_all_sessions import RevokeAllSessions
from application.revoke_other_sessions import RevokeOtherSessions
from application.revoke_session import RevokeSession
from application.revoke_user_sessions import RevokeUserSessions
from application.second_factor import SecondFactor
from application.set_email import SetEmail
from application.show_factors import ShowFactors
from application.sign_up import SignUp
from application.start_totp import StartTotp
from application.throttle import Throttle
from application.verify_email import VerifyEmail
from application.webauthn_credentials import (
    RegisterCredential,
    RemoveCredential,
    WebAuthnRegistrationOptions,
)
from application.webauthn_sign_in import (
    MfaWebAuthnOptions,
    PasskeyLogin,
    PasskeyLoginOptions,
    ReauthWebAuthnOptions,
)
from domain.account_policy import AccountPolicy
from domain.device import DeviceCookies
from domain.ports import (
    AuditLog,
    Clock,
    EmailAddresses,
    MailComposer,
    OneTimePasswords,
    PasswordHasher,
    SecretBox,
    Store,
    TokenGenerator,
    UserAgents,
    WebAuthnRelyingParty,
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
    reset_factors: ResetFactors
    enable_user: EnableUser
    delete_user: DeleteUser
    delete_account: DeleteAccount
    revoke_all_sessions: RevokeAllSessions
    messages: Messages | None  # how every use-case that mails builds its messages; None: off
    second_factor: SecondFactor  # how every place that takes a second factor checks it
    reauthenticate: Reauthenticate  # how every sensitive change confirms who asks
    login_mfa: LoginMfa
    show_factors: ShowFactors
    start_totp: StartTotp
    confirm_totp: ConfirmTotp
    remove_totp: RemoveTotp
    renew_recovery_codes: RenewRecoveryCodes
    # Email addresses and recovery: None when mail is off (the HTTP API then has no such routes).
    set_email: SetEmail | None = None
    verify_email: VerifyEmail | None = None
    resend_verification: ResendVerification | None = None
    forgot_password: ForgotPassword | None = None
    reset_password: ResetPassword | None = None
    # Security keys and passkeys: None when WebAuthn is off (no relying party).
    webauthn_registration_options: WebAuthnRegistrationOptions | None = None
    register_credential: RegisterCredential | None = None
    remove_credential: RemoveCredential | None = None
    passkey_login_options: PasskeyLoginOptions | None = None
    passkey_login: PasskeyLogin | None = None
    mfa_webauthn_options: MfaWebAuthnOptions | None = None
    reauth_webauthn_options: ReauthWebAuthnOptions | None = None


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
    otp: OneTimePasswords,
    box: SecretBox,
    composer: MailComposer | None = None,
    account_policy: AccountPolicy = AccountPolicy(),
    relying_party: WebAuthnRelyingParty | None = None,
) -> UseCases:
    """The use-cases over `store`'s repositories (a port the store provides needs no new
    argument here) and the other ports given. `composer` None: mail is off; `relying_party`
    None: WebAuthn is off."""
    users, sessions = store.users, store.sessions
    throttle = Throttle(counter=store.attempts, clock=clock, policy=throttle_policy)
    mail_quota = MailQuota(
        counter=store.attempts,
        clock=clock,
        per_account=account_policy.mail_per_account,
        window=throttle_policy.window,
    )
    messages = (
        None
        if composer is None
        else Messages(composer=composer, tokens=tokens, clock=clock, user_agents=user_agents)
    )
    # How every place that takes a second factor checks it.
    second_factor = SecondFactor(
        factors=store.factors,
        otp=otp,
        box=box,
        relying_party=relying_party,
        clock=clock,
        audit=audit,
    )
    # How a signed-in user confirms a sensitive change: shared, so that each confirms alike.
    confirm = Reauthenticate(
        hasher=hasher,
        clock=clock,
        throttle=throttle,
        devices=devices,
        audit=audit,
        factors=store.factors,
        challenges=store.challenges,
        second_factor=second_factor,
    )
    factor_change = FactorChange(tokens=tokens, audit=audit, messages=messages)
    # How every login ends (a password, a second step, a passkey): one place opens sessions.
    open_session = OpenSession(
        users=users,
        sessions=sessions,
        hasher=hasher,
        clock=clock,
        tokens=tokens,
        policy=session_policy,
        devices=devices,
        audit=audit,
        messages=messages,
        mail_quota=mail_quota,
        notify_new_device=account_policy.notify_new_device,
        session_limit=account_policy.session_limit,
    )
    list_sessions = ListSessions(
        sessions=sessions, clock=clock, policy=session_policy, user_agents=user_agents
    )
    recovery = _recovery(
        store=store,
        hasher=hasher,
        clock=clock,
        tokens=tokens,
        audit=audit,
        confirm=confirm,
        password_policy=password_policy,
        email_addresses=email_addresses,
        messages=messages,
        account_policy=account_policy,
        throttle=throttle,
        mail_quota=mail_quota,
        devices=devices,
        second_factor=second_factor,
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
            emails=email_addresses,
            mail=messages,
            mail_quota=mail_quota,
            verify_ttl=account_policy.email_verify_ttl,
        ),
        login=Login(
            users=users,
            hasher=hasher,
            clock=clock,
            throttle=throttle,
            devices=devices,
            audit=audit,
            open_session=open_session,
            factors=store.factors,
            challenges=store.challenges,
            tokens=tokens,
            mfa_pending_ttl=account_policy.mfa_pending_ttl,
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
            confirm=confirm,
            tokens=tokens,
            policy=password_policy,
            audit=audit,
            messages=messages,
        ),
        revoke_user_sessions=RevokeUserSessions(users=users, sessions=sessions, audit=audit),
        calibrate_dummy_verify=CalibrateDummyVerify(users=users, store=store, hasher=hasher),
        purge_expired_sessions=PurgeExpiredSessions(
            sessions=sessions,
            attempts=store.attempts,
            tokens=store.tokens,
            challenges=store.challenges,
            clock=clock,
            policy=session_policy,
        ),
        throttle=throttle,
        mail_quota=mail_quota,
        disable_user=DisableUser(users=users, audit=audit),
        reset_factors=ResetFactors(
            users=users, factors=store.factors, messages=messages, audit=audit
        ),
        enable_user=EnableUser(users=users, audit=audit),
        delete_user=DeleteUser(users=users, audit=audit),
        delete_account=DeleteAccount(users=users, confirm=confirm, audit=audit),
        revoke_all_sessions=RevokeAllSessions(sessions=sessions, audit=audit),
        messages=messages,
        second_factor=second_factor,
        reauthenticate=confirm,
        login_mfa=LoginMfa(
            users=users,
            challenges=store.challenges,
            second_factor=second_factor,
            clock=clock,
            throttle=throttle,
            devices=devices,
            audit=audit,
            open_session=open_session,
        ),
        show_factors=ShowFactors(factors=store.factors),
        start_totp=StartTotp(
            factors=store.factors,
            reauthenticate=confirm,
            otp=otp,
            box=box,
            clock=clock,
            issuer=account_policy.totp_issuer,
        ),
        confirm_totp=ConfirmTotp(
            factors=store.factors, otp=otp, box=box, clock=clock, change=factor_change
        ),
        remove_totp=RemoveTotp(factors=store.factors, reauthenticate=confirm, change=factor_change),
        renew_recovery_codes=RenewRecoveryCodes(
            factors=store.factors, reauthenticate=confirm, change=factor_change
        ),
        **recovery,
        **_webauthn(
            store=store,
            relying_party=relying_party,
            reauthenticate=confirm,
            change=factor_change,
            second_factor=second_factor,
            open_session=open_session,
            throttle=throttle,
            devices=devices,
            tokens=tokens,
            clock=clock,
            audit=audit,
            ttl_seconds=int(account_policy.mfa_pending_ttl.total_seconds()),
        ),
    )


class _WebAuthn(TypedDict, total=False):
    webauthn_registration_options: WebAuthnRegistrationOptions
    register_credential: RegisterCredential
    remove_credential: RemoveCredential
    passkey_login_options: PasskeyLoginOptions
    passkey_login: PasskeyLogin
    mfa_webauthn_options: MfaWebAuthnOptions
    reauth_webauthn_options: ReauthWebAuthnOptions


def _webauthn(
    *,
    store: Store,
    relying_party: WebAuthnRelyingParty | None,
    reauthenticate: Reauthenticate,
    change: FactorChange,
    second_factor: SecondFactor,
    open_session: OpenSession,
    throttle: Throttle,
    devices: DeviceCookies,
    tokens: TokenGenerator,
    clock: Clock,
    audit: AuditLog,
    ttl_seconds: int,
) -> _WebAuthn:
    """The security-key and passkey use-cases, when there is a relying party."""
    if relying_party is None:
        return {}
    factors, challenges = store.factors, store.challenges
    return {
        "webauthn_registration_options": WebAuthnRegistrationOptions(
            factors=factors,
            challenges=challenges,
            relying_party=relying_party,
            reauthenticate=reauthenticate,
            clock=clock,
            ttl_seconds=ttl_seconds,
        ),
        "register_credential": RegisterCredential(
            factors=factors,
            challenges=challenges,
            relying_party=relying_party,
            change=change,
            tokens=tokens,
            clock=clock,
            audit=audit,
        ),
        "remove_credential": RemoveCredential(
            factors=factors, reauthenticate=reauthenticate, change=change
        ),
        "passkey_login_options": PasskeyLoginOptions(
            challenges=challenges,
            relying_party=relying_party,
            throttle=throttle,
            tokens=tokens,
            clock=clock,
            audit=audit,
            ttl_seconds=ttl_seconds,
        ),
        "passkey_login": PasskeyLogin(
            users=store.users,
            challenges=challenges,
            second_factor=second_factor,
            throttle=throttle,
            devices=devices,
            open_session=open_session,
            clock=clock,
            audit=audit,
        ),
        "mfa_webauthn_options": MfaWebAuthnOptions(
            factors=factors, challenges=challenges, relying_party=relying_party, clock=clock
        ),
        "reauth_webauthn_options": ReauthWebAuthnOptions(
            factors=factors,
            challenges=challenges,
            relying_party=relying_party,
            clock=clock,
            ttl_seconds=ttl_seconds,
        ),
    }


class _Recovery(TypedDict, total=False):
    set_email: SetEmail
    verify_email: VerifyEmail
    resend_verification: ResendVerification
    forgot_password: ForgotPassword
    reset_password: ResetPassword


def _recovery(
    *,
    store: Store,
    hasher: PasswordHasher,
    clock: Clock,
    tokens: TokenGenerator,
    audit: AuditLog,
    confirm: Reauthenticate,
    password_policy: PasswordPolicy,
    email_addresses: EmailAddresses,
    messages: Messages | None,
    account_policy: AccountPolicy,
    throttle: Throttle,
    mail_quota: MailQuota,
    devices: DeviceCookies,
    second_factor: SecondFactor,
) -> _Recovery:
    """The use-cases that mail links (email verification, password reset), when mail is on."""
    mail = messages
    if mail is None:
        return {}
    users = store.users
    return {
        "set_email": SetEmail(
            users=users,
            confirm=confirm,
            clock=clock,
            tokens=tokens,
            emails=email_addresses,
            mail=mail,
            mail_quota=mail_quota,
            verify_ttl=account_policy.email_verify_ttl,
            audit=audit,
        ),
        "verify_email": VerifyEmail(users=users, tokens=store.tokens, clock=clock, audit=audit),
        "resend_verification": ResendVerification(
            users=users,
            tokens=store.tokens,
            clock=clock,
            ids=tokens,
            mail=mail,
            mail_quota=mail_quota,
            verify_ttl=account_policy.email_verify_ttl,
            audit=audit,
        ),
        "forgot_password": ForgotPassword(
            users=users,
            tokens=store.tokens,
            clock=clock,
            ids=tokens,
            emails=email_addresses,
            throttle=throttle,
            mail=mail,
            mail_quota=mail_quota,
            reset_ttl=account_policy.password_reset_ttl,
            audit=audit,
        ),
        "reset_password": ResetPassword(
            users=users,
            tokens=store.tokens,
            hasher=hasher,
            clock=clock,
            policy=password_policy,
            mail=mail,
            audit=audit,
            factors=store.factors,
            second_factor=second_factor,
            throttle=throttle,
            devices=devices,
        ),
    }
