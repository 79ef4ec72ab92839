"""The composition root: builds adapters and use-cases from the settings."""

from __future__ import annotations

from dependency_injector import containers, providers

from adapters.argon2_hasher import Argon2PasswordHasher
from adapters.memory import InMemoryStore
from adapters.postgres import PostgresStore
from adapters.system import SecretsTokenGenerator, SystemClock
from application import Login, Logout, ResolveSession, SignUp
from domain.session import SessionPolicy
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


class PostgresStorage(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    store = providers.Singleton(
        PostgresStore,
        settings.provided.database_url,
        max_size=settings.provided.database_pool_size,
        connect_timeout=settings.provided.database_timeout,
        command_timeout=settings.provided.database_timeout,
    )
    users = store.provided.users
    sessions = store.provided.sessions


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    storage = providers.DependenciesContainer()

    clock = providers.Singleton(SystemClock)
    tokens = providers.Singleton(SecretsTokenGenerator)
    hasher = providers.Singleton(
        Argon2PasswordHasher,
        time_cost=settings.provided.argon2_time_cost,
        memory_cost=settings.provided.argon2_memory_cost,
        parallelism=settings.provided.argon2_parallelism,
        concurrency=settings.provided.hash_concurrency,
        queue_size=settings.provided.hash_queue_size,
        queue_timeout=settings.provided.hash_queue_timeout,
    )
    session_policy = providers.Singleton(
        SessionPolicy.from_seconds,
        idle=settings.provided.session_idle_timeout,
        absolute=settings.provided.session_absolute_timeout,
    )
    password_policy = providers.Singleton(PasswordPolicy)

    sign_up = providers.Singleton(
        SignUp, users=storage.users, hasher=hasher, clock=clock, ids=tokens, policy=password_policy
    )
    login = providers.Singleton(
        Login,
        users=storage.users,
        sessions=storage.sessions,
        hasher=hasher,
        clock=clock,
        tokens=tokens,
        policy=session_policy,
    )
    resolve_session = providers.Singleton(
        ResolveSession, sessions=storage.sessions, clock=clock, policy=session_policy
    )
    logout = providers.Singleton(Logout, sessions=storage.sessions)


def build_container(settings: Settings) -> Container:
    container = Container(settings=settings)
    if settings.database_url:
        container.storage.override(PostgresStorage(settings=settings))
    else:
        container.storage.override(MemoryStorage())
    return container
