"""`sessionauth serve|migrate [--status]|purge-expired|revoke-sessions [--all]|disable-user|enable-user|delete-user|reset-factors`,
`sessionauth --version`. Exit 0 on success, 1 on a run-time failure, 2 on a usage or configuration
error."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import platform
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from domain.errors import (
    MigrationChanged,
    PurgeInProgress,
    StoreMisconfigured,
    StoreUnavailable,
    UnknownUser,
)
from domain.ports import Store
from domain.schema import MigrationState
from entrypoints.bring_up import warn_of_unknown_migrations
from entrypoints.container import Container, build_container
from entrypoints.logging_setup import logging_config
from entrypoints.serve_stop import StopFile, stop_file
from entrypoints.server import ServerConfig, serve
from entrypoints.settings import (
    ConfigError,
    Settings,
    core_limit,
    load_settings,
    refuse_unknown_variables,
)
from entrypoints.stores import build_store
from entrypoints.version import installed_version

log = logging.getLogger("sessionauth")

# Seconds `serve` gives the store to answer before it opens its port: a server that answers
# refuses a wrong password or database in milliseconds, and one that does not is left to the
# workers, which serve meanwhile.
FIRST_LOOK = 1.0


class CommandError(Exception):
    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sessionauth", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    migrate = commands.add_parser("migrate", help="apply pending schema migrations and exit")
    migrate.add_argument(
        "--status",
        action="store_true",
        help="apply nothing: print each migration as applied, pending, unknown or changed; "
        "exit 1 when the database holds an unknown or changed one",
    )
    commands.add_parser("purge-expired", help="delete expired and revoked sessions")
    revoke = commands.add_parser(
        "revoke-sessions", help="revoke every session of a user, or of every user with --all"
    )
    whose = revoke.add_mutually_exclusive_group(required=True)
    whose.add_argument("username", nargs="?")
    whose.add_argument("--all", action="store_true", help="every session of every user")
    for name, (does, _) in ACCOUNT_COMMANDS.items():
        commands.add_parser(name, help=does).add_argument("username")
    args = parser.parse_args(argv)
    if args.command == "serve" and argv is None:
        _with_transparent_huge_pages()

    try:
        refuse_unknown_variables(os.environ)
        settings = load_settings()
        logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))
        if args.command == "serve":
            return _serve(settings, args.host, args.port, args.workers)
        if args.command == "migrate" and args.status:
            return asyncio.run(_migration_status(_shared(build_store(settings))))
        if args.command == "migrate":
            return asyncio.run(_migrate(_shared(build_store(settings))))
        if args.command == "purge-expired":
            return asyncio.run(_with_store(settings, _purge_expired))
        if args.command in ACCOUNT_COMMANDS:
            command = ACCOUNT_COMMANDS[args.command][1]
            return asyncio.run(_with_store(settings, command, args.username))
        if args.all:
            return asyncio.run(_with_store(settings, _revoke_all_sessions))
        return asyncio.run(_with_store(settings, _revoke_sessions, args.username))
    except ConfigError as error:
        print(f"sessionauth: configuration error: {error}", file=sys.stderr)
        return 2
    except CommandError as error:
        print(f"sessionauth: {error}", file=sys.stderr)
        return error.status


HUGE_PAGES = "glibc.malloc.hugetlb=1"


def _with_transparent_huge_pages() -> None:
    """Restart this process with glibc backing large allocations by transparent huge pages.

    Much of an argon2 verify at the default cost is page faults on its 64 MiB buffer, which huge
    pages avoid (figures in bench/RESULTS.md, "argon2 and huge pages"). glibc reads the tunable only
    at process start, hence the re-exec. An operator's own GLIBC_TUNABLES mentioning
    glibc.malloc.hugetlb (=0 to turn it off) is left alone, and so is a libc that is not glibc.
    """
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables or platform.libc_ver()[0] != "glibc":
        return
    env = {**os.environ, "GLIBC_TUNABLES": ":".join(t for t in (tunables, HUGE_PAGES) if t)}
    script = sys.argv[0]
    # Re-executing this very program with its own arguments: no shell, nothing from outside.
    if os.path.isfile(script) and os.access(script, os.X_OK):  # the console script: keep its name
        os.execve(script, sys.argv, env)  # noqa: S606
    os.execve(sys.executable, [sys.executable, "-m", "sessionauth", *sys.argv[1:]], env)  # noqa: S606


def _shared(store: Store) -> Store:
    """`store`, for a command run beside the service: one this process would have to itself
    (the in-memory store) holds nothing the command could act on."""
    if not store.shared:
        raise CommandError(
            "this command needs a store shared with the service; set DATABASE_URL to a "
            "postgresql:// URL",
            status=2,
        )
    return store


def _store_error(store: Store, error: StoreUnavailable | MigrationChanged) -> CommandError:
    """A configuration error (exit 2), or an outage (exit 1), named with its cause."""
    if isinstance(error, MigrationChanged):
        return CommandError(str(error), status=2)
    if isinstance(error, StoreMisconfigured):
        return CommandError(f"configuration error: {store.describe()}: {error.detail}", status=2)
    return CommandError(f"cannot reach {store.describe()}: {error.detail}")


async def _migrate(store: Store) -> int:
    try:
        applied = await store.migrate()
        status = await store.schema_status()
    except (StoreUnavailable, MigrationChanged) as error:
        raise _store_error(store, error) from None
    log.info("migrations applied", extra={"applied": applied})
    warn_of_unknown_migrations(status)
    return 0


async def _migration_status(store: Store) -> int:
    try:
        status = await store.schema_status()
    except StoreUnavailable as error:
        raise _store_error(store, error) from None
    for version, state in status.migrations:
        print(f"{state:<8} {version}")
    wrong = status.having(MigrationState.UNKNOWN) + status.having(MigrationState.CHANGED)
    return 1 if wrong else 0


async def _with_store(
    settings: Settings, command: Callable[..., Awaitable[int]], *args: str
) -> int:
    """Run a command against the configured shared store, opened for that command only. The
    schema is looked at first: its connection tells a configuration error from an outage, which
    the pool's do not (to a request, both are 503)."""
    container = build_container(settings)
    store = _shared(container.store())
    try:
        await store.schema_status()
        await store.open()
        return await command(container, *args)
    except StoreUnavailable as error:
        raise _store_error(store, error) from None
    finally:
        await store.close()


async def _purge_expired(container: Container) -> int:
    try:
        purged = await container.purge_expired_sessions().execute()
    except PurgeInProgress:
        # Not a failure: the sessions are being purged, by the instance that holds the lock.
        print("another instance is purging expired sessions now; this one purged nothing")
        return 0
    print(f"purged {purged} sessions")
    return 0


async def _revoke_sessions(container: Container, username: str) -> int:
    try:
        revoked = await container.revoke_user_sessions().execute(username=username)
    except UnknownUser:
        raise CommandError(f"no such user: {username}") from None
    print(f"revoked {revoked} sessions")
    return 0


async def _revoke_all_sessions(container: Container) -> int:
    print(f"revoked {await container.revoke_all_sessions().execute()} sessions")
    return 0


async def _disable_user(container: Container, username: str) -> int:
    with _named_user(username):
        revoked = await container.disable_user().execute(username=username)
    print(f"disabled {username}, revoked {revoked} sessions")
    return 0


async def _enable_user(container: Container, username: str) -> int:
    with _named_user(username):
        await container.enable_user().execute(username=username)
    print(f"enabled {username}")
    return 0


async def _delete_user(container: Container, username: str) -> int:
    with _named_user(username):
        await container.delete_user().execute(username=username)
    print(f"deleted {username}")
    return 0


async def _reset_factors(container: Container, username: str) -> int:
    with _named_user(username):
        revoked = await container.reset_factors().execute(username=username)
    print(f"removed every second factor of {username}, revoked {revoked} sessions")
    return 0


@contextmanager
def _named_user(username: str) -> Iterator[None]:
    try:
        yield
    except UnknownUser:
        raise CommandError(f"no such user: {username}") from None


# The commands that act on one account, named by username: (help, what they run).
ACCOUNT_COMMANDS: dict[str, tuple[str, Callable[[Container, str], Awaitable[int]]]] = {
    "disable-user": ("disable an account and end every session of it", _disable_user),
    "enable-user": ("enable a disabled account", _enable_user),
    "delete-user": ("delete an account with its sessions and data", _delete_user),
    "reset-factors": (
        "remove every second factor of an account (its owner lost them all)",
        _reset_factors,
    ),
}


def _serve(settings: Settings, host: str, port: int, workers: int) -> int:
    if workers < 1:
        raise CommandError("--workers must be at least 1", status=2)
    store = build_store(settings)  # only asked, never opened: each worker opens its own
    if workers > 1 and not store.shared:
        raise CommandError(
            f"--workers above 1 needs DATABASE_URL: each worker would hold {store.describe()} "
            "of its own",
            status=2,
        )
    _log_hash_concurrency(settings)
    asyncio.run(_first_look(store))
    # The store is brought up by each worker (entrypoints/bring_up.py), the port open meanwhile;
    # a worker that finds a configuration error later stops serve through this file.
    with stop_file() as stop:
        # A signal before the server takes the signals over (while it loads the app) still ends
        # serve with the exit status 0 the contract asks for (2 when a worker stopped serve for a
        # configuration error); the server itself returns after its shutdown.
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signal_number, lambda *_: sys.exit(_exit_status(stop)))
        config = ServerConfig(
            "entrypoints.http.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            shutdown_delay=settings.shutdown_delay,
            **server_options(settings),
        )
        with metrics_shared_by_workers(settings, workers):
            serve(config)
        return _exit_status(stop)


async def _first_look(store: Store) -> None:
    """Stop at once, before the port opens, on a configuration error that the store shows now:
    a wrong role or password, a database that does not exist, a malformed URL, an edited
    migration. A store that does not answer within FIRST_LOOK seconds is only logged: serve
    never exits because the store is down."""
    try:
        async with asyncio.timeout(FIRST_LOOK):
            status = await store.schema_status()
    except StoreMisconfigured as error:
        raise _store_error(store, error) from None
    except (StoreUnavailable, TimeoutError) as error:
        cause = error.detail if isinstance(error, StoreUnavailable) else "no answer in time"
        log.warning(
            "%s does not answer at start (%s): serving all the same, /readyz answering 503 "
            "until it is ready",
            store.describe(),
            cause,
            extra={"cause": cause},
        )
        return
    if changed := status.having(MigrationState.CHANGED):
        raise _store_error(store, MigrationChanged(f"{changed[0]}.sql"))


def _exit_status(stop: StopFile) -> int:
    """0, or the status a worker asked for, its message printed as the last line."""
    if (request := stop.request()) is None:
        return 0
    status, message = request
    print(f"sessionauth: configuration error: {message}", file=sys.stderr)
    return status


def _log_hash_concurrency(settings: Settings) -> None:
    """What bounds hashing memory (ARGON2_MEMORY_COST times this, per worker), and why it is so."""
    if "hash_concurrency" in settings.model_fields_set:
        source = "HASH_CONCURRENCY"
    else:
        source = core_limit()[1]
    log.info(
        "hashing %d passwords at once per worker, set by %s",
        settings.hash_concurrency,
        source,
        extra={"hash_concurrency": settings.hash_concurrency, "hash_concurrency_source": source},
    )


@contextmanager
def metrics_shared_by_workers(settings: Settings, workers: int) -> Iterator[None]:
    """With several workers, each is a process with its own counters: they keep them in files in
    one private directory (prometheus_client's multiprocess mode) and whichever worker answers
    /metrics sums them all. The variable is set before the workers start, since prometheus_client
    reads it when first imported; the directory goes when serve exits. An operator's own
    PROMETHEUS_MULTIPROC_DIR is used as it is and left in place. One worker needs none of this."""
    if workers == 1 or not settings.metrics_enabled or settings.prometheus_multiproc_dir:
        yield
        return
    directory = tempfile.mkdtemp(prefix="sessionauth-metrics-")  # mode 0700
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(directory, ignore_errors=True)


def server_options(settings: Settings) -> dict:
    """uvicorn's settings for `serve` (the benchmark serves its baseline app with the same)."""
    return {
        "proxy_headers": False,  # TRUSTED_PROXIES decides whom to believe, not uvicorn
        # Ours is entrypoints/access_log.py; uvicorn's prints each path with its query string.
        "access_log": False,
        "server_header": False,
        "log_config": logging_config(settings.log_level, settings.log_format),
        # Requests in flight when the server stops accepting get this long to finish.
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }


if __name__ == "__main__":
    sys.exit(main())
