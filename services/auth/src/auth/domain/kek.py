"""Key-encryption keys as settings give them: `id:key` entries, the key 32 bytes in URL-safe
base64, separated by commas or newlines; the first is the one new secrets are sealed under, the
others only open what they sealed before (a rotation of the key-encryption key adds the new one
first, runs `python -m auth rewrap-keys`, then drops the old one).

    AUTH_KEY_ENCRYPTION_KEYS="2026-12:<44 characters>,2026-06:<44 characters>"

Errors never repeat key material."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets

KEY_BYTES = 32
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

# Development only (settings refuse it in production): a key everyone can read in this file,
# so that development keeps working without a secret; production names its own.
DEVELOPMENT_KEY_ID = "development-only"
DEVELOPMENT_KEYS = (
    f"{DEVELOPMENT_KEY_ID}:"
    + base64.urlsafe_b64encode(
        hashlib.sha256(b"cardstream development key-encryption key, public").digest()
    ).decode()
)


def new_key() -> str:
    """A fresh key, as the value part of an entry."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def parse_keys(text: str) -> dict[str, bytes]:
    """The keys in order, the current one first. Lines starting with # are comments."""
    keys: dict[str, bytes] = {}
    entries = [
        entry.strip()
        for line in text.splitlines()
        if not line.strip().startswith("#")
        for entry in line.split(",")
    ]
    for number, entry in enumerate((e for e in entries if e), start=1):
        key_id, colon, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not colon or not _ID.match(key_id):
            raise ValueError(
                f"key-encryption key {number}: write it as id:key, the id of letters, digits, "
                "'.', '_' or '-' (at most 64)"
            )
        if key_id in keys:
            raise ValueError(f"key-encryption key {key_id!r} is given twice")
        try:
            key = base64.urlsafe_b64decode(encoded.strip().encode())
        except (binascii.Error, ValueError):
            raise ValueError(f"key-encryption key {key_id!r} is not base64") from None
        if len(key) != KEY_BYTES:
            raise ValueError(f"key-encryption key {key_id!r} must be {KEY_BYTES} bytes")
        keys[key_id] = key
    if not keys:
        raise ValueError("no key-encryption key given")
    return keys
