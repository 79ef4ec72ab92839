"""Settings that would silently lose data or oversize a container are refused or corrected at
start: an unset DATABASE_URL where one is required, a variable that is a typo of a setting, an idle
timeout past the absolute one, and a hashing concurrency above the cgroup's CPU quota."""

import os

import pytest

from entrypoints import settings as settings_module
from entrypoints.settings import (
    CPU_MAX_VARIABLE,
    ConfigError,
    Settings,
    core_limit,
    load_settings,
    parse_cpu_max,
    refuse_unknown_variables,
    setting_prefixes,
    unknown_variables,
)

SECRET = "hunter2-not-to-be-echoed"


# --- DATABASE_URL required (the container image) ---


def test_a_required_database_url_that_is_unset_is_refused_naming_memory_as_the_way_out():
    with pytest.raises(ConfigError) as refused:
        load_settings(database_url_required=True, database_url=None)
    assert str(refused.value).startswith("DATABASE_URL: must be set")
    assert "memory:" in str(refused.value)


@pytest.mark.parametrize("url", ["memory:", "postgresql://db/auth"])
def test_a_required_database_url_may_ask_for_memory_or_postgres(url):
    assert load_settings(database_url_required=True, database_url=url).database_url == url


def test_outside_the_image_an_unset_database_url_is_still_the_memory_store():
    assert load_settings(database_url=None).database_url is None


# --- timeouts ---


def test_an_idle_timeout_longer_than_the_absolute_one_is_refused_naming_both():
    with pytest.raises(ConfigError) as refused:
        load_settings(session_idle_timeout=7200, session_absolute_timeout=3600)
    assert "SESSION_IDLE_TIMEOUT" in str(refused.value)
    assert "SESSION_ABSOLUTE_TIMEOUT" in str(refused.value)


def test_an_idle_timeout_equal_to_the_absolute_one_is_accepted():
    settings = load_settings(session_idle_timeout=3600, session_absolute_timeout=3600)
    assert settings.session_idle_timeout == settings.session_absolute_timeout


# --- unknown variables ---


def test_prefixes_come_from_the_settings_own_names():
    prefixes = setting_prefixes()
    for field in Settings.model_fields:
        if field != "prometheus_multiproc_dir":
            assert field.upper().startswith(prefixes), field
    assert "PROMETHEUS_" not in prefixes  # prometheus_client's namespace


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("SESSION_COOKIE_SECUR", "SESSION_COOKIE_SECURE"),
        ("DATABASE_ULR", "DATABASE_URL"),
        ("HASH_CONCURENCY", "HASH_CONCURRENCY"),
        ("THROTTLE_WINDOWS", "THROTTLE_WINDOW"),
        ("LOG_LEVL", "LOG_LEVEL"),
        ("ACCESS_LOGS", "ACCESS_LOG"),
        ("session_idle_timout", "SESSION_IDLE_TIMEOUT"),  # settings are read whatever the case
    ],
)
def test_a_typo_of_a_setting_is_refused_naming_it_and_the_closest_setting_not_the_value(
    typo, meant
):
    with pytest.raises(ConfigError) as refused:
        refuse_unknown_variables({typo: SECRET, "PATH": "/usr/bin"})
    assert str(refused.value) == f"{typo}: not a setting; did you mean {meant}?"
    assert SECRET not in str(refused.value)


def test_every_unknown_variable_is_named_at_once():
    messages = unknown_variables({"SESSION_COOKIE_SECUR": "x", "ARGON2_MEMORY": "x"})
    assert [m.split(":")[0] for m in messages] == ["ARGON2_MEMORY", "SESSION_COOKIE_SECUR"]


@pytest.mark.parametrize(
    "variable",
    [
        "SESSION_COOKIE_SECURE",  # ours
        "PROMETHEUS_MULTIPROC_DIR",
        "PROMETHEUS_DISABLE_CREATED_SERIES",  # prometheus_client's namespace
        "SESSION_MANAGER",  # set by desktop sessions
        "DATABASE_SERVICE_HOST",  # Kubernetes service links of a Service named `database`
        "DATABASE_SERVICE_PORT",
        "DATABASE_SERVICE_PORT_POSTGRES",
        "DATABASE_PORT",
        "DATABASE_PORT_5432_TCP",
        "DATABASE_PORT_5432_TCP_ADDR",
        "LOG_DIR",  # LOG_ is everybody's: only a near miss of ours counts
        "LOG_FILE",
        "ACCESS_TOKEN",  # ACCESS_ is everybody's too (cloud credentials, CI tokens)
        "ACCESS_KEY_ID",
        "TEST_DATABASE_URL",  # the test suite's
        "POSTGRES_PASSWORD",  # the postgres image's
        "PGPASSWORD",
        "UVICORN_PORT",
    ],
)
def test_variables_that_others_set_are_not_reported(variable):
    assert unknown_variables({variable: "x"}) == []


def test_an_unknown_name_with_a_service_prefix_and_no_near_setting_is_still_refused():
    assert unknown_variables({"ARGON2_HASH_LENGTH": "x"}) == ["ARGON2_HASH_LENGTH: not a setting"]


# --- HASH_CONCURRENCY and the cgroup CPU quota ---


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("max 100000\n", None),
        ("150000 100000\n", 1.5),
        ("50000 100000", 0.5),
        ("200000 50000", 4.0),
        ("", None),
        ("garbage", None),
        ("0 100000", None),
    ],
)
def test_cpu_max_is_read_as_cpus(text, cpus):
    assert parse_cpu_max(text) == cpus


@pytest.fixture
def thirty_two_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(32)))


@pytest.fixture
def cpu_max(tmp_path, monkeypatch):
    def write(text):
        path = tmp_path / "cpu.max"
        path.write_text(text)
        monkeypatch.setenv(CPU_MAX_VARIABLE, str(path))

    return write


@pytest.mark.parametrize(
    ("quota", "cores", "why"),
    [
        ("max 100000", 32, "the CPU affinity"),
        ("150000 100000", 1, "the cgroup CPU quota"),  # 1.5 CPUs: one hash at a time
        ("50000 100000", 1, "the cgroup CPU quota"),  # at least one
        ("400000 100000", 4, "the cgroup CPU quota"),
        ("6400000 100000", 32, "the CPU affinity"),  # the smaller wins
    ],
)
def test_the_smaller_of_quota_and_affinity_limits_the_cores(
    thirty_two_cores, cpu_max, quota, cores, why
):
    cpu_max(quota)
    assert core_limit() == (cores, why)


def test_hash_concurrency_defaults_to_the_quota_but_an_explicit_value_wins(
    thirty_two_cores, cpu_max
):
    cpu_max("150000 100000")
    assert load_settings().hash_concurrency == 1
    assert load_settings(hash_concurrency=8).hash_concurrency == 8


def test_a_missing_cpu_max_means_no_quota(thirty_two_cores, tmp_path, monkeypatch):
    monkeypatch.setenv(CPU_MAX_VARIABLE, str(tmp_path / "absent"))
    assert core_limit() == (32, "the CPU affinity")


def test_the_quota_of_an_ancestor_cgroup_applies_too(thirty_two_cores, tmp_path, monkeypatch):
    root = tmp_path / "cgroup"
    own = root / "kubepods" / "pod1" / "container"
    own.mkdir(parents=True)
    (own / "cpu.max").write_text("max 100000\n")
    (root / "kubepods" / "pod1" / "cpu.max").write_text("200000 100000\n")
    (root / "kubepods" / "cpu.max").write_text("800000 100000\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("0::/kubepods/pod1/container\n")
    monkeypatch.delenv(CPU_MAX_VARIABLE, raising=False)
    monkeypatch.setattr(settings_module, "CGROUP_ROOT", root)
    monkeypatch.setattr(settings_module, "PROC_SELF_CGROUP", proc)
    assert core_limit() == (2, "the cgroup CPU quota")
