"""The command line: exit statuses and messages as the spec says."""

import pytest

from tests.processes import run_cli


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
