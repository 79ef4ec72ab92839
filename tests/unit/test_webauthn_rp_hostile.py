"""The relying party refuses a hostile registration response as a failed ceremony (400), never
with an exception the HTTP layer would answer 500 with."""

from __future__ import annotations

import secrets
from typing import Any

import cbor2
import pytest

from adapters.webauthn_rp import PyWebAuthnRelyingParty
from domain.errors import CeremonyFailed
from tests.webauthn_authenticator import SoftwareAuthenticator, b64url, b64url_decode

RP_ID, ORIGIN = "auth.example", "https://auth.example"


def relying_party() -> PyWebAuthnRelyingParty:
    return PyWebAuthnRelyingParty(rp_id=RP_ID, rp_name="Example", origins=[ORIGIN])


def registration(challenge: bytes) -> dict[str, Any]:
    return SoftwareAuthenticator().register(challenge, rp_id=RP_ID, origin=ORIGIN, user_id=b"u1")


def with_public_key(credential: dict[str, Any], cose_key: bytes) -> dict[str, Any]:
    """The response with its attested public key replaced (attestation "none" signs nothing)."""
    response = credential["response"]
    attestation = cbor2.loads(b64url_decode(response["attestationObject"]))
    data = attestation["authData"]
    id_length = int.from_bytes(data[53:55], "big")  # rpIdHash, flags, counter, aaguid: 53 bytes
    attestation["authData"] = data[: 55 + id_length] + cose_key
    response["attestationObject"] = b64url(cbor2.dumps(attestation))
    return credential


@pytest.mark.parametrize("cose_key", [cbor2.dumps([1]), cbor2.dumps({}), b"\xff"])
def test_a_public_key_that_is_no_cose_map_is_a_failed_ceremony(cose_key: bytes) -> None:
    challenge = secrets.token_bytes(32)
    credential = with_public_key(registration(challenge), cose_key)
    with pytest.raises(CeremonyFailed):
        relying_party().verify_registration(credential, challenge=challenge)


@pytest.mark.parametrize("transports", [5, 1.5, True, "usb", {"usb": 1}, None, ["usb", 7, "x"]])
def test_transports_of_any_shape_are_only_a_hint(transports: object) -> None:
    challenge = secrets.token_bytes(32)
    credential = registration(challenge)
    credential["response"]["transports"] = transports
    key = relying_party().verify_registration(credential, challenge=challenge)
    assert key.transports == (("usb",) if transports == ["usb", 7, "x"] else ())
