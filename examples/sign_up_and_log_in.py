"""Sign up and log in a user through the application layer against PostgreSQL: no web layer, no
FastAPI, no dependency-injector. The adapters are chosen by hand and the use-cases built with
`build_use_cases`, as any Python program (a command, a worker, an admin task) can do.

    python -m examples.sign_up_and_log_in postgresql://postgres@127.0.0.1:5432/postgres alice
    DATABASE_URL=postgresql://... python -m examples.sign_up_and_log_in alice

The password is read from the terminal, or as one line of standard input. Each step is printed;
the password, its hash and the session token never are. Exit status: 0 done, 1 refused (a
password the policy refuses, wrong credentials, no database), 2 usage.
"""

import argparse
import asyncio
import getpass
import os
import sys
from datetime import timedelta

import argon2

from adapters.argon2_hasher import Argon2PasswordHasher
from adapters.audit_log import LoggingAuditLog
from adapters.email_addresses import EmailValidatorAddresses
from adapters.postgres import PostgresStore, apply_migrations, redacted_dsn
from adapters.secret_box import AesGcmSecretBox
from adapters.system import SecretsTokenGenerator, SystemClock
from adapters.totp import PyotpOneTimePasswords
from adapters.user_agents import UaParserUserAgents
from application import build_use_cases
from domain.device import DeviceCookies
from domain.session import SessionPolicy
from domain.throttle import ThrottlePolicy
from domain.user import PasswordPolicy
from sessionauth import (
    DomainError,
    NotAuthenticated,
    StoreUnavailable,
    UsernameTaken,
)


async def sign_up_and_log_in(dsn: str, username: str, password: str) -> None:
    applied = await apply_migrations(dsn)  # under an advisory lock; nothing to do the second time
    print(f"schema: {'applied ' + ', '.join(applied) if applied else 'up to date'}")

    # The adapters: technology behind each port of domain/ports.py.
    store = PostgresStore(dsn)
    hasher = Argon2PasswordHasher(  # the service's ARGON2_* variables, argon2-cffi's defaults
        time_cost=int(os.environ.get("ARGON2_TIME_COST", argon2.DEFAULT_TIME_COST)),
        memory_cost=int(os.environ.get("ARGON2_MEMORY_COST", argon2.DEFAULT_MEMORY_COST)),
        parallelism=int(os.environ.get("ARGON2_PARALLELISM", argon2.DEFAULT_PARALLELISM)),
    )
    clock, tokens, audit = SystemClock(), SecretsTokenGenerator(), LoggingAuditLog()

    # The use-cases, built in one call from the ports and the rules (plain domain values; the
    # service reads them from its settings). Each has one `execute`.
    use_cases = build_use_cases(
        store=store,
        hasher=hasher,
        clock=clock,
        tokens=tokens,
        audit=audit,
        devices=DeviceCookies(store, ttl=timedelta(days=90)),  # signing key kept in the store
        session_policy=SessionPolicy.from_seconds(idle=30 * 60, absolute=8 * 3600),
        password_policy=PasswordPolicy(),
        throttle_policy=ThrottlePolicy(
            window=timedelta(minutes=15),
            login_per_address=10,
            login_per_account=50,
            login_per_device=10,
            signup_per_address=20,
            failures_per_address=100,
        ),
        email_addresses=EmailValidatorAddresses(),  # checks addresses given at sign-up
        user_agents=UaParserUserAgents(),  # names browsers in notices and session lists
        otp=PyotpOneTimePasswords(),  # TOTP codes (RFC 6238) for accounts that enrol an app
        box=AesGcmSecretBox(store.sealing_key),  # seals TOTP secrets, with the store's key
        # no `composer`: mail is off here (MAIL_URL unset); sign-up still accepts an address
    )
    sign_up, login = use_cases.sign_up, use_cases.login
    resolve, logout = use_cases.resolve_session, use_cases.logout

    await store.open()
    try:
        try:
            user = await sign_up.execute(username=username, password=password)
            print(f"signed up {user.username.display} (user id {user.id})")
        except UsernameTaken:
            print(f"{username} is already signed up; logging in")

        result = await login.execute(username=username, password=password)
        print(
            f"logged in: session {result.session.id}, ends by {result.session.expires_at:%Y-%m-%d %H:%M} UTC"
        )

        # What a web layer does with the cookie on every request; here the token never leaves
        # this process.
        current = await resolve.execute(token=result.token)
        print(f"the session authenticates {current.user.username.display}")

        await logout.execute(current=current)
        try:
            await resolve.execute(token=result.token)
        except NotAuthenticated:
            print("logged out: the session no longer authenticates anyone")
    finally:
        await store.close()
        hasher.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m examples.sign_up_and_log_in", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("database_url", nargs="?", help="postgresql://...; default: DATABASE_URL")
    parser.add_argument("username")
    args = parser.parse_args(argv)
    dsn = args.database_url or os.environ.get("DATABASE_URL")
    if not dsn:
        print("give a database URL, or set DATABASE_URL", file=sys.stderr)
        return 2
    password = getpass.getpass() if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    try:
        asyncio.run(sign_up_and_log_in(dsn, args.username, password))
    except StoreUnavailable:
        print(f"cannot reach PostgreSQL at {redacted_dsn(dsn)}", file=sys.stderr)
        return 1
    except DomainError as error:  # messages never hold a secret: policy refusals, bad credentials
        print(f"refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
