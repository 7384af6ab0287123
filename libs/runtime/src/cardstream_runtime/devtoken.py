"""Local development tokens until the auth service signs real ones.

    python -m cardstream_runtime.devtoken --key-dir .run/dev-jwt --init
    python -m cardstream_runtime.devtoken --key-dir .run/dev-jwt --sub alice [--name Alice]

The key pair lives in the given folder; services verify with its public half through the very
same `TokenVerifier` production uses. Never used in production mode: nothing reads these keys
unless `*_JWT_PUBLIC_KEY_FILE` points at them.
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cardstream_runtime.jwt import TOKEN_TYPE
from cardstream_runtime.kid import key_id

PRIVATE_FILE = "private.pem"
PUBLIC_FILE = "public.pem"


class DevSigner:
    def __init__(
        self, private_key: ec.EllipticCurvePrivateKey, *, issuer: str, audience: str
    ) -> None:
        self.private_key = private_key
        self.kid = key_id(private_key.public_key())
        self.issuer = issuer
        self.audience = audience

    @classmethod
    def generate(cls, *, issuer: str, audience: str) -> DevSigner:
        return cls(ec.generate_private_key(ec.SECP256R1()), issuer=issuer, audience=audience)

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def token(self, sub: str, *, ttl: int = 600, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(
            payload,
            self.private_key,
            algorithm="ES256",
            headers={"kid": self.kid, "typ": TOKEN_TYPE},
        )


def ensure_keys(key_dir: Path) -> Path:
    """Creates the key pair once; returns the private key's path."""
    key_dir.mkdir(parents=True, exist_ok=True)
    private = key_dir / PRIVATE_FILE
    if not private.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        private.chmod(0o600)
        (key_dir / PUBLIC_FILE).write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private


def load_signer(key_dir: Path, *, issuer: str, audience: str) -> DevSigner:
    key = serialization.load_pem_private_key(ensure_keys(key_dir).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SystemExit(f"{key_dir / PRIVATE_FILE} is not an EC private key")
    return DevSigner(key, issuer=issuer, audience=audience)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--key-dir", type=Path, default=Path(".run/dev-jwt"))
    parser.add_argument("--init", action="store_true", help="only create the key pair")
    parser.add_argument("--sub", default="alice", help="the user id the token is for")
    parser.add_argument("--name")
    parser.add_argument("--email")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds the token is valid")
    parser.add_argument("--issuer", default="cardstream-dev")
    parser.add_argument("--audience", default="cardstream")
    args = parser.parse_args(argv)
    if args.init:
        ensure_keys(args.key_dir)
        return
    signer = load_signer(args.key_dir, issuer=args.issuer, audience=args.audience)
    extra = {k: v for k, v in (("name", args.name), ("email", args.email)) if v}
    print(signer.token(args.sub, ttl=args.ttl, **extra))


if __name__ == "__main__":
    main()
