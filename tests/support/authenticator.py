"""A software WebAuthn authenticator for tests that do not drive a browser: it makes the same
registration and assertion responses a browser hands the page (attestation "none"), from a
key derived from a fixed seed, so every run signs the same bytes with EdDSA (and ES256 with
RFC 6979 deterministic signatures). The browser test uses Chromium's own virtual authenticator.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

EDDSA, ES256 = -8, -7
FLAGS_UP, FLAGS_UV, FLAGS_AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


@dataclass
class SoftAuthenticator:
    seed: bytes
    rp_id: str
    origin: str
    algorithm: int = EDDSA
    counter: int = 0
    user_verified: bool = True
    credential_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.credential_id = hashlib.sha256(b"credential" + self.seed).digest()[:16]

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def _private(self) -> Ed25519PrivateKey | ec.EllipticCurvePrivateKey:
        digest = hashlib.sha256(self.seed).digest()
        if self.algorithm == EDDSA:
            return Ed25519PrivateKey.from_private_bytes(digest)
        return ec.derive_private_key(int.from_bytes(digest, "big"), ec.SECP256R1())

    def cose_key(self) -> bytes:
        public = self._private().public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            numbers = public.public_numbers()
            x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
            return cbor2.dumps({1: 2, 3: ES256, -1: 1, -2: x, -3: y})
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return cbor2.dumps({1: 1, 3: EDDSA, -1: 6, -2: raw})

    def spki_pem(self) -> str:
        return (
            self._private()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    def _flags(self, extra: int = 0) -> int:
        return FLAGS_UP | (FLAGS_UV if self.user_verified else 0) | extra

    def _client_data(self, kind: str, challenge: bytes, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": b64url(challenge), "origin": origin or self.origin},
            separators=(",", ":"),
        ).encode()

    def sign(self, data: bytes) -> bytes:
        private = self._private()
        if isinstance(private, ec.EllipticCurvePrivateKey):
            return private.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        return private.sign(data)

    def registration(self, challenge: bytes) -> str:
        """The browser's answer to navigator.credentials.create, as JSON."""
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        attested = (
            bytes(16)
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self.cose_key()
        )
        auth_data = (
            rp_hash + bytes([self._flags(FLAGS_AT)]) + self.counter.to_bytes(4, "big") + attested
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps(
            {
                "id": self.id,
                "rawId": self.id,
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(self._client_data("webauthn.create", challenge, None)),
                    "attestationObject": b64url(attestation),
                    "transports": ["internal"],
                },
                "clientExtensionResults": {},
            }
        )

    def assertion_parts(
        self, challenge: bytes, *, origin: str | None = None, rp_id: str | None = None
    ) -> tuple[bytes, bytes, bytes]:
        """(authenticator data, client data JSON, signature) of one assertion; the counter goes up."""
        self.counter += 1
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        auth_data = rp_hash + bytes([self._flags()]) + self.counter.to_bytes(4, "big")
        client_data = self._client_data("webauthn.get", challenge, origin)
        signature = self.sign(auth_data + hashlib.sha256(client_data).digest())
        return auth_data, client_data, signature

    def assertion(self, challenge: bytes, **options: str) -> str:
        """The browser's answer to navigator.credentials.get, as JSON."""
        auth_data, client_data, signature = self.assertion_parts(challenge, **options)
        return json.dumps(
            {
                "id": self.id,
                "rawId": self.id,
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature),
                },
                "clientExtensionResults": {},
            }
        )
