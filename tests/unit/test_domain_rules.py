from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.errors import InvalidUsername
from domain.session import Session, SessionPolicy, hash_token
from domain.user import PasswordPolicy, Username

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("raw", "display", "canonical"),
    [
        ("Alice", "Alice", "alice"),
        ("ａｌｉｃｅ", "alice", "alice"),
        ("jürgen", "jürgen", "jürgen"),
        ("Straße", "Straße", "strasse"),
        ("user@example.com", "user@example.com", "user@example.com"),
        ("山田太郎", "山田太郎", "山田太郎"),
        ("やまだ太郎", "やまだ太郎", "やまだ太郎"),
        ("김철수金", "김철수金", "김철수金"),
        ("Ωμέγα", "Ωμέγα", "ωμέγα"),
    ],
)
def test_usernames_keep_their_nfkc_display_and_compare_case_folded(raw, display, canonical):
    name = Username.parse(raw)
    assert (name.display, name.canonical) == (display, canonical)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("ab", "length"),
        ("a" * 65, "length"),
        ("two words", "character"),
        ("nbsp\u00a0x", "character"),
        ("zw\u200bsp", "character"),
        ("soft\u00adhyphen", "character"),
        ("hangul\u3164filler", "character"),
        ("bell\x07", "character"),
        ("colon:name", "character"),
        ("semi;colon", "character"),
        ("emoji😀", "character"),
        ("аlice", "mixed_script"),  # Cyrillic а
        ("pаypal", "mixed_script"),
        ("ΑΒCD", "mixed_script"),  # Greek capitals with Latin
        ("日本한국ひらがな", "mixed_script"),
    ],
)
def test_usernames_breaking_the_input_rules_are_refused(raw, code):
    with pytest.raises(InvalidUsername) as error:
        Username.parse(raw)
    assert error.value.code == code


def test_the_common_password_list_is_zxcvbns(tmp_path):
    import unicodedata

    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    expected = {
        unicodedata.normalize("NFKC", p.casefold())
        for p in FREQUENCY_LISTS["passwords"]
        if len(unicodedata.normalize("NFKC", p.casefold())) >= 8
    }
    lines = (ROOT / "domain" / "common_passwords.txt").read_text("utf-8").splitlines()
    assert {line for line in lines if line and not line.startswith("#")} == expected


def test_password_policy_returns_the_nfkc_form():
    assert PasswordPolicy().check("ｓｔｒｏｎｇ ｅｎｏｕｇｈ") == "strong enough"


def _session(login_at: datetime, policy: SessionPolicy) -> Session:
    return Session(
        id="s",
        user_id="u",
        token_hash=hash_token("t" * 43),
        created_at=login_at,
        last_seen_at=login_at,
        expires_at=policy.absolute_deadline(login_at),
    )


def test_the_idle_deadline_never_passes_the_absolute_one():
    policy = SessionPolicy.from_seconds(idle=600, absolute=900)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    session = _session(t0, policy)
    session = replace(session, last_seen_at=t0 + timedelta(seconds=800))
    assert policy.ends_at(session) == t0 + timedelta(seconds=900)
    assert policy.is_expired(session, t0 + timedelta(seconds=900))
    assert not policy.is_expired(session, t0 + timedelta(seconds=899))


def test_touch_interval_is_a_tenth_of_idle_capped_at_a_minute():
    assert SessionPolicy.from_seconds(100, 1000).touch_interval == timedelta(seconds=10)
    assert SessionPolicy.from_seconds(3600, 7200).touch_interval == timedelta(minutes=1)


def test_timeouts_must_be_positive():
    with pytest.raises(ValueError):
        SessionPolicy.from_seconds(0, 10)
