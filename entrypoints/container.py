"""The composition root: builds adapters and use-cases from the settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from dependency_injector import containers, providers

from adapters.argon2_hasher import Argon2PasswordHasher
from adapters.audit_log import LoggingAuditLog
from adapters.memory import InMemoryStore
from adapters.postgres import PostgresStore
from adapters.prometheus_metrics import MeteredAuditLog, PrometheusMetrics
from adapters.system import SecretsTokenGenerator, StaticDeviceKeys, SystemClock
from application import (
    CalibrateDummyVerify,
    ChangePassword,
    ListSessions,
    Login,
    Logout,
    PurgeExpiredSessions,
    ResolveSession,
    RevokeOtherSessions,
    RevokeSession,
    RevokeUserSessions,
    SignUp,
    Throttle,
)
from domain.device import DeviceCookies
from domain.session import SessionPolicy
from domain.throttle import ThrottlePolicy
from domain.user import PasswordPolicy
from entrypoints.settings import Settings


# The store is chosen by overriding `storage` at build time rather than with providers.Selector:
# a Selector would still build (and connect) the Postgres store in memory mode. The store opens
# and closes in the app's lifespan, not as an async Resource, whose dependents would all turn
# awaitable.
class MemoryStorage(containers.DeclarativeContainer):
    store = providers.Singleton(InMemoryStore)
    users = store.provided.users
    sessions = store.provided.sessions
    attempts = store.provided.attempts


def _postgres_store(settings: Settings) -> PostgresStore:
    policy = _session_policy(settings)
    return PostgresStore(
        settings.database_url,
        max_size=settings.database_pool_size,
        connect_timeout=settings.database_timeout,
        command_timeout=settings.database_timeout,
        session_cache_for=policy.touch_interval if settings.session_cache else None,
    )


def _session_policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy.from_seconds(
        settings.session_idle_timeout, settings.session_absolute_timeout
    )


class PostgresStorage(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    store = providers.Singleton(_postgres_store, settings)
    users = store.provided.users
    sessions = store.provided.sessions
    attempts = store.provided.attempts


def _throttle_policy(settings: Settings) -> ThrottlePolicy:
    return ThrottlePolicy(
        window=timedelta(seconds=settings.throttle_window),
        login_per_address=settings.throttle_login_per_address,
        login_per_account=settings.throttle_login_per_account,
        login_per_device=settings.throttle_login_per_device,
        signup_per_address=settings.throttle_signup_per_address,
        failures_per_address=settings.throttle_failures_per_address,
    )


def _device_cookies(settings: Settings, store: InMemoryStore | PostgresStore) -> DeviceCookies:
    # DEVICE_COOKIE_KEY when given; otherwise a key kept in the store, shared by every instance.
    keys = StaticDeviceKeys(settings.device_cookie_keys) if settings.device_cookie_key else store
    return DeviceCookies(keys, timedelta(seconds=settings.device_cookie_ttl))


def _metrics(settings: Settings) -> PrometheusMetrics | None:
    return (
        PrometheusMetrics(settings.prometheus_multiproc_dir) if settings.metrics_enabled else None
    )


def _audit_log(metrics: PrometheusMetrics | None) -> LoggingAuditLog | MeteredAuditLog:
    return LoggingAuditLog() if metrics is None else MeteredAuditLog(LoggingAuditLog(), metrics)


def _queue_depth_observer(metrics: PrometheusMetrics | None) -> Callable[[float], None] | None:
    return None if metrics is None else metrics.hash_queue_depth.set


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    storage = providers.DependenciesContainer()

    clock = providers.Singleton(SystemClock)
    tokens = providers.Singleton(SecretsTokenGenerator)
    metrics = providers.Singleton(_metrics, settings)  # None when METRICS_ENABLED=false
    audit = providers.Singleton(_audit_log, metrics)
    hasher = providers.Singleton(
        Argon2PasswordHasher,
        time_cost=settings.provided.argon2_time_cost,
        memory_cost=settings.provided.argon2_memory_cost,
        parallelism=settings.provided.argon2_parallelism,
        concurrency=settings.provided.hash_concurrency,
        queue_size=settings.provided.hash_queue_size,
        queue_timeout=settings.provided.hash_queue_timeout,
        on_queue_change=providers.Callable(_queue_depth_observer, metrics),
        per_owner=settings.provided.hash_share_per_address,
    )
    session_policy = providers.Singleton(_session_policy, settings)
    password_policy = providers.Singleton(PasswordPolicy)
    throttle_policy = providers.Singleton(_throttle_policy, settings)
    throttle = providers.Singleton(
        Throttle, counter=storage.attempts, clock=clock, policy=throttle_policy
    )
    devices = providers.Singleton(_device_cookies, settings, storage.store)

    sign_up = providers.Singleton(
        SignUp,
        users=storage.users,
        hasher=hasher,
        clock=clock,
        ids=tokens,
        policy=password_policy,
        throttle=throttle,
        audit=audit,
    )
    login = providers.Singleton(
        Login,
        users=storage.users,
        sessions=storage.sessions,
        hasher=hasher,
        clock=clock,
        tokens=tokens,
        policy=session_policy,
        throttle=throttle,
        devices=devices,
        audit=audit,
    )
    resolve_session = providers.Singleton(
        ResolveSession, sessions=storage.sessions, clock=clock, policy=session_policy
    )
    logout = providers.Singleton(Logout, sessions=storage.sessions, audit=audit)
    list_sessions = providers.Singleton(
        ListSessions, sessions=storage.sessions, clock=clock, policy=session_policy
    )
    revoke_session = providers.Singleton(
        RevokeSession, sessions=storage.sessions, listing=list_sessions, audit=audit
    )
    revoke_other_sessions = providers.Singleton(
        RevokeOtherSessions, sessions=storage.sessions, listing=list_sessions, audit=audit
    )
    change_password = providers.Singleton(
        ChangePassword,
        users=storage.users,
        hasher=hasher,
        clock=clock,
        tokens=tokens,
        policy=password_policy,
        throttle=throttle,
        devices=devices,
        audit=audit,
    )
    revoke_user_sessions = providers.Singleton(
        RevokeUserSessions, users=storage.users, sessions=storage.sessions, audit=audit
    )
    calibrate_dummy_verify = providers.Singleton(
        CalibrateDummyVerify, users=storage.users, store=storage.store, hasher=hasher
    )
    purge_expired_sessions = providers.Singleton(
        PurgeExpiredSessions,
        sessions=storage.sessions,
        attempts=storage.attempts,
        clock=clock,
        policy=session_policy,
    )


def build_container(settings: Settings) -> Container:
    container = Container(settings=settings)
    if settings.database_url:
        container.storage.override(PostgresStorage(settings=settings))
    else:
        container.storage.override(MemoryStorage())
    return container
