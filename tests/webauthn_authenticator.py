"""A software WebAuthn authenticator for the tests: an ES256 key pair per credential, and the real
objects a browser hands a relying party (attestation "none" at registration, a signed assertion at
login), built with cbor2 and cryptography by the layouts of the WebAuthn Level 3 specification.

    authenticator = SoftwareAuthenticator()
    credential = authenticator.register(challenge, rp_id="auth.example", origin=..., user_id=...)
    -> the JSON of a PublicKeyCredential, as navigator.credentials.create() gives it
    assertion = authenticator.assert_(challenge, rp_id=..., origin=...)
    -> the JSON of a PublicKeyCredential, as navigator.credentials.get() gives it

Its credentials are discoverable (they keep the user handle), it verifies the user unless told not
to, and it counts signatures; `clone()` makes a second authenticator holding the same keys and
counters, so that a test can present a lower counter than the relying party has seen.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

# Authenticator data flags (WebAuthn Level 3, 6.1).
USER_PRESENT = 0x01
USER_VERIFIED = 0x04
BACKUP_ELIGIBLE = 0x08
BACKED_UP = 0x10
ATTESTED_CREDENTIAL = 0x40
# COSE (RFC 9053): an EC2 key on P-256 for ES256.
COSE_KTY, COSE_ALG, COSE_CRV, COSE_X, COSE_Y = 1, 3, -1, -2, -3
EC2, ES256, P256 = 2, -7, 1


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                COSE_KTY: EC2,
                COSE_ALG: ES256,
                COSE_CRV: P256,
                COSE_X: numbers.x.to_bytes(32, "big"),
                COSE_Y: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass
class SoftwareAuthenticator:
    aaguid: bytes = bytes(16)  # all zeros: an authenticator that does not say what it is
    verifies_user: bool = True
    passkey: bool = True  # backup eligible and backed up, as a synced passkey is
    credentials: dict[bytes, Credential] = field(default_factory=dict)

    def register(
        self, challenge: bytes, *, rp_id: str, origin: str, user_id: bytes
    ) -> dict[str, object]:
        """A new credential for `user_id` on `rp_id`: the registration response's JSON."""
        credential = Credential(
            id=secrets.token_bytes(16),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=user_id,
        )
        self.credentials[credential.id] = credential
        client_data = _client_data("webauthn.create", challenge, origin)
        attested = (
            self.aaguid
            + struct.pack(">H", len(credential.id))
            + credential.id
            + credential.cose_public_key()
        )
        auth_data = self._auth_data(rp_id, ATTESTED_CREDENTIAL, credential.sign_count) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(credential.id),
            "rawId": b64url(credential.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def assert_(
        self,
        challenge: bytes,
        *,
        rp_id: str,
        origin: str,
        credential_id: bytes | None = None,
    ) -> dict[str, object]:
        """A signed assertion with the named credential, or (a passkey login, no username) the
        one this authenticator holds for `rp_id`: the authentication response's JSON."""
        credential = (
            self.credentials[credential_id]
            if credential_id is not None
            else next(c for c in self.credentials.values() if c.rp_id == rp_id)
        )
        credential.sign_count += 1
        client_data = _client_data("webauthn.get", challenge, origin)
        auth_data = self._auth_data(rp_id, 0, credential.sign_count)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = credential.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(credential.id),
            "rawId": b64url(credential.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def clone(self) -> SoftwareAuthenticator:
        """Another authenticator with the same keys and counters (a cloned security key)."""
        twin = copy.copy(self)
        twin.credentials = {
            i: Credential(c.id, c.key, c.rp_id, c.user_handle, c.sign_count)
            for i, c in self.credentials.items()
        }
        return twin

    def _auth_data(self, rp_id: str, extra_flags: int, sign_count: int) -> bytes:
        flags = USER_PRESENT | extra_flags
        if self.verifies_user:
            flags |= USER_VERIFIED
        if self.passkey:
            flags |= BACKUP_ELIGIBLE | BACKED_UP
        rp_id_hash = hashlib.sha256(rp_id.encode("idna")).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", sign_count)


def _client_data(kind: str, challenge: bytes, origin: str) -> bytes:
    return json.dumps(
        {"type": kind, "challenge": b64url(challenge), "origin": origin, "crossOrigin": False},
        separators=(",", ":"),
    ).encode()
