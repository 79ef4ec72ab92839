"""The command line: exit statuses and messages as the spec says."""

import pytest

from tests.e2e.server import run_cli, serving


def test_migrate_applies_then_finds_nothing_to_do(database_url):
    first = run_cli("migrate", DATABASE_URL=database_url)
    assert first.returncode == 0, first.stderr
    again = run_cli("migrate", DATABASE_URL=database_url)
    assert again.returncode == 0, again.stderr


def test_purge_expired_prints_its_count(migrated_database_url):
    result = run_cli("purge-expired", DATABASE_URL=migrated_database_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "purged 0 sessions"


@pytest.mark.parametrize("command", ["migrate", "purge-expired"])
def test_database_commands_need_a_database_url(command):
    result = run_cli(command)
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


def test_several_workers_on_the_memory_store_are_refused():
    result = run_cli("serve", "--workers", "2")
    assert result.returncode == 2
    assert "--workers" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SESSION_COOKIE_SAMESITE", "none"),
        ("SESSION_COOKIE_SECURE", "maybe"),
        ("SESSION_IDLE_TIMEOUT", "soon"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("DATABASE_URL", "mysql://user:hunter2@db/x"),
    ],
)
def test_an_invalid_setting_stops_serve_with_status_2_naming_it(variable, value):
    result = run_cli("serve", **{variable: value})
    assert result.returncode == 2
    assert variable in result.stderr
    assert "hunter2" not in result.stderr


def test_an_unreachable_database_fails_migrate_with_status_1_without_the_password():
    result = run_cli("migrate", DATABASE_URL="postgresql://app:hunter2@127.0.0.1:9/nowhere")
    assert result.returncode == 1
    assert "hunter2" not in result.stderr + result.stdout
