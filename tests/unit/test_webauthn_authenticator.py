"""The tests' software WebAuthn authenticator makes what a browser and a real authenticator make:
the `webauthn` library (the one the service will verify with) accepts its registrations and
assertions, and refuses them when a challenge, origin, signature or counter is wrong."""

import secrets

import pytest
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse

from tests.webauthn_authenticator import SoftwareAuthenticator, b64url, b64url_decode

RP_ID = "auth.example"
ORIGIN = "https://auth.example"
USER = b"user-handle-0001"


def registered(authenticator: SoftwareAuthenticator):
    challenge = secrets.token_bytes(32)
    response = authenticator.register(challenge, rp_id=RP_ID, origin=ORIGIN, user_id=USER)
    return verify_registration_response(
        credential=response,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        require_user_verification=True,
    )


def signed_in(authenticator, registration, *, count: int, require_uv: bool = True):
    challenge = secrets.token_bytes(32)
    response = authenticator.assert_(challenge, rp_id=RP_ID, origin=ORIGIN)
    return verify_authentication_response(
        credential=response,
        expected_challenge=challenge,
        expected_rp_id=RP_ID,
        expected_origin=ORIGIN,
        credential_public_key=registration.credential_public_key,
        credential_current_sign_count=count,
        require_user_verification=require_uv,
    )


def test_a_registration_is_accepted_as_a_verified_backed_up_passkey():
    authenticator = SoftwareAuthenticator()
    registration = registered(authenticator)
    [credential] = authenticator.credentials.values()
    assert registration.credential_id == credential.id
    assert registration.user_verified is True
    assert registration.credential_backed_up is True
    assert registration.sign_count == 0
    assert registration.fmt == "none"


def test_a_registration_for_another_challenge_is_refused():
    authenticator = SoftwareAuthenticator()
    response = authenticator.register(
        secrets.token_bytes(32), rp_id=RP_ID, origin=ORIGIN, user_id=USER
    )
    with pytest.raises(InvalidRegistrationResponse):
        verify_registration_response(
            credential=response,
            expected_challenge=secrets.token_bytes(32),
            expected_rp_id=RP_ID,
            expected_origin=ORIGIN,
        )


def test_assertions_are_accepted_with_a_growing_counter_and_the_user_handle():
    authenticator = SoftwareAuthenticator()
    registration = registered(authenticator)
    first = signed_in(authenticator, registration, count=0)
    second = signed_in(authenticator, registration, count=first.new_sign_count)
    assert (first.new_sign_count, second.new_sign_count) == (1, 2)
    assert first.user_verified is True
    assertion = authenticator.assert_(secrets.token_bytes(32), rp_id=RP_ID, origin=ORIGIN)
    assert assertion["response"]["userHandle"] == b64url(USER)  # a passkey names its user


@pytest.mark.parametrize("wrong", ["challenge", "origin", "signature"])
def test_an_assertion_that_does_not_match_is_refused(wrong):
    authenticator = SoftwareAuthenticator()
    registration = registered(authenticator)
    challenge = secrets.token_bytes(32)
    response = authenticator.assert_(challenge, rp_id=RP_ID, origin=ORIGIN)
    expected, origin = challenge, ORIGIN
    if wrong == "challenge":
        expected = secrets.token_bytes(32)
    elif wrong == "origin":
        origin = "https://evil.example"
    else:
        signature = bytearray(b64url_decode(response["response"]["signature"]))
        signature[-1] ^= 0x01
        response["response"]["signature"] = b64url(bytes(signature))
    with pytest.raises(InvalidAuthenticationResponse):
        verify_authentication_response(
            credential=response,
            expected_challenge=expected,
            expected_rp_id=RP_ID,
            expected_origin=origin,
            credential_public_key=registration.credential_public_key,
            credential_current_sign_count=0,
        )


def test_a_clone_presents_a_counter_the_relying_party_has_seen_and_is_refused():
    original = SoftwareAuthenticator()
    registration = registered(original)
    twin = original.clone()
    seen = signed_in(original, registration, count=0).new_sign_count  # 1
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        signed_in(twin, registration, count=seen)  # the twin also says 1


def test_without_user_verification_an_assertion_fails_where_it_is_required():
    authenticator = SoftwareAuthenticator()
    registration = registered(authenticator)
    authenticator.verifies_user = False
    assert signed_in(authenticator, registration, count=0, require_uv=False).user_verified is False
    with pytest.raises(InvalidAuthenticationResponse):
        signed_in(authenticator, registration, count=1, require_uv=True)
