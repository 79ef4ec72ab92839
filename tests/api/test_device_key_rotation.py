"""DEVICE_COOKIE_KEY rotation: a list of keys, the first signs, every one is accepted; a key taken
off the list is retired, and its cookies count as none."""

from datetime import UTC, datetime

import pytest

from entrypoints.container import build_container
from entrypoints.settings import ConfigError, load_settings

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD = "old-key-" + "o" * 32
NEW = "new-key-" + "n" * 32
USER = "5f0c6d3e-1111-4c4c-8888-123456789abc"


def devices(key: str):
    return build_container(load_settings(device_cookie_key=key)).devices()


async def test_a_single_key_still_signs_and_checks():
    cookie = await devices(OLD).issue(USER, "device-1", NOW)
    assert await devices(OLD).device_for(cookie, USER, NOW) == "device-1"
    assert await devices(NEW).device_for(cookie, USER, NOW) is None


async def test_during_a_rotation_cookies_of_both_keys_count_and_new_ones_are_signed_with_the_first():
    rotating = devices(f"{NEW}, {OLD}")
    before = await devices(OLD).issue(USER, "device-1", NOW)
    assert await rotating.device_for(before, USER, NOW) == "device-1"
    after = await rotating.issue(USER, "device-2", NOW)
    assert await devices(NEW).device_for(after, USER, NOW) == "device-2"
    assert await devices(OLD).device_for(after, USER, NOW) is None


async def test_a_cookie_signed_with_a_retired_key_counts_as_none():
    before = await devices(f"{OLD},{NEW}").issue(USER, "device-1", NOW)
    assert await devices(NEW).device_for(before, USER, NOW) is None


@pytest.mark.parametrize("value", [f"{NEW},short-secret-value", f"{NEW},,{OLD}", f"{NEW},"])
def test_every_key_in_the_list_is_checked_and_the_error_names_the_variable_only(value):
    with pytest.raises(ConfigError) as error:
        load_settings(device_cookie_key=value)
    assert "DEVICE_COOKIE_KEY" in str(error.value)
    assert "short-secret-value" not in str(error.value) and NEW not in str(error.value)
