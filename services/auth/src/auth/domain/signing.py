"""Our signing keys: ES256 key pairs, and the ring of previous, current and next key that
rotation moves along (previous <- current <- next <- a new key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from cardstream_runtime.kid import key_id
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from auth.domain.tokens import ACCESS_TOKEN_TYPE

ALGORITHM = "ES256"


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        private_key = ec.generate_private_key(ec.SECP256R1())
        return cls(key_id(private_key.public_key()), private_key)

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        private_key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise ValueError("a signing key is not an EC private key")
        return cls(key_id(private_key.public_key()), private_key)

    @classmethod
    def from_der(cls, der: bytes) -> SigningKey:
        private_key = serialization.load_der_private_key(der, password=None)
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise ValueError("a signing key is not an EC private key")
        return cls(key_id(private_key.public_key()), private_key)

    def der(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(self.public_key, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims,
            self.private_key,
            algorithm=ALGORITHM,
            headers={"kid": self.kid, "typ": ACCESS_TOKEN_TYPE},
        )


@dataclass(frozen=True, slots=True)
class KeyRing:
    version: int
    previous: SigningKey | None
    current: SigningKey
    next: SigningKey

    def published(self) -> list[SigningKey]:
        return [k for k in (self.current, self.next, self.previous) if k is not None]

    def rotated(self) -> KeyRing:
        return KeyRing(self.version + 1, self.current, self.next, SigningKey.generate())
