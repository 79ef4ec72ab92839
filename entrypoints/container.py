"""The composition root: builds adapters and use-cases from the settings."""

from __future__ import annotations

from datetime import timedelta
from operator import attrgetter

from dependency_injector import containers, providers

from adapters.argon2_hasher import Argon2PasswordHasher
from adapters.audit_log import LoggingAuditLog
from adapters.email_addresses import EmailValidatorAddresses
from adapters.mail_composer import TemplateMailComposer
from adapters.prometheus_metrics import MeteredAuditLog, PrometheusMetrics
from adapters.secret_box import AesGcmSecretBox
from adapters.system import SecretsTokenGenerator, StaticDeviceKeys, SystemClock
from adapters.totp import PyotpOneTimePasswords
from adapters.user_agents import UaParserUserAgents
from adapters.webauthn_rp import PyWebAuthnRelyingParty
from application import build_use_cases
from application.deliver_mail import DeliverMail
from domain.account_policy import AccountPolicy
from domain.device import DeviceCookies
from domain.mail import DeliveryPolicy
from domain.ports import AuditLog, Clock, Mailer, Store, WebAuthnRelyingParty
from domain.throttle import ThrottlePolicy
from domain.user import PasswordPolicy
from entrypoints.mail_sender import MailSender
from entrypoints.mailers import build_mailer
from entrypoints.readiness import Readiness
from entrypoints.settings import Settings
from entrypoints.stores import build_store
from entrypoints.version import installed_version


def _throttle_policy(settings: Settings) -> ThrottlePolicy:
    return ThrottlePolicy(
        window=timedelta(seconds=settings.throttle_window),
        login_per_address=settings.throttle_login_per_address,
        login_per_account=settings.throttle_login_per_account,
        login_per_device=settings.throttle_login_per_device,
        signup_per_address=settings.throttle_signup_per_address,
        failures_per_address=settings.throttle_failures_per_address,
        reset_per_address=settings.throttle_reset_per_address,
    )


def _device_cookies(settings: Settings, store: Store) -> DeviceCookies:
    # DEVICE_COOKIE_KEY when given; otherwise a key kept in the store, shared by every instance.
    keys = StaticDeviceKeys(settings.device_cookie_keys) if settings.device_cookie_key else store
    return DeviceCookies(keys, timedelta(seconds=settings.device_cookie_ttl))


def _metrics(settings: Settings) -> PrometheusMetrics | None:
    return (
        PrometheusMetrics(settings.prometheus_multiproc_dir, version=installed_version())
        if settings.metrics_enabled
        else None
    )


def _audit_log(metrics: PrometheusMetrics | None) -> LoggingAuditLog | MeteredAuditLog:
    return LoggingAuditLog() if metrics is None else MeteredAuditLog(LoggingAuditLog(), metrics)


def _hasher(settings: Settings, metrics: PrometheusMetrics | None) -> Argon2PasswordHasher:
    hasher = Argon2PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost,
        parallelism=settings.argon2_parallelism,
        concurrency=settings.hash_concurrency,
        queue_size=settings.hash_queue_size,
        queue_timeout=settings.hash_queue_timeout,
        on_queue_change=None if metrics is None else metrics.hash_queue_depth.set,
        per_owner=settings.hash_share_per_address,
    )
    if metrics is not None:
        metrics.watch_hashing(hasher)
    return hasher


def _account_policy(settings: Settings) -> AccountPolicy:
    return AccountPolicy(
        email_verify_ttl=timedelta(seconds=settings.email_verify_ttl),
        password_reset_ttl=timedelta(seconds=settings.password_reset_ttl),
        mail_per_account=settings.mail_per_account,
        notify_new_device=settings.notify_new_device,
        session_limit=settings.session_limit_per_user,
        mfa_pending_ttl=timedelta(seconds=settings.mfa_pending_ttl),
        totp_issuer=settings.product_name,
    )


def _mail_composer(settings: Settings) -> TemplateMailComposer | None:
    # Mail off (MAIL_URL unset): nothing to compose. Settings require PUBLIC_URL when it is on.
    if settings.mail_url is None or settings.public_url is None:
        return None
    return TemplateMailComposer(product_name=settings.product_name, public_url=settings.public_url)


def _delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        first_retry=timedelta(seconds=settings.mail_retry_delay),
        give_up_after=timedelta(seconds=settings.mail_give_up_after),
    )


def _mail_sender(
    settings: Settings,
    store: Store,
    mailer: Mailer | None,
    clock: Clock,
    audit: AuditLog,
    policy: DeliveryPolicy,
    metrics: PrometheusMetrics | None,
) -> MailSender | None:
    # Mail off: nothing to send, and no outbox gauges either.
    if mailer is None:
        return None
    deliver = DeliverMail(
        outbox=store.outbox, mailer=mailer, clock=clock, audit=audit, policy=policy
    )
    sender = MailSender(deliver, store.outbox, clock, batch=policy.batch)
    if metrics is not None:
        metrics.watch_outbox(sender)
    return sender


def _relying_party(settings: Settings) -> WebAuthnRelyingParty | None:
    rp_id = settings.relying_party_id
    if rp_id is None:
        return None
    return PyWebAuthnRelyingParty(
        rp_id=rp_id,
        rp_name=settings.relying_party_name,
        origins=sorted(settings.relying_party_origins),
    )


def _secret_box(settings: Settings, store: Store) -> AesGcmSecretBox:
    # SECRETS_KEY, or the key the store keeps (lifecycle warns at start that it is in use).
    key = settings.secrets_key_bytes
    return AesGcmSecretBox(key if key is not None else store.sealing_key)


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    metrics = providers.Singleton(_metrics, settings)  # None when METRICS_ENABLED=false
    # Built from DATABASE_URL's row in entrypoints.stores; a Singleton so that only the chosen
    # store is ever built (and connects). Tests override it with a store of their own.
    store = providers.Singleton(build_store, settings, metrics)
    # What /readyz answers: one per container, shared by the app that serves it and whatever
    # runs the store (an embedding application's lifespan, for one, runs outside that app).
    readiness = providers.Singleton(Readiness)

    clock = providers.Singleton(SystemClock)
    tokens = providers.Singleton(SecretsTokenGenerator)
    audit = providers.Singleton(_audit_log, metrics)
    hasher = providers.Singleton(_hasher, settings, metrics)
    session_policy = providers.Singleton(attrgetter("session_policy"), settings)
    password_policy = providers.Singleton(PasswordPolicy)
    throttle_policy = providers.Singleton(_throttle_policy, settings)
    devices = providers.Singleton(_device_cookies, settings, store)
    email_addresses = providers.Singleton(EmailValidatorAddresses)
    user_agents = providers.Singleton(UaParserUserAgents)
    mail_composer = providers.Singleton(_mail_composer, settings)  # None when mail is off
    account_policy = providers.Singleton(_account_policy, settings)
    mailer = providers.Singleton(build_mailer, settings)  # None when mail is off
    one_time_passwords = providers.Singleton(PyotpOneTimePasswords)
    secret_box = providers.Singleton(_secret_box, settings, store)
    relying_party = providers.Singleton(_relying_party, settings)  # None: WebAuthn off
    delivery_policy = providers.Singleton(_delivery_policy, settings)
    # The outbox's background sender (entrypoints/lifecycle.py runs it); None when mail is off.
    mail_sender = providers.Singleton(
        _mail_sender, settings, store, mailer, clock, audit, delivery_policy, metrics
    )

    use_cases = providers.Singleton(
        build_use_cases,
        store=store,
        hasher=hasher,
        clock=clock,
        tokens=tokens,
        audit=audit,
        devices=devices,
        session_policy=session_policy,
        password_policy=password_policy,
        throttle_policy=throttle_policy,
        email_addresses=email_addresses,
        user_agents=user_agents,
        composer=mail_composer,
        account_policy=account_policy,
        otp=one_time_passwords,
        box=secret_box,
        relying_party=relying_party,
    )
    # Each use-case by name as well (`container.login()`), as the HTTP layer and embedders ask: a
    # Singleton each, so that a call (one per request on the hot GETs) is the provider's cached
    # C-level lookup, not a `.provided` attribute chain evaluated every time.
    sign_up = providers.Singleton(attrgetter("sign_up"), use_cases)
    login = providers.Singleton(attrgetter("login"), use_cases)
    resolve_session = providers.Singleton(attrgetter("resolve_session"), use_cases)
    logout = providers.Singleton(attrgetter("logout"), use_cases)
    list_sessions = providers.Singleton(attrgetter("list_sessions"), use_cases)
    revoke_session = providers.Singleton(attrgetter("revoke_session"), use_cases)
    revoke_other_sessions = providers.Singleton(attrgetter("revoke_other_sessions"), use_cases)
    change_password = providers.Singleton(attrgetter("change_password"), use_cases)
    revoke_user_sessions = providers.Singleton(attrgetter("revoke_user_sessions"), use_cases)
    calibrate_dummy_verify = providers.Singleton(attrgetter("calibrate_dummy_verify"), use_cases)
    purge_expired_sessions = providers.Singleton(attrgetter("purge_expired_sessions"), use_cases)
    # None when mail is off.
    set_email = providers.Singleton(attrgetter("set_email"), use_cases)
    verify_email = providers.Singleton(attrgetter("verify_email"), use_cases)
    resend_verification = providers.Singleton(attrgetter("resend_verification"), use_cases)
    forgot_password = providers.Singleton(attrgetter("forgot_password"), use_cases)
    reset_password = providers.Singleton(attrgetter("reset_password"), use_cases)
    disable_user = providers.Singleton(attrgetter("disable_user"), use_cases)
    reset_factors = providers.Singleton(attrgetter("reset_factors"), use_cases)
    # Security keys and passkeys: None when WebAuthn is off.
    webauthn_registration_options = providers.Singleton(
        attrgetter("webauthn_registration_options"), use_cases
    )
    register_credential = providers.Singleton(attrgetter("register_credential"), use_cases)
    remove_credential = providers.Singleton(attrgetter("remove_credential"), use_cases)
    passkey_login_options = providers.Singleton(attrgetter("passkey_login_options"), use_cases)
    passkey_login = providers.Singleton(attrgetter("passkey_login"), use_cases)
    mfa_webauthn_options = providers.Singleton(attrgetter("mfa_webauthn_options"), use_cases)
    reauth_webauthn_options = providers.Singleton(attrgetter("reauth_webauthn_options"), use_cases)
    enable_user = providers.Singleton(attrgetter("enable_user"), use_cases)
    delete_user = providers.Singleton(attrgetter("delete_user"), use_cases)
    delete_account = providers.Singleton(attrgetter("delete_account"), use_cases)
    reauthenticate = providers.Singleton(attrgetter("reauthenticate"), use_cases)
    login_mfa = providers.Singleton(attrgetter("login_mfa"), use_cases)
    show_factors = providers.Singleton(attrgetter("show_factors"), use_cases)
    start_totp = providers.Singleton(attrgetter("start_totp"), use_cases)
    confirm_totp = providers.Singleton(attrgetter("confirm_totp"), use_cases)
    remove_totp = providers.Singleton(attrgetter("remove_totp"), use_cases)
    renew_recovery_codes = providers.Singleton(attrgetter("renew_recovery_codes"), use_cases)
    revoke_all_sessions = providers.Singleton(attrgetter("revoke_all_sessions"), use_cases)


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)
