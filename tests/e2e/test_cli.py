"""The command line: exit statuses and messages as the spec says."""

import re
import time
from importlib.metadata import version

import httpx
import pytest

from adapters.postgres.migrate import migrations
from tests.postgres_provider import fresh_database, sql
from tests.processes import run_cli, serving

FUTURE = "9999_from_a_newer_version"


def test_migrate_applies_then_finds_nothing_to_do(database_url):
    first = run_cli("migrate", DATABASE_URL=database_url)
    assert first.returncode == 0, first.stderr
    again = run_cli("migrate", DATABASE_URL=database_url)
    assert again.returncode == 0, again.stderr


def test_purge_expired_prints_its_count(migrated_database_url):
    result = run_cli("purge-expired", DATABASE_URL=migrated_database_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "purged 0 sessions"


@pytest.mark.parametrize("database_url", [None, "memory:"], ids=["unset", "memory"])
@pytest.mark.parametrize("command", ["migrate", "purge-expired"])
def test_database_commands_need_a_database_url(command, database_url):
    result = run_cli(command, **({"DATABASE_URL": database_url} if database_url else {}))
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


@pytest.mark.parametrize("database_url", [None, "memory:"], ids=["unset", "memory"])
def test_several_workers_on_the_memory_store_are_refused(database_url):
    result = run_cli(
        "serve", "--workers", "2", **({"DATABASE_URL": database_url} if database_url else {})
    )
    assert result.returncode == 2
    assert "--workers" in result.stderr


# Every setting of the spec's table (and the implementer's own), each with values it must refuse.
BAD_SETTINGS = [
    ("DATABASE_URL", "mysql://user:hunter2@db/x"),
    ("DATABASE_URL", "hunter2"),
    ("DATABASE_URL_REQUIRED", "perhaps"),
    ("SESSION_COOKIE_NAME", "semi;colon"),
    ("SESSION_COOKIE_NAME", "with space"),
    ("SESSION_COOKIE_SECURE", "maybe"),
    ("SESSION_COOKIE_SAMESITE", "none"),
    ("SESSION_COOKIE_SAMESITE", "sometimes"),
    ("SESSION_COOKIE_DOMAIN", "exa;mple.com"),
    ("SESSION_IDLE_TIMEOUT", "soon"),
    ("SESSION_IDLE_TIMEOUT", "0"),
    ("SESSION_ABSOLUTE_TIMEOUT", "-5"),
    ("TRUSTED_ORIGINS", "example.com"),
    ("TRUSTED_ORIGINS", "https://ok.example, ftp://x"),
    ("TRUSTED_PROXIES", "10.0.0.0/33"),
    ("TRUSTED_PROXIES", "not-an-address"),
    ("ARGON2_TIME_COST", "zero"),
    ("ARGON2_TIME_COST", "0"),
    ("ARGON2_MEMORY_COST", "1"),
    ("ARGON2_PARALLELISM", "0"),
    ("LOG_LEVEL", "loud"),
    ("LOG_FORMAT", "xml"),
    ("METRICS_ENABLED", "perhaps"),
    ("THROTTLE_WINDOW", "0"),
    ("THROTTLE_LOGIN_PER_ADDRESS", "-1"),
    ("THROTTLE_LOGIN_PER_ACCOUNT", "many"),
    ("THROTTLE_LOGIN_PER_DEVICE", "1.5"),
    ("THROTTLE_SIGNUP_PER_ADDRESS", "-3"),
    ("THROTTLE_FAILURES_PER_ADDRESS", "-1"),
    ("DEVICE_COOKIE_TTL", "3600"),
    ("DEVICE_COOKIE_KEY", "short"),
    ("HASH_CONCURRENCY", "0"),
    ("HASH_QUEUE_SIZE", "-1"),
    ("HASH_QUEUE_TIMEOUT", "0"),
    ("HASH_SHARE_PER_ADDRESS", "some"),
    ("DATABASE_POOL_SIZE", "0"),
    ("DATABASE_TIMEOUT", "never"),
    ("SESSION_CACHE", "sometimes"),
    ("PURGE_INTERVAL", "-1"),
    ("SHUTDOWN_DELAY", "-1"),
    ("SHUTDOWN_DELAY", "soon"),
    ("SHUTDOWN_TIMEOUT", "-1"),
    ("PROMETHEUS_MULTIPROC_DIR", "/nonexistent/hunter2"),
    ("PROMETHEUS_MULTIPROC_DIR", ""),
]


@pytest.mark.parametrize(("variable", "value"), BAD_SETTINGS)
def test_an_invalid_setting_stops_serve_with_status_2_naming_it(variable, value):
    result = run_cli("serve", **{variable: value})
    assert result.returncode == 2, result.stderr
    assert variable in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_a_host_prefixed_cookie_over_http_is_refused_at_start():
    result = run_cli("serve", SESSION_COOKIE_NAME="__Host-sid", SESSION_COOKIE_SECURE="false")
    assert result.returncode == 2 and "SESSION_COOKIE_NAME" in result.stderr


def test_an_unreachable_database_fails_migrate_with_status_1_without_the_password():
    result = run_cli("migrate", DATABASE_URL="postgresql://app:hunter2@127.0.0.1:9/nowhere")
    assert result.returncode == 1
    assert "hunter2" not in result.stderr + result.stdout


def test_version_prints_the_installed_distributions_version():
    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"sessionauth {version('sessionauth')}"


@pytest.fixture
def empty_database_url(postgres_server_url):
    with fresh_database(postgres_server_url) as url:
        yield url


def status_lines(result) -> list[tuple[str, str]]:
    return [tuple(line.split()) for line in result.stdout.splitlines()]


def test_migrate_status_shows_pending_then_applied_and_changes_nothing(empty_database_url):
    shipped = [v for v, _ in migrations()]
    before = run_cli("migrate", "--status", DATABASE_URL=empty_database_url)
    assert before.returncode == 0, before.stderr
    assert status_lines(before) == [("pending", v) for v in shipped]
    assert run_cli("migrate", "--status", DATABASE_URL=empty_database_url).stdout == before.stdout

    assert run_cli("migrate", DATABASE_URL=empty_database_url).returncode == 0
    after = run_cli("migrate", "--status", DATABASE_URL=empty_database_url)
    assert after.returncode == 0, after.stderr
    assert status_lines(after) == [("applied", v) for v in shipped]


def test_migrate_status_exits_1_on_a_migration_this_version_does_not_know(empty_database_url):
    assert run_cli("migrate", DATABASE_URL=empty_database_url).returncode == 0
    sql(empty_database_url, "INSERT INTO schema_migrations (version) VALUES ($1)", FUTURE)

    result = run_cli("migrate", "--status", DATABASE_URL=empty_database_url)
    assert result.returncode == 1
    assert status_lines(result)[-1] == ("unknown", FUTURE)
    # migrate itself goes on: an older version tolerates the newer schema.
    assert run_cli("migrate", DATABASE_URL=empty_database_url).returncode == 0


@pytest.mark.parametrize("database_url", [None, "memory:"], ids=["unset", "memory"])
def test_migrate_status_needs_a_database_url(database_url):
    result = run_cli(
        "migrate", "--status", **({"DATABASE_URL": database_url} if database_url else {})
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


@pytest.mark.parametrize("command", [("migrate",), ("serve", "--port", "0")])
def test_an_applied_migration_whose_file_changed_stops_migrate_and_serve(
    empty_database_url, command
):
    assert run_cli("migrate", DATABASE_URL=empty_database_url).returncode == 0
    # The database's record of a file other than the one shipped: what editing it looks like.
    sql(
        empty_database_url,
        "UPDATE schema_migrations SET checksum = repeat('0', 64) "
        "WHERE version = '0003_revocation_notify'",
    )

    result = run_cli(*command, DATABASE_URL=empty_database_url)
    assert result.returncode == 2
    assert "0003_revocation_notify.sql" in result.stderr
    status = run_cli("migrate", "--status", DATABASE_URL=empty_database_url)
    assert ("changed", "0003_revocation_notify") in status_lines(status)
    assert status.returncode == 1


def test_serve_on_a_newer_schema_logs_it_serves_and_exports_it(empty_database_url):
    assert run_cli("migrate", DATABASE_URL=empty_database_url).returncode == 0
    sql(empty_database_url, "INSERT INTO schema_migrations (version) VALUES ($1)", FUTURE)

    with serving(DATABASE_URL=empty_database_url) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert "migrations this version does not know" in server.output()
        assert FUTURE in server.output()
        # The schema is looked at beside serving, not before: wait for it, within a generous bound.
        deadline = time.monotonic() + 30
        while FUTURE not in (metrics := httpx.get(f"{server.url}/metrics").text):
            assert time.monotonic() < deadline, metrics
            time.sleep(0.1)
    info = re.search(r"^sessionauth_build_info\{(.*)\} 1\.0$", metrics, re.MULTILINE)
    assert info is not None, metrics
    assert f'version="{version("sessionauth")}"' in info.group(1)
    assert f'schema_version="{FUTURE}"' in info.group(1)
    assert re.search(r"^sessionauth_unknown_migrations 1\.0$", metrics, re.MULTILINE), metrics
