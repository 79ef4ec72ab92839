"""Property tests of the domain rules (hypothesis)."""

import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidUsername
from domain.session import Session, SessionPolicy, hash_token
from domain.user import Username, normalize_password

settings.register_profile("sessionauth", derandomize=True, max_examples=300, deadline=None)
settings.load_profile("sessionauth")

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=70
)
latin_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@+",
    min_size=3,
    max_size=64,
)
INVISIBLE = [
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",
    "\u00ad",
    "\u180e",
    "\u3164",
    "\ufe0f",
]
# Cyrillic and Greek letters that look like Latin ones
LOOKALIKES = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і"}


def parsed(raw: str) -> Username | None:
    try:
        return Username.parse(raw)
    except InvalidUsername:
        return None


@given(names)
def test_canonicalisation_is_idempotent(raw):
    name = parsed(raw)
    if name is not None:
        again = Username.parse(name.display)
        assert again == name
        assert Username.parse(name.canonical).canonical == name.canonical


@given(latin_names)
def test_case_and_compatibility_forms_are_one_account(raw):
    name = Username.parse(raw)
    for variant in (raw.upper(), raw.lower(), raw.swapcase(), unicodedata.normalize("NFKD", raw)):
        assert Username.parse(variant).canonical == name.canonical
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in raw)
    assert Username.parse(fullwidth).canonical == name.canonical


@given(latin_names, st.sampled_from(INVISIBLE), st.integers(min_value=0, max_value=64))
def test_an_invisible_character_is_refused_never_a_second_account(raw, invisible, position):
    at = position % (len(raw) + 1)
    variant = raw[:at] + invisible + raw[at:]
    other = parsed(variant)
    assert other is None or other.canonical == Username.parse(raw).canonical


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=30), st.data())
def test_a_mixed_script_lookalike_is_refused(raw, data):
    spots = [i for i, c in enumerate(raw) if c in LOOKALIKES]
    if not spots:
        return
    i = data.draw(st.sampled_from(spots))
    with pytest.raises(InvalidUsername):
        Username.parse(raw[:i] + LOOKALIKES[raw[i]] + raw[i + 1 :])


@given(st.text(min_size=8, max_size=60))
def test_a_password_and_its_nfkc_form_are_the_same_password(raw):
    assert normalize_password(raw) == normalize_password(unicodedata.normalize("NFKC", raw))
    assert normalize_password(unicodedata.normalize("NFKD", raw)) == normalize_password(raw)


T0 = datetime(2026, 1, 1, tzinfo=UTC)


@given(
    idle=st.integers(min_value=1, max_value=10_000),
    absolute=st.integers(min_value=1, max_value=50_000),
    uses=st.lists(st.integers(min_value=0, max_value=20_000), max_size=40),
)
def test_no_sequence_of_uses_extends_a_session_past_its_absolute_deadline(idle, absolute, uses):
    policy = SessionPolicy.from_seconds(idle, absolute)
    session = Session("s", "u", hash_token("t" * 43), T0, T0, policy.absolute_deadline(T0))
    now = T0
    for gap in uses:
        now += timedelta(seconds=gap)
        if policy.is_expired(session, now):
            assert now >= session.expires_at or now >= session.last_seen_at + policy.idle_timeout
            break
        assert now < T0 + timedelta(seconds=absolute)
        if policy.needs_touch(session, now):
            session = replace(session, last_seen_at=now)
    assert policy.ends_at(session) <= T0 + timedelta(seconds=absolute)
