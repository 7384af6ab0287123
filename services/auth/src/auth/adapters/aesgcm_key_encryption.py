"""`AesGcmKeyEncryption`: the `KeyEncryption` port with the key-encryption keys held by this
process (from `AUTH_KEY_ENCRYPTION_KEYS` or the file `AUTH_KEY_ENCRYPTION_KEYS_FILE` names, never
from the database), sealing with AES-256-GCM. A KMS adapter would implement the same three
members with the provider's Encrypt/Decrypt calls and the context as its encryption context.

A sealed blob is a fresh 96-bit nonce followed by the ciphertext and its tag; the context is the
associated data, so a blob moved to another ring version or slot does not open."""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from auth.ports import KeyDecryptionError, Sealed

NONCE_BYTES = 12


class AesGcmKeyEncryption:
    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise ValueError("no key-encryption key given")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = next(iter(keys))

    @property
    def current(self) -> str:
        return self._current

    async def encrypt(self, plaintext: bytes, *, context: str) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._current].encrypt(nonce, plaintext, context.encode())
        return Sealed(self._current, nonce + sealed)

    async def decrypt(self, sealed: Sealed, *, context: str) -> bytes:
        cipher = self._keys.get(sealed.key_id)
        if cipher is None:
            raise KeyDecryptionError(
                f"sealed under key-encryption key {sealed.key_id!r}, which this process is not "
                "given (AUTH_KEY_ENCRYPTION_KEYS)"
            )
        nonce, body = sealed.blob[:NONCE_BYTES], sealed.blob[NONCE_BYTES:]
        try:
            return cipher.decrypt(nonce, body, context.encode())
        except InvalidTag:
            raise KeyDecryptionError(
                f"a secret sealed under {sealed.key_id!r} does not open as {context!r}: another "
                "key of that name, another place, or altered"
            ) from None
