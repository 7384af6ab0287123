"""The key id (`kid`) of an EC public key: the one definition that signers (auth, dev tokens) and
verifiers (`StaticKeys`) share, so a public key exported as PEM verifies what its private half
signed. Pure (no I/O, no aiohttp), so domain code may import it."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey


def key_id(public_key: EllipticCurvePublicKey) -> str:
    """The SHA-256 of the key's DER encoding, shortened."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]
