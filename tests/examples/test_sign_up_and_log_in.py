"""examples/sign_up_and_log_in.py as its users run it: a process of its own against a fresh
Postgres database, with no web layer."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.constants import PASSWORD
from tests.processes import CHEAP_ARGON2, free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # what a session token looks like


def run_script(
    *args: str, password: str = PASSWORD, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | CHEAP_ARGON2 | env
    return subprocess.run(
        [sys.executable, "-m", "examples.sign_up_and_log_in", *args],
        input=password + "\n",
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def fetch(url: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return await connection.fetch(query)
    finally:
        await connection.close()


def assert_no_secret(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    output = result.stdout + result.stderr
    for secret in (PASSWORD, *secrets):
        assert secret not in output
    assert TOKEN_SHAPE.search(output) is None


@pytest.fixture(scope="module")
def first_run(database_url: str) -> subprocess.CompletedProcess[str]:
    """The script on a database that has no schema yet: it migrates, then signs up Alice."""
    return run_script(database_url, "Alice")


def test_migrates_signs_up_logs_in_and_out(first_run, database_url):
    assert first_run.returncode == 0, first_run.stderr
    lines = first_run.stdout.splitlines()
    assert lines[0].startswith("schema: applied 0001_initial")
    assert re.fullmatch(r"signed up Alice \(user id [0-9a-f-]{36}\)", lines[1])
    assert re.fullmatch(r"logged in: session [0-9a-f-]{36}, ends by .* UTC", lines[2])
    assert lines[3:] == [
        "the session authenticates Alice",
        "logged out: the session no longer authenticates anyone",
    ]

    users = asyncio.run(
        fetch(database_url, "SELECT id::text AS id, username, password_hash FROM users")
    )
    assert [(u["username"], u["id"] in lines[1]) for u in users] == [("Alice", True)]
    assert users[0]["password_hash"].startswith("$argon2id$")
    assert asyncio.run(fetch(database_url, "SELECT id FROM sessions")) == []  # logged out: gone
    assert_no_secret(first_run, users[0]["password_hash"])


def test_a_second_run_logs_the_existing_user_in(first_run, database_url):
    result = run_script("alice", DATABASE_URL=database_url)  # the URL from the environment
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "schema: up to date",
        "alice is already signed up; logging in",
    ]
    assert (
        result.stdout.splitlines()[-1] == "logged out: the session no longer authenticates anyone"
    )
    assert len(asyncio.run(fetch(database_url, "SELECT id FROM users"))) == 1
    assert_no_secret(result)


def test_a_wrong_password_is_refused(first_run, database_url):
    result = run_script(database_url, "alice", password="not the right password")
    assert result.returncode == 1
    assert result.stderr.strip() == "refused: Invalid credentials"
    assert "logged in" not in result.stdout
    assert asyncio.run(fetch(database_url, "SELECT id FROM sessions")) == []
    assert_no_secret(result, "not the right password")


def test_a_password_the_policy_refuses_creates_no_user(first_run, database_url):
    result = run_script(database_url, "bob", password="password123")
    assert result.returncode == 1
    assert result.stderr.startswith("refused: ")
    assert [
        u["username"] for u in asyncio.run(fetch(database_url, "SELECT username FROM users"))
    ] == ["Alice"]


def test_an_unreachable_database_is_named_without_its_password():
    result = run_script(
        f"postgresql://someone:hunter2hunter2@127.0.0.1:{free_port()}/nowhere", "alice"
    )
    assert result.returncode == 1
    assert "cannot reach PostgreSQL at postgresql://someone:***@127.0.0.1:" in result.stderr
    assert "hunter2hunter2" not in result.stdout + result.stderr


def test_no_database_url_is_a_usage_error():
    result = run_script("alice")
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


def test_a_schema_of_its_own_keeps_its_tables_apart(first_run, database_url):
    """What docs/embedding.md advises for a database the application shares: `?search_path=<schema>`
    (asyncpg passes it to the server), so `users` and `sessions` cannot meet the app's own."""
    asyncio.run(fetch(database_url, "CREATE SCHEMA sessionauth_only"))
    result = run_script(f"{database_url}?search_path=sessionauth_only", "carol")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("schema: applied 0001_initial")
    assert [
        r["username"]
        for r in asyncio.run(fetch(database_url, "SELECT username FROM sessionauth_only.users"))
    ] == ["carol"]
    assert [
        r["username"] for r in asyncio.run(fetch(database_url, "SELECT username FROM public.users"))
    ] == ["Alice"]
