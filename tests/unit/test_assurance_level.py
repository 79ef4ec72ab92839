"""A session's assurance level from the methods that reached it (spec: "Assurance level")."""

import pytest

from domain.session import AuthMethod

P, T, R, W, K = (
    AuthMethod.PASSWORD,
    AuthMethod.TOTP,
    AuthMethod.RECOVERY_CODE,
    AuthMethod.WEBAUTHN,
    AuthMethod.PASSKEY,
)


@pytest.mark.parametrize(
    ("methods", "aal"),
    [(P, 1), (P | T, 2), (P | R, 2), (P | W, 2), (K, 2), (K | W, 2), (T, 1), (W, 1), (R | T, 1)],
)
def test_two_factors_or_a_passkey_make_level_two(methods, aal):
    assert methods.aal == aal


def test_every_combination_has_a_level():
    for value in range(32):
        assert AuthMethod(value).aal in (1, 2)
