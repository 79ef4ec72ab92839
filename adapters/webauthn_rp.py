"""WebAuthn ceremonies on the `webauthn` library (py_webauthn) for one relying party."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from domain.errors import CeremonyFailed
from domain.factors import WebAuthnCredential
from domain.ports import AssertionClaim, RegisteredKey, WebAuthnRelyingParty
from domain.user import User

# What authenticators make: ES256 above all, EdDSA, and RS256 for Windows Hello.
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
TIMEOUT_MS = 120_000  # the browser's own deadline; the challenge lives MFA_PENDING_TTL
_TRANSPORTS = {t.value for t in AuthenticatorTransport}
# What the library raises on a response it cannot parse, besides its own errors: it decodes the
# client's CBOR as it finds it (a COSE key given as a CBOR array is an IndexError), and such a
# response is a refused ceremony (400), not a server error.
_REFUSALS = (WebAuthnException, ValueError, TypeError, KeyError, IndexError, AttributeError)


class PyWebAuthnRelyingParty(WebAuthnRelyingParty):
    def __init__(self, *, rp_id: str, rp_name: str, origins: Sequence[str]) -> None:
        self._rp_id = rp_id
        self._rp_name = rp_name
        self._origins = sorted(origins)

    def registration_options(
        self, *, user: User, challenge: bytes, exclude: Sequence[WebAuthnCredential]
    ) -> dict[str, object]:
        options = generate_registration_options(
            rp_id=self._rp_id,
            rp_name=self._rp_name,
            user_name=user.username.display,
            user_id=user.id.encode(),
            user_display_name=user.username.display,
            challenge=challenge,
            timeout=TIMEOUT_MS,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[_descriptor(c) for c in exclude],
            supported_pub_key_algs=ALGORITHMS,
        )
        return _json(options_to_json(options))

    def verify_registration(
        self, credential: Mapping[str, object], *, challenge: bytes
    ) -> RegisteredKey:
        try:
            verified = verify_registration_response(
                credential=dict(credential),
                expected_challenge=challenge,
                expected_rp_id=self._rp_id,
                expected_origin=self._origins,
                supported_pub_key_algs=ALGORITHMS,
            )
        except _REFUSALS as refused:
            raise CeremonyFailed(_reason(refused)) from None
        response = credential.get("response")
        transports = response.get("transports") if isinstance(response, dict) else None
        if not isinstance(transports, list):
            transports = []  # the client's hint, unverified: anything else is no hint
        return RegisteredKey(
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=tuple(t for t in transports if isinstance(t, str) and t in _TRANSPORTS),
            # A passkey's device type is multi-device (synced); a single-device credential may
            # still be discoverable, which the browser reports as the credProps extension.
            discoverable=_discoverable(credential)
            or verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            backed_up=verified.credential_backed_up,
            user_verified=verified.user_verified,
        )

    def authentication_options(
        self,
        *,
        challenge: bytes,
        allow: Sequence[WebAuthnCredential] | None,
        user_verification: str,
    ) -> dict[str, object]:
        options = generate_authentication_options(
            rp_id=self._rp_id,
            challenge=challenge,
            timeout=TIMEOUT_MS,
            allow_credentials=None if allow is None else [_descriptor(c) for c in allow],
            user_verification=UserVerificationRequirement(user_verification),
        )
        return _json(options_to_json(options))

    def claim(self, credential: Mapping[str, object]) -> AssertionClaim | None:
        try:
            parsed = parse_authentication_credential_json(dict(credential))
        except _REFUSALS:
            return None
        handle = parsed.response.user_handle
        return AssertionClaim(credential_id=parsed.raw_id, user_handle=handle or None)

    def verify_assertion(
        self,
        credential: Mapping[str, object],
        *,
        challenge: bytes,
        stored: WebAuthnCredential,
        require_user_verification: bool,
    ) -> int:
        try:
            verified = verify_authentication_response(
                credential=dict(credential),
                expected_challenge=challenge,
                expected_rp_id=self._rp_id,
                expected_origin=self._origins,
                credential_public_key=stored.public_key,
                credential_current_sign_count=stored.sign_count,
                require_user_verification=require_user_verification,
            )
        except _REFUSALS as refused:
            raise CeremonyFailed(_reason(refused)) from None
        return verified.new_sign_count


def _descriptor(credential: WebAuthnCredential) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=credential.credential_id,
        transports=[AuthenticatorTransport(t) for t in credential.transports if t in _TRANSPORTS],
    )


def _discoverable(credential: Mapping[str, object]) -> bool:
    extensions = credential.get("clientExtensionResults")
    props = extensions.get("credProps") if isinstance(extensions, dict) else None
    return isinstance(props, dict) and props.get("rk") is True


def _json(text: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(text)
    return loaded


def _reason(refused: Exception) -> str:
    """A short reason for the audit log: the library's messages name no secret (challenges and
    origins it expected, counters), but only the kind is kept."""
    message = str(refused).lower()
    if "sign count" in message:
        return "counter"
    if "challenge" in message:
        return "challenge"
    if "origin" in message:
        return "origin"
    if "rp id" in message:
        return "rp_id"
    if "user verification" in message:
        return "user_verification"
    if "signature" in message:
        return "signature"
    return "invalid"
