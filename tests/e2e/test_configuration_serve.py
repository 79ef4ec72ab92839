"""A real `sessionauth serve` refuses a configuration that would lose data silently (exit 2 and a
message naming variables, never values) and sizes its hashing to the CPU quota it is given."""

import json

import httpx
import pytest

from tests.processes import run_cli, serving

# What docker/Dockerfile sets for the service (the rest of its ENV is for Python and glibc).
IMAGE_ENV = {"DATABASE_URL_REQUIRED": "true"}


def test_the_image_refuses_to_start_without_a_database_url():
    result = run_cli("serve", **IMAGE_ENV)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("sessionauth: configuration error: DATABASE_URL: must be set")
    assert "memory:" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_image_serves_the_memory_store_when_asked_for_explicitly():
    with serving(DATABASE_URL="memory:", **IMAGE_ENV) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert server.stop() == 0
        assert "nothing persists" in server.output()


def test_the_image_starts_on_postgres(database_url):
    with serving(DATABASE_URL=database_url, **IMAGE_ENV) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert server.stop() == 0


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("SESSION_COOKIE_SECUR", "SESSION_COOKIE_SECURE"),
        ("DATABASE_ULR", "DATABASE_URL"),
        ("LOG_LEVL", "LOG_LEVEL"),
    ],
)
def test_a_mistyped_setting_stops_serve_naming_it_and_the_setting_meant(typo, meant):
    result = run_cli("serve", **{typo: "hunter2"})
    assert result.returncode == 2, result.stderr
    assert f"{typo}: not a setting; did you mean {meant}?" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_variables_other_software_sets_do_not_stop_serve():
    with serving(
        SESSION_MANAGER="local/host:@/tmp/.ICE-unix/1",
        DATABASE_SERVICE_HOST="10.0.0.5",
        DATABASE_PORT="tcp://10.0.0.5:5432",
        LOG_DIR="/var/log/elsewhere",
        PROMETHEUS_DISABLE_CREATED_SERIES="true",
    ) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert server.stop() == 0


def test_an_idle_timeout_longer_than_the_absolute_one_stops_serve_naming_both():
    result = run_cli("serve", SESSION_IDLE_TIMEOUT="7200", SESSION_ABSOLUTE_TIMEOUT="3600")
    assert result.returncode == 2, result.stderr
    assert "SESSION_IDLE_TIMEOUT" in result.stderr
    assert "SESSION_ABSOLUTE_TIMEOUT" in result.stderr


def _hash_concurrency_line(output: str) -> dict:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    (line,) = [line for line in lines if "hash_concurrency" in line]
    return line


def test_serve_hashes_as_many_passwords_at_once_as_the_cgroup_quota_allows(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("50000 100000\n")  # half a CPU, whatever the machine has: one hash
    with serving(SESSIONAUTH_CGROUP_CPU_MAX=str(cpu_max)) as server:
        assert server.stop() == 0
        line = _hash_concurrency_line(server.output())
    assert line["hash_concurrency"] == 1
    assert line["hash_concurrency_source"] == "the cgroup CPU quota"


def test_an_explicit_hash_concurrency_overrides_the_quota(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("50000 100000\n")
    with serving(SESSIONAUTH_CGROUP_CPU_MAX=str(cpu_max), HASH_CONCURRENCY="3") as server:
        assert server.stop() == 0
        line = _hash_concurrency_line(server.output())
    assert line["hash_concurrency"] == 3
    assert line["hash_concurrency_source"] == "HASH_CONCURRENCY"
